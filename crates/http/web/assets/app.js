// The fan's pages: sign-in, concerts, the waiting page, the seat map,
// checkout and reservations, as hash routes of one page. docs/API.md is
// the reference for every call made here.

import {
  ApiError,
  formatClock,
  formatDateTime,
  formatSpan,
  formatSpanRange,
  formatTimeOfDay,
  formatWon,
  isTransient,
  newIdempotencyKey,
  request,
  retryDelayMs,
  sessionJson,
} from "./api.js";
import { byId, clearError, clearTransientError, createScope, el, setText, showError } from "./dom.js";

const SESSION_KEY = "boxoffice.session";
const HOLD_KEY = "boxoffice.hold";
const PLACE_KEY_PREFIX = "boxoffice.token.";

const SEAT_REFRESH_MS = 2000;
const SALE_STATE_REFRESH_MS = 5000;
const CLOCK_TICK_MS = 1000;
// A rough guess used when a waiting token's answer names no poll interval.
const DEFAULT_POLL_SECS = 5;
// A refused answer to the bot gate brings a fresh challenge; a few rounds
// cover one that expired while it was being solved.
const MAX_PROOF_OF_WORK_ROUNDS = 3;
// How long to let a token stream end by itself after its final event.
const FINAL_EVENT_GRACE_MS = 1000;
// Digests are started this many at a time so they run side by side
// instead of one await after another.
const PROOF_OF_WORK_BATCH = 256;

const SIGN_IN_FAILURES = new Set(["AUTH_REQUIRED", "AUTH_INVALID", "AUTH_EXPIRED", "CLIENT_ID_REQUIRED"]);
const PASS_REFUSALS = new Set([
  "QUEUE_TOKEN_REQUIRED",
  "QUEUE_TOKEN_INVALID",
  "QUEUE_TOKEN_EXPIRED",
  "QUEUE_TOKEN_NOT_ACTIVE",
  "QUEUE_TOKEN_NOT_YOURS",
  "QUEUE_TOKEN_WRONG_CONCERT",
]);
const TICKET_LOST = new Set(["QUEUE_TOKEN_INVALID", "QUEUE_TOKEN_EXPIRED", "QUEUE_TOKEN_NOT_YOURS"]);
const ROOM_REFUSALS = new Set(["SALE_CLOSED", "SOLD_OUT", "SALE_NOT_OPEN"]);
const FINAL_STATUSES = new Set(["ACTIVE", "EXPIRED"]);
const HOLD_GONE = new Set(["HOLD_EXPIRED", "HOLD_NOT_FOUND", "HOLD_NOT_LIVE", "HOLD_NOT_OWNED"]);

const waitHash = (concertId) => `#/concerts/${concertId}/wait`;
const seatsHash = (concertId) => `#/concerts/${concertId}/seats`;

// ---------------------------------------------------------------- session

/** The signed-in fan, or null. */
function session() {
  const stored = sessionJson.read(SESSION_KEY);
  return stored?.accessToken ? stored : null;
}

function sessionHasExpired(stored) {
  return Boolean(stored.expiresAt) && Date.parse(stored.expiresAt) <= Date.now();
}

/** The claims of a JWT, read without checking it (the service checks it). */
function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

function startSession(accessToken, expiresAt) {
  const { sub } = claimsOf(accessToken);
  sessionJson.write(SESSION_KEY, { accessToken, expiresAt, userId: String(sub) });
  render();
}

function endSession() {
  sessionJson.remove(SESSION_KEY);
}

/** Forgets everything of the fan who signs out: a ticket is useless without its fan. */
function forgetFan() {
  endSession();
  sessionJson.remove(HOLD_KEY);
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(PLACE_KEY_PREFIX)) sessionJson.remove(key);
  }
}

/** A call as the signed-in fan. */
function asFan(method, path, { body, queueToken, idempotencyKey } = {}) {
  const headers = { Authorization: `Bearer ${session()?.accessToken ?? ""}` };
  if (queueToken) headers["Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  return request(method, path, { body, headers });
}

// ------------------------------------------------------ places and holds

// Records carry the fan's id so another fan signing in on the same tab
// never sends them.
const places = {
  read(concertId) {
    const place = sessionJson.read(PLACE_KEY_PREFIX + concertId);
    return place && place.userId === session()?.userId ? place : null;
  },
  write(concertId, place) {
    sessionJson.write(PLACE_KEY_PREFIX + concertId, { ...place, userId: session().userId });
  },
  remove(concertId) {
    sessionJson.remove(PLACE_KEY_PREFIX + concertId);
  },
};

const holds = {
  read() {
    const hold = sessionJson.read(HOLD_KEY);
    return hold && hold.userId === session()?.userId ? hold : null;
  },
  write(hold) {
    sessionJson.write(HOLD_KEY, { ...hold, userId: session().userId });
  },
  remove() {
    sessionJson.remove(HOLD_KEY);
  },
};

/** Keeps what a token answer says about the fan's place. */
function rememberPlace(concertId, view) {
  const known = places.read(concertId);
  const sameTicket = known?.token === view.token;
  const firstPosition = sameTicket && known.firstPosition ? known.firstPosition : view.position;
  places.write(concertId, {
    token: view.token,
    admissionPass: view.admissionPass ?? (sameTicket ? known.admissionPass : null),
    admissionPassExpiresAt: view.admissionPassExpiresAt ?? (sameTicket ? known.admissionPassExpiresAt : null),
    firstPosition: Math.max(firstPosition ?? 0, view.position ?? 0) || null,
  });
  return places.read(concertId);
}

function hasLivePass(place) {
  return Boolean(place?.admissionPass) && Date.parse(place.admissionPassExpiresAt) > Date.now();
}

function liveHold() {
  const hold = holds.read();
  if (hold && Date.parse(hold.expiresAt) <= Date.now()) {
    holds.remove();
    return null;
  }
  return hold;
}

// ----------------------------------------------------------- the catalog

let catalog = null;

async function loadCatalog({ fresh = false } = {}) {
  if (!catalog || fresh) {
    const concerts = await request("GET", "/api/v1/concerts");
    catalog = new Map(concerts.map((concert) => [concert.concertId, concert]));
  }
  return catalog;
}

async function concertTitle(concertId) {
  try {
    return (await loadCatalog()).get(concertId)?.title ?? `Concert ${concertId}`;
  } catch {
    return `Concert ${concertId}`;
  }
}

// ------------------------------------------------------ messages and page

function setBusy(text) {
  setText(byId("busy"), text);
}

/** Shows a failure; a refused sign-in sends the fan back to sign in. */
function fail(error, context) {
  if (SIGN_IN_FAILURES.has(error.code)) {
    endSession();
    goTo(location.hash, error);
    return;
  }
  showError(error, context);
}

async function refreshBalance() {
  try {
    const { balance } = await asFan("GET", "/api/v1/balance");
    setText(byId("balance"), formatWon(balance));
    setText(byId("checkout-balance"), formatWon(balance));
  } catch (error) {
    fail(error);
  }
}

// ---------------------------------------------------------------- router

const ROUTES = [
  { pattern: /^#?\/?$/, show: showConcerts },
  { pattern: /^#\/concerts\/(\d+)\/wait$/, show: (scope, id) => showWaiting(scope, Number(id)) },
  { pattern: /^#\/concerts\/(\d+)\/seats$/, show: (scope, id) => showSeats(scope, Number(id)) },
  { pattern: /^#\/checkout$/, show: showCheckout },
  { pattern: /^#\/reservations$/, show: showReservations },
];

let viewScope = createScope();
let errorAfterNavigation = null;

/** Goes to a route, then shows `error` there. */
function goTo(hash, error = null) {
  errorAfterNavigation = error;
  if (location.hash === hash) render();
  else location.hash = hash;
}

function render() {
  viewScope.end();
  viewScope = createScope();
  clearError();
  setBusy("");
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  const stored = session();
  if (stored && sessionHasExpired(stored)) {
    endSession();
    errorAfterNavigation ??= new ApiError({ code: "AUTH_EXPIRED", status: 401, message: "" });
  }
  if (errorAfterNavigation) showError(errorAfterNavigation);
  errorAfterNavigation = null;
  if (!session()) {
    showSignIn();
    return;
  }
  renderAccount();
  const route = ROUTES.find(({ pattern }) => pattern.test(location.hash));
  if (!route) {
    location.replace("#/");
    return;
  }
  renderHoldBanner();
  route.show(viewScope, ...location.hash.match(route.pattern).slice(1));
}

function showView(id) {
  const view = byId(id);
  view.hidden = false;
  const heading = view.querySelector("h1");
  heading.tabIndex = -1;
  // Moves screen readers and the keyboard to the new view's heading.
  heading.focus({ preventScroll: true });
}

// --------------------------------------------------------------- sign-in

function showSignIn() {
  byId("account").hidden = true;
  byId("hold-banner").hidden = true;
  showView("view-sign-in");
}

async function signInWithUserId(event) {
  event.preventDefault();
  clearError();
  const userId = Number(byId("user-id-input").value);
  try {
    const created = await request("POST", "/api/v1/dev/sessions", { body: { userId } });
    startSession(created.accessToken, created.expiresAt);
  } catch (error) {
    showError(error);
  }
}

async function signInWithToken(event) {
  event.preventDefault();
  clearError();
  const accessToken = byId("access-token-input").value.trim();
  const claims = claimsOf(accessToken);
  if (!claims?.sub) {
    showError(new ApiError({ code: "TOKEN_UNREADABLE", status: 0, message: "" }));
    return;
  }
  try {
    // The service is the judge of the token: one call as its fan proves it.
    await request("GET", "/api/v1/balance", { headers: { Authorization: `Bearer ${accessToken}` } });
  } catch (error) {
    showError(error);
    return;
  }
  const expiresAt = typeof claims.exp === "number" ? new Date(claims.exp * 1000).toISOString() : null;
  startSession(accessToken, expiresAt);
}

function signOut() {
  forgetFan();
  goTo("#/");
}

function renderAccount() {
  setText(byId("signed-in-as"), `Signed in as ${session().userId}`);
  byId("account").hidden = false;
  refreshBalance();
}

function renderHoldBanner() {
  const hold = liveHold();
  const banner = byId("hold-banner");
  banner.hidden = !hold || location.hash === "#/checkout";
  if (hold) {
    setText(
      byId("hold-banner-text"),
      `You are holding seat ${hold.seatNumber} for ${hold.concertTitle} until ${formatTimeOfDay(hold.expiresAt)}.`,
    );
  }
}

// -------------------------------------------------------------- concerts

async function showConcerts(scope) {
  showView("view-concerts");
  let concerts;
  try {
    concerts = [...(await loadCatalog({ fresh: true })).values()];
  } catch (error) {
    fail(error);
    return;
  }
  if (scope.ended) return;
  byId("concert-list").replaceChildren(...concerts.map(concertCard));
  scope.repeat(SALE_STATE_REFRESH_MS, () => refreshSaleStates(concerts));
}

function concertCard(concert) {
  return el(
    "article",
    { class: "concert-card panel", "data-concert-id": concert.concertId },
    el("h2", {}, concert.title),
    el("p", { class: "artist" }, concert.artist),
    el("p", { class: "sale-state", "data-state": "UNKNOWN" }, "Checking the sale…"),
    el(
      "button",
      { type: "button", onclick: () => joinLine(concert.concertId) },
      "Join the line",
      el("span", { class: "visually-hidden" }, ` for ${concert.title}`),
    ),
  );
}

// The rooms last read for the concert list, by concert id: a refused join
// says from them when the pre-queue opens.
const rooms = new Map();

async function refreshSaleStates(concerts) {
  await Promise.all(concerts.map(async ({ concertId }) => {
    const label = document.querySelector(`[data-concert-id="${concertId}"] .sale-state`);
    try {
      const room = await request("GET", `/api/v1/concerts/${concertId}/room`);
      rooms.set(concertId, room);
      const sale = saleStateOf(room);
      label.dataset.state = sale.state;
      setText(label, sale.text);
    } catch {
      label.dataset.state = "UNKNOWN";
      setText(label, "Sale state unknown right now");
    }
  }));
}

/** What the fans are told about a room: its state for styling and a sentence. */
function saleStateOf(room) {
  if (room.soldOut) return { state: "SOLD_OUT", text: "Sold out" };
  switch (room.effectiveState) {
    case "OPEN":
    case "PASS_THROUGH":
      return { state: "OPEN", text: "On sale" };
    case "PAUSED":
      return { state: "PAUSED", text: "Paused" };
    case "CLOSED":
      return { state: "CLOSED", text: "Closed" };
    default:
      return scheduledSaleState(room);
  }
}

function scheduledSaleState(room) {
  const opens = room.saleOpensAt ? formatDateTime(room.saleOpensAt) : "when the organiser starts it";
  const preQueueOpen = !room.preQueueOpensAt || Date.parse(room.preQueueOpensAt) <= Date.now();
  return preQueueOpen
    ? { state: "PRE_QUEUE", text: `Pre-queue open, opens ${opens}` }
    : { state: "SCHEDULED", text: `Opens ${opens}` };
}

// Set while a token request (and perhaps its challenge) is under way, so
// a second click does not start a second one.
let joining = false;

async function joinLine(concertId) {
  if (joining) return;
  joining = true;
  clearError();
  setBusy("Joining the line…");
  try {
    rememberPlace(concertId, await requestToken(concertId));
    goTo(waitHash(concertId));
  } catch (error) {
    // A room taking no new tokens says so even to fans already in line;
    // those keep their place, which the waiting page follows.
    if (ROOM_REFUSALS.has(error.code) && places.read(concertId)) goTo(waitHash(concertId), error);
    else fail(error, { preQueueOpensAt: rooms.get(concertId)?.preQueueOpensAt });
  } finally {
    joining = false;
    setBusy("");
  }
}

/**
 * POST /queue/tokens, solving the bot gate's challenge first when the
 * concert has one. Asking for the challenge up front, rather than waiting
 * to be refused, keeps a gated join free of failed requests.
 */
async function requestToken(concertId) {
  let challenge = await asFan("POST", "/api/v1/queue/challenges", { body: { concertId } });
  for (let round = 1; ; round += 1) {
    try {
      const body = challenge.required ? { concertId, proofOfWork: await proofOfWork(challenge) } : { concertId };
      return await asFan("POST", "/api/v1/queue/tokens", { body });
    } catch (error) {
      // A refused answer (too late, used, harder now) brings a fresh challenge.
      if (!error.challenge?.required || round >= MAX_PROOF_OF_WORK_ROUNDS) throw error;
      challenge = error.challenge;
    }
  }
}

async function proofOfWork(challenge) {
  setBusy("Checking your browser…");
  return { challenge: challenge.challenge, nonce: await solveChallenge(challenge) };
}

/**
 * A nonce whose SHA-256 of `challenge + ":" + nonce` starts with
 * `difficultyBits` zero bits (docs/API.md, "The bot gate").
 */
async function solveChallenge({ challenge, difficultyBits }) {
  if (!globalThis.crypto?.subtle) {
    throw new ApiError({ code: "BROWSER_CHECK_UNSUPPORTED", status: 0, message: "" });
  }
  const encoder = new TextEncoder();
  for (let start = 0; ; start += PROOF_OF_WORK_BATCH) {
    const nonces = Array.from({ length: PROOF_OF_WORK_BATCH }, (_, i) => String(start + i));
    const digests = await Promise.all(
      nonces.map((nonce) => crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${nonce}`))),
    );
    const found = digests.findIndex((digest) => leadingZeroBits(new Uint8Array(digest)) >= difficultyBits);
    if (found >= 0) return nonces[found];
  }
}

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

// ---------------------------------------------------------- waiting page

const HEADLINES = {
  PRE_QUEUE: "You are in the pre-queue. When the sale opens, everyone in it is put in line in a random order, so there is no need to rush.",
  ACTIVE: "It is your turn! Taking you to the seats…",
  EXPIRED: "Your place in line was lost: it timed out, or the organiser ended it.",
};

const NOTICES = {
  PAUSED: "The sale is paused by the organiser. Nobody is let in for now; you keep your place.",
  SOLD_OUT: "The concert is sold out for now. You keep your place: if a held seat comes back on sale, the line moves again.",
  CLOSED: "The sale is closed. Nobody more is let in.",
};

async function showWaiting(scope, concertId) {
  showView("view-wait");
  setText(byId("wait-title"), await concertTitle(concertId));
  if (scope.ended) return;
  byId("join-again").onclick = () => joinLine(concertId);
  const place = places.read(concertId);
  if (!place) {
    renderNotInLine();
    return;
  }
  renderLookingForPlace();
  // What the page follows: the last answer, when it came, and whether the
  // fan has asked to leave.
  const watch = { concertId, view: null, receivedAt: 0, leaving: false };
  byId("leave-line").onclick = () => leaveLine(scope, watch, place.token);
  scope.every(CLOCK_TICK_MS, () => renderWaitClock(watch));
  followToken(scope, place.token, {
    onView: (view) => onTokenView(watch, view),
    onFinal: (view) => onTokenFinal(watch, view),
    onFailure: (error) => onTokenFailure(watch, error),
  });
}

/**
 * Follows the token on its event stream, or by polling when streams fail.
 * `onView` sees every answer; `onFinal` the ACTIVE or EXPIRED one, once
 * nothing more will come.
 */
function followToken(scope, ticket, handlers) {
  if (typeof EventSource === "function") streamToken(scope, ticket, handlers);
  else pollToken(scope, ticket, handlers);
}

function streamToken(scope, ticket, handlers) {
  // EventSource cannot send headers; the API takes both credentials in the query.
  const query = new URLSearchParams({ token: ticket, access_token: session().accessToken });
  const source = new EventSource(`/api/v1/queue/tokens/current/events?${query}`);
  scope.onEnd(() => source.close());
  let final = null;
  // The service ends the stream right after its final event. Closing it
  // then, not before, saves EventSource's reconnect without cutting the
  // request off; the grace covers a stream that lingers.
  const finish = () => {
    if (source.readyState === EventSource.CLOSED) return;
    source.close();
    handlers.onFinal(final);
  };
  const onEvent = (event) => {
    const view = JSON.parse(event.data);
    handlers.onView(view);
    if (!FINAL_STATUSES.has(view.status)) return;
    final = view;
    scope.after(FINAL_EVENT_GRACE_MS, finish);
  };
  source.addEventListener("status", onEvent);
  source.addEventListener("position", onEvent);
  source.addEventListener("error", () => {
    if (final) finish();
    // EventSource retries a broken connection by itself; CLOSED means it
    // gave up (a refusal it cannot read), and polling names the reason.
    else if (source.readyState === EventSource.CLOSED && !scope.ended) pollToken(scope, ticket, handlers);
  });
}

function pollToken(scope, ticket, handlers) {
  const poll = async () => {
    if (scope.ended) return;
    try {
      const view = await asFan("GET", "/api/v1/queue/tokens/current", { queueToken: ticket });
      if (scope.ended) return;
      clearTransientError();
      handlers.onView(view);
      if (FINAL_STATUSES.has(view.status)) handlers.onFinal(view);
      else scope.after((view.pollAfterSecs ?? DEFAULT_POLL_SECS) * 1000, poll);
    } catch (error) {
      if (scope.ended) return;
      if (!isTransient(error)) {
        handlers.onFailure(error);
        return;
      }
      showError(error);
      scope.after(retryDelayMs(error), poll);
    }
  };
  poll();
}

function onTokenView(watch, view) {
  if (watch.leaving) return;
  const place = rememberPlace(watch.concertId, view);
  watch.view = view;
  watch.receivedAt = Date.now();
  renderWait(view, place);
  renderWaitClock(watch);
}

function onTokenFinal(watch, view) {
  if (watch.leaving) goTo("#/");
  else if (view.status === "ACTIVE") goTo(seatsHash(watch.concertId));
}

function onTokenFailure(watch, error) {
  if (!TICKET_LOST.has(error.code)) {
    fail(error);
    return;
  }
  watch.view = null;
  places.remove(watch.concertId);
  renderNotInLine({ lost: true });
  showError(error);
}

function renderWait(view, place) {
  const { status, position } = view;
  byId("wait").dataset.status = status;
  setText(byId("wait-headline"), waitHeadline(view));
  setText(byId("position"), position === null ? "" : String(position));
  byId("position-fact").hidden = position === null;
  setText(byId("notice"), NOTICES[status] ?? "");
  renderProgress(status, position, place.firstPosition);
  byId("join-again").hidden = status !== "EXPIRED";
  byId("leave-line").hidden = FINAL_STATUSES.has(status);
}

function waitHeadline({ status, position }) {
  if (HEADLINES[status]) return HEADLINES[status];
  if (position === null) return "You are in the line, waiting for your place to be counted.";
  return `You are number ${position} in line.`;
}

/** The progress bar: how far the fan has come from their first place. */
function renderProgress(status, position, firstPosition) {
  const progress = byId("progress");
  const start = firstPosition ?? position ?? 1;
  progress.max = start;
  if (status === "ACTIVE") progress.value = start;
  else progress.value = position === null ? 0 : Math.max(0, start - position);
}

/** The estimate and the pre-queue countdown, counted down between events. */
function renderWaitClock({ view, receivedAt }) {
  if (!view) return;
  setText(byId("eta"), etaText(view, receivedAt));
  byId("eta-fact").hidden = view.etaSeconds === null;
  const opensAt = view.status === "PRE_QUEUE" && view.saleOpensAt ? Date.parse(view.saleOpensAt) : null;
  setText(byId("countdown"), opensAt === null ? "" : countdownText(opensAt - Date.now()));
  byId("countdown-fact").hidden = opensAt === null;
}

function etaText({ etaSeconds, etaRange, expectedAdmissionAt }, receivedAt) {
  if (etaSeconds === null || !expectedAdmissionAt) return "";
  // etaSeconds is counted on the service's clock from its answer; counting
  // it down from when the answer came keeps a skewed local clock out of it.
  const elapsed = (Date.now() - receivedAt) / 1000;
  const left = etaSeconds - elapsed;
  if (left < 0.5) return "any moment now";
  if (!etaRange || etaRange.high <= etaRange.low) return `about ${formatSpan(left)}`;
  const low = Math.max(0, etaRange.low - elapsed);
  const high = Math.max(0, etaRange.high - elapsed);
  return `about ${formatSpan(left)} (${formatSpanRange(low, high)})`;
}

function countdownText(msLeft) {
  return msLeft > 0 ? formatClock(msLeft) : "opening now";
}

/** The waiting page before the first answer about the fan's place. */
function renderLookingForPlace() {
  clearWaitFacts("", "Finding your place in line…");
  byId("join-again").hidden = true;
  byId("leave-line").hidden = false;
}

function renderNotInLine({ lost = false } = {}) {
  clearWaitFacts(lost ? "EXPIRED" : "", lost ? HEADLINES.EXPIRED : "You are not in the line for this concert.");
  byId("leave-line").hidden = true;
  const join = byId("join-again");
  join.hidden = false;
  setText(join, lost ? "Join again" : "Join the line");
}

function clearWaitFacts(status, headline) {
  byId("wait").dataset.status = status;
  setText(byId("wait-headline"), headline);
  for (const id of ["position", "eta", "countdown", "notice"]) setText(byId(id), "");
  for (const id of ["position-fact", "eta-fact", "countdown-fact"]) byId(id).hidden = true;
  byId("progress").value = 0;
  setText(byId("join-again"), "Join again");
}

async function leaveLine(scope, watch, ticket) {
  try {
    await asFan("DELETE", "/api/v1/queue/tokens/current", { queueToken: ticket });
  } catch (error) {
    fail(error);
    return;
  }
  places.remove(watch.concertId);
  watch.leaving = true;
  setBusy("Leaving the line…");
  // The stream now tells of the ended token and closes; the page goes on
  // then (onTokenFinal), or after the grace when it is polling instead.
  scope.after(FINAL_EVENT_GRACE_MS * 2, () => goTo("#/"));
}

// -------------------------------------------------------------- seat map

const seatMap = { concertId: null, scheduleId: null, schedules: [], holding: false };

async function showSeats(scope, concertId) {
  showView("view-seats");
  const place = places.read(concertId);
  if (!hasLivePass(place)) {
    location.replace(waitHash(concertId));
    return;
  }
  setText(byId("seats-title"), await concertTitle(concertId));
  let schedules;
  try {
    schedules = await asFan("GET", `/api/v1/concerts/${concertId}/schedules`, { queueToken: place.admissionPass });
  } catch (error) {
    onBookingRefused(concertId, error);
    return;
  }
  if (scope.ended) return;
  const keepDate = seatMap.concertId === concertId && schedules.some((s) => s.scheduleId === seatMap.scheduleId);
  Object.assign(seatMap, { concertId, schedules, scheduleId: keepDate ? seatMap.scheduleId : schedules[0]?.scheduleId });
  renderDates(scope);
  scope.every(CLOCK_TICK_MS, () => renderPassLeft(place));
  renderPassLeft(place);
  scope.repeat(SEAT_REFRESH_MS, () => loadSeats(scope));
}

function renderPassLeft(place) {
  const left = Date.parse(place.admissionPassExpiresAt) - Date.now();
  setText(byId("pass-left"), left > 0 ? `Your turn lasts ${formatClock(left)} more: pick a seat and hold it.` : "Your turn is ending.");
}

function renderDates(scope) {
  const buttons = seatMap.schedules.map((schedule) => el(
    "button",
    {
      type: "button",
      class: "date-button",
      "data-schedule-id": schedule.scheduleId,
      "aria-pressed": String(schedule.scheduleId === seatMap.scheduleId),
      onclick: () => selectDate(scope, schedule.scheduleId),
    },
    el("span", { class: "date-when" }, formatDateTime(schedule.startsAt)),
    el("span", { class: "visually-hidden" }, ", "),
    el("span", { class: "date-venue" }, schedule.venue),
  ));
  byId("dates").replaceChildren(...buttons);
}

function selectDate(scope, scheduleId) {
  seatMap.scheduleId = scheduleId;
  for (const button of byId("dates").children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.scheduleId) === scheduleId));
  }
  loadSeats(scope);
}

async function loadSeats(scope) {
  const { concertId, scheduleId } = seatMap;
  if (!scheduleId) return;
  const place = places.read(concertId);
  try {
    const seats = await asFan("GET", `/api/v1/schedules/${scheduleId}/seats`, { queueToken: place?.admissionPass });
    // A slow answer for a date the fan has since left is not shown.
    if (scope.ended || seatMap.scheduleId !== scheduleId) return;
    clearTransientError();
    renderSeatMap(scheduleId, seats);
  } catch (error) {
    if (scope.ended) return;
    if (isTransient(error)) showError(error);
    else onBookingRefused(concertId, error);
  }
}

/** A refused booking call: a refused pass sends the fan back to the line. */
function onBookingRefused(concertId, error) {
  if (!PASS_REFUSALS.has(error.code)) {
    fail(error);
    return;
  }
  const place = places.read(concertId);
  // The ticket stays: the waiting page learns from it whether the place lives on.
  if (place) places.write(concertId, { ...place, admissionPass: null, admissionPassExpiresAt: null });
  goTo(waitHash(concertId), error);
}

/** Grades ranked by price, dearest first: the rank picks the grade's colour. */
function gradeRanks(seats) {
  const prices = new Map();
  for (const { grade, price } of seats) prices.set(grade, Math.max(price, prices.get(grade) ?? 0));
  const ranked = [...prices.entries()].sort((a, b) => b[1] - a[1]);
  return new Map(ranked.map(([grade, price], index) => [grade, { rank: (index % 6) + 1, price }]));
}

function renderSeatMap(scheduleId, seats) {
  const map = byId("seat-map");
  if (map.dataset.scheduleId !== String(scheduleId) || map.querySelectorAll(".seat").length !== seats.length) {
    buildSeatMap(map, scheduleId, seats);
  }
  for (const seat of seats) {
    updateSeatButton(map.querySelector(`[data-seat="${seat.seatNumber}"]`), seat);
  }
}

/** Lays the seats out once per date, in runs of one grade, so updates keep focus. */
function buildSeatMap(map, scheduleId, seats) {
  const ranks = gradeRanks(seats);
  const bands = [];
  for (const seat of seats) {
    const band = bands.at(-1);
    if (band?.grade === seat.grade) band.seats.push(seat);
    else bands.push({ grade: seat.grade, price: seat.price, seats: [seat] });
  }
  map.dataset.scheduleId = String(scheduleId);
  map.replaceChildren(...bands.map((band) => seatBand(band, ranks.get(band.grade).rank)));
  renderGradeLegend(ranks);
}

function seatBand({ grade, price, seats }, rank) {
  return el(
    "div",
    { class: `seat-band grade-${rank}` },
    el("p", { class: "band-label" }, `${grade} · ${formatWon(price)}`),
    el("div", { class: "seat-row" }, seats.map((seat) => el(
      "button",
      { type: "button", class: "seat", "data-seat": seat.seatNumber, "data-grade": seat.grade, onclick: () => holdSeat(seat) },
      String(seat.seatNumber),
    ))),
  );
}

function updateSeatButton(button, seat) {
  const status = seat.status;
  button.dataset.status = status;
  button.disabled = status !== "AVAILABLE";
  button.setAttribute("aria-label", `Seat ${seat.seatNumber}, ${seat.grade}, ${formatWon(seat.price)}, ${status.toLowerCase()}`);
}

function renderGradeLegend(ranks) {
  const items = [...ranks.entries()].map(([grade, { rank, price }]) => el(
    "li",
    { class: `grade-${rank}` },
    el("span", { class: "swatch seat-status-available", "aria-hidden": "true" }),
    ` ${grade}: ${formatWon(price)}`,
  ));
  byId("grade-legend").replaceChildren(...items);
}

async function holdSeat(seat) {
  if (seatMap.holding) return;
  const { concertId, scheduleId } = seatMap;
  const place = places.read(concertId);
  seatMap.holding = true;
  clearError();
  setBusy(`Holding seat ${seat.seatNumber}…`);
  try {
    const hold = await asFan("POST", "/api/v1/holds", {
      body: { scheduleId, seatNumber: seat.seatNumber },
      queueToken: place?.admissionPass,
    });
    await keepHold(concertId, hold, seat);
    goTo("#/checkout");
  } catch (error) {
    onHoldRefused(concertId, seat, error);
  } finally {
    seatMap.holding = false;
    setBusy("");
  }
}

async function keepHold(concertId, hold, seat) {
  const schedule = seatMap.schedules.find((s) => s.scheduleId === hold.scheduleId);
  holds.write({
    ...hold,
    concertId,
    concertTitle: await concertTitle(concertId),
    grade: seat.grade,
    startsAt: schedule?.startsAt ?? null,
    venue: schedule?.venue ?? "",
    // One key for every payment attempt of this hold, so a repeated click
    // or a retry after a lost answer never pays twice.
    paymentKey: newIdempotencyKey(),
  });
}

function onHoldRefused(concertId, seat, error) {
  if (PASS_REFUSALS.has(error.code)) {
    onBookingRefused(concertId, error);
    return;
  }
  fail(error, { seat: seat.seatNumber });
  if (error.code === "HOLD_LIMIT_REACHED") renderHoldBanner();
  // The map may be out of date: show what is true now rather than in 2 s.
  loadSeats(viewScope);
}

// -------------------------------------------------------------- checkout

// The top-up being tried: its key is kept until the service has answered
// it for sure, so a retry after a lost answer cannot charge twice.
let pendingTopUp = null;

function showCheckout(scope) {
  showView("view-checkout");
  byId("receipt").hidden = true;
  const hold = liveHold();
  byId("no-hold").hidden = Boolean(hold);
  byId("hold-panel").hidden = !hold;
  if (!hold) return;
  renderHold(hold);
  const tick = () => renderHoldCountdown(scope, hold);
  scope.every(CLOCK_TICK_MS, tick);
  tick();
  byId("pay").onclick = () => pay(scope);
  byId("release").onclick = () => releaseHold();
  byId("top-up").onsubmit = (event) => topUp(event);
}

function renderHold(hold) {
  setText(byId("hold-concert"), hold.concertTitle);
  setText(byId("hold-seat"), `Seat ${hold.seatNumber}, ${hold.grade}`);
  setText(byId("hold-date"), holdDateText(hold));
  setText(byId("hold-price"), formatWon(hold.price));
  byId("hold-ended").hidden = true;
  byId("pay").disabled = false;
  byId("release").disabled = false;
  byId("pick-again").href = seatsHash(hold.concertId);
}

function holdDateText(hold) {
  return hold.startsAt ? `${formatDateTime(hold.startsAt)}, ${hold.venue}` : hold.venue;
}

function renderHoldCountdown(scope, hold) {
  const left = Date.parse(hold.expiresAt) - Date.now();
  setText(byId("hold-countdown"), formatClock(left));
  if (left <= 0) endHold(scope);
}

/** The hold is over: the seat is back on sale and cannot be paid for. */
function endHold(scope) {
  scope.end();
  holds.remove();
  byId("hold-ended").hidden = false;
  byId("pay").disabled = true;
  byId("release").disabled = true;
  setText(byId("hold-countdown"), formatClock(0));
}

async function pay(scope) {
  const hold = holds.read();
  if (!hold) return;
  const button = byId("pay");
  button.disabled = true;
  clearError();
  setBusy("Paying…");
  try {
    const receipt = await asFan("POST", "/api/v1/payments", { body: { holdId: hold.holdId }, idempotencyKey: hold.paymentKey });
    onPaid(scope, hold, receipt);
  } catch (error) {
    onPaymentRefused(scope, hold, error);
  } finally {
    button.disabled = !holds.read();
    setBusy("");
  }
}

function onPaid(scope, hold, receipt) {
  scope.end();
  holds.remove();
  // A payment ends the fan's token for the concert.
  places.remove(hold.concertId);
  byId("hold-panel").hidden = true;
  setText(byId("receipt-id"), receipt.reservationId);
  setText(byId("receipt-concert"), hold.concertTitle);
  setText(byId("receipt-seat"), `Seat ${receipt.seatNumber}, ${hold.grade}`);
  setText(byId("receipt-date"), holdDateText(hold));
  setText(byId("receipt-price"), formatWon(receipt.price));
  setText(byId("receipt-balance"), formatWon(receipt.balance));
  setText(byId("receipt-confirmed"), receipt.confirmedAt ? formatDateTime(receipt.confirmedAt, { seconds: true }) : "");
  const section = byId("receipt");
  section.hidden = false;
  section.querySelector("h2").tabIndex = -1;
  section.querySelector("h2").focus();
  refreshBalance();
}

function onPaymentRefused(scope, hold, error) {
  fail(error);
  if (HOLD_GONE.has(error.code)) endHold(scope);
  if (error.code === "HOLD_ALREADY_PAID") holds.remove();
  if (error.code === "INSUFFICIENT_BALANCE") {
    // The refusal is recorded under the key and would be replayed even
    // after a top-up; the next attempt is a new request.
    holds.write({ ...hold, paymentKey: newIdempotencyKey() });
    byId("top-up-amount").focus();
  }
}

async function releaseHold() {
  const hold = holds.read();
  if (!hold) return;
  clearError();
  try {
    await asFan("DELETE", `/api/v1/holds/${hold.holdId}`);
    holds.remove();
    goTo(hasLivePass(places.read(hold.concertId)) ? seatsHash(hold.concertId) : "#/");
  } catch (error) {
    if (HOLD_GONE.has(error.code)) holds.remove();
    fail(error);
  }
}

async function topUp(event) {
  event.preventDefault();
  const amount = Number(byId("top-up-amount").value);
  if (pendingTopUp?.amount !== amount) pendingTopUp = { amount, key: newIdempotencyKey() };
  clearError();
  setBusy("Topping up…");
  try {
    const { balance } = await asFan("POST", "/api/v1/balance/charge", { body: { amount }, idempotencyKey: pendingTopUp.key });
    pendingTopUp = null;
    setText(byId("balance"), formatWon(balance));
    setText(byId("checkout-balance"), formatWon(balance));
    byId("top-up-amount").value = "";
  } catch (error) {
    if (!isTransient(error) && error.code !== "IDEMPOTENCY_REQUEST_IN_PROGRESS") pendingTopUp = null;
    fail(error);
  } finally {
    setBusy("");
  }
}

// ---------------------------------------------------------- reservations

async function showReservations(scope) {
  showView("view-reservations");
  let reservations;
  try {
    reservations = await asFan("GET", "/api/v1/reservations");
  } catch (error) {
    fail(error);
    return;
  }
  if (scope.ended) return;
  byId("no-reservations").hidden = reservations.length > 0;
  byId("reservations").hidden = reservations.length === 0;
  byId("reservation-rows").replaceChildren(...reservations.map(reservationRow));
}

function reservationRow(reservation) {
  return el(
    "tr",
    {},
    el("td", {}, `${reservation.title} (${reservation.artist})`),
    el("td", {}, `${formatDateTime(reservation.startsAt)}, ${reservation.venue}`),
    el("td", {}, String(reservation.seatNumber)),
    el("td", { class: "number" }, formatWon(reservation.price)),
    el("td", {}, formatDateTime(reservation.confirmedAt)),
    el("td", { class: "mono" }, reservation.reservationId),
  );
}

// ------------------------------------------------------------------ start

byId("dev-sign-in").addEventListener("submit", signInWithUserId);
byId("token-sign-in").addEventListener("submit", signInWithToken);
byId("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", render);
render();
