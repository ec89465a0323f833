// The operator's console: one concert's room (state, census, settings and
// every change to them, each confirmed first), its last hour in charts
// (console/charts.js), the invariants, the dead letters and the outbox.
// docs/API.md and docs/rooms.md describe what is read and changed here.
//
// Two lifetimes: the open console (its scope ends at sign-out, or when a
// refusal closes it) refreshes what is console-wide; the watched concert
// (a child scope, ended when another concert is chosen) refreshes its
// room, samples and audit. What each knows lives with it.

import { formatCount, formatDateTime, formatSpan, formatTimeOfDay, formatWon, isTransient, request, retryDelayMs, sessionJson } from "./api.js";
import { renderCharts } from "./console/charts.js";
import {
  byId,
  clearError,
  clearErrorOf,
  confirmInDialog,
  createScope,
  disableKeepingFocus,
  el,
  failureHandler,
  focusHeading,
  setText,
  showError,
  untilAnswered,
  whileBusy,
} from "./dom.js";

const ADMIN_KEY = "boxoffice.admin";

const ROOM_REFRESH_MS = 2000;
const SAMPLES_REFRESH_MS = 5000;
const OUTBOX_REFRESH_MS = 5000;
const AUDIT_REFRESH_MS = 10_000;
const DEAD_LETTERS_REFRESH_MS = 10_000;
// The invariant check reads the whole store (docs/API.md): on opening, on
// the button, and otherwise this seldom.
const INVARIANTS_REFRESH_MS = 5 * 60_000;
const SAMPLE_MINUTES = 60;

const CONSOLE_REFUSALS = new Set(["ADMIN_KEY_INVALID", "ADMIN_DISABLED", "ADMIN_ROLE_REQUIRED", "AUTH_INVALID", "AUTH_EXPIRED"]);

// ------------------------------------------------------------ credentials

function credentials() {
  return sessionJson.read(ADMIN_KEY);
}

/** The admin key decides alone when given; else the admin's bearer token. */
function adminHeaders({ key, token } = {}) {
  if (key) return { "X-Admin-Key": key };
  if (token) return { Authorization: `Bearer ${token}` };
  return {};
}

function asAdmin(method, path, body) {
  return request(method, path, { body, headers: adminHeaders(credentials() ?? {}) });
}

/** Shows a failure in #error; a refused key or token first closes the console. */
const fail = failureHandler(CONSOLE_REFUSALS, () => closeConsole());

// ---------------------------------------------------------------- sign-in

function openConsole(event) {
  event.preventDefault();
  const form = event.currentTarget;
  return whileBusy(form.querySelector('button[type="submit"]'), async () => {
    clearError();
    const given = {
      key: byId("admin-key-input").value.trim(),
      token: byId("admin-token-input").value.trim(),
    };
    try {
      // The cheapest admin call: it proves the key before it is kept.
      await request("GET", "/api/v1/admin/outbox", { headers: adminHeaders(given) });
    } catch (error) {
      showError(error);
      return;
    }
    sessionJson.write(ADMIN_KEY, given);
    form.reset();
    startConsole();
  });
}

// The open console: `{scope, tables, loops}`, or null while signed out.
let opened = null;
// The concert being watched: `{scope, concertId, room, tables, loops}`, or null.
let watched = null;

function closeConsole() {
  // A confirmation left open would otherwise send its change without credentials.
  const dialog = byId("confirm");
  if (dialog.open) dialog.close("cancel");
  opened?.scope.end();
  opened = null;
  watched = null;
  sessionJson.remove(ADMIN_KEY);
  byId("console-main").hidden = true;
  byId("console-account").hidden = true;
  const signIn = byId("console-sign-in");
  signIn.hidden = false;
  focusHeading(signIn);
}

async function startConsole() {
  const main = byId("console-main");
  byId("console-sign-in").hidden = true;
  main.hidden = false;
  byId("console-account").hidden = false;
  focusHeading(main);
  opened?.scope.end();
  const scope = createScope();
  opened = { scope, tables: changeTracker(), loops: null };
  try {
    await untilAnswered(scope, loadConcerts);
  } catch (error) {
    if (!scope.ended) fail(error);
    return;
  }
  if (scope.ended) return;
  const console_ = opened;
  console_.loops = {
    outbox: refreshLoop(scope, OUTBOX_REFRESH_MS, loadOutbox),
    invariants: refreshLoop(scope, INVARIANTS_REFRESH_MS, () => loadInvariants(console_)),
    deadLetters: refreshLoop(scope, DEAD_LETTERS_REFRESH_MS, () => loadDeadLetters(console_)),
  };
  watchConcert();
}

// ------------------------------------------------------------- refreshing

// Until when the service asked the console to hold off (RATE_LIMITED, with
// Retry-After), in local ms. The admin limit is per address, so every
// refresh waits, not only the one refused.
let quietUntil = 0;

/**
 * Runs `load` within `scope` now and every `intervalMs`; returns
 * `{ now }`. After a transient failure the next run waits at least the
 * failure's retry delay, and while the service has asked for a pause no
 * run calls it. A success clears the passing failure this loop showed.
 */
function refreshLoop(scope, intervalMs, load) {
  let failure = null;
  return scope.repeat(intervalMs, async () => {
    const quiet = quietUntil - Date.now();
    if (quiet > 0) return quiet;
    try {
      await load();
      clearErrorOf(failure);
      return intervalMs;
    } catch (error) {
      if (scope.ended) return intervalMs;
      if (error.code === "RATE_LIMITED") quietUntil = Math.max(quietUntil, Date.now() + retryDelayMs(error));
      fail(error);
      failure = error;
      return isTransient(error) ? Math.max(intervalMs, retryDelayMs(error)) : intervalMs;
    }
  });
}

/**
 * The tables are rebuilt only when what they show changed, so a refresh
 * never takes the keyboard focus away from a button in them. One tracker
 * per lifetime: the console's tables, and each watched concert's.
 */
function changeTracker() {
  const shown = new Map();
  return {
    changed(name, data) {
      const text = JSON.stringify(data);
      if (shown.get(name) === text) return false;
      shown.set(name, text);
      return true;
    },
  };
}

// -------------------------------------------------------------- concerts

const concertTitles = new Map();

// From the admin API, which is served beside the console also on a listener
// of its own (server.admin_listen), where the public catalog is not.
async function loadConcerts() {
  const concerts = await asAdmin("GET", "/api/v1/admin/concerts");
  concertTitles.clear();
  for (const { concertId, title } of concerts) concertTitles.set(concertId, title);
  const select = byId("concert-select");
  const chosen = credentials()?.concertId ?? concerts[0]?.concertId;
  select.replaceChildren(...concerts.map(({ concertId, title }) => el(
    "option",
    { value: concertId, selected: concertId === chosen },
    `${concertId}. ${title}`,
  )));
}

function selectedConcertId() {
  return Number(byId("concert-select").value);
}

function onConcertChosen() {
  sessionJson.write(ADMIN_KEY, { ...credentials(), concertId: selectedConcertId() });
  clearError();
  watchConcert();
}

/** Starts the refreshes of the chosen concert, ending those of the last one. */
function watchConcert() {
  watched?.scope.end();
  watched = null;
  if (!opened) return;
  const concertId = selectedConcertId();
  if (!concertId) return;
  const scope = opened.scope.child();
  const watch = { scope, concertId, room: null, tables: changeTracker(), loops: null };
  watched = watch;
  // What is shown belongs to the last concert: edits and charts go.
  forgetSettingEdits();
  renderCharts([]);
  watch.loops = {
    room: refreshLoop(scope, ROOM_REFRESH_MS, () => loadRoom(watch)),
    samples: refreshLoop(scope, SAMPLES_REFRESH_MS, () => loadSamples(watch)),
    audit: refreshLoop(scope, AUDIT_REFRESH_MS, () => loadAudit(watch)),
  };
}

function titleOf(concertId) {
  return concertTitles.get(concertId) ?? `Concert ${concertId}`;
}

// ------------------------------------------------------------------ room

const roomPath = (concertId) => `/api/v1/admin/concerts/${concertId}/room`;

async function loadRoom(watch) {
  const room = await asAdmin("GET", roomPath(watch.concertId));
  if (!watch.scope.ended) showRoom(watch, room);
}

/** Shows a room just read; the setting forms follow it unless the operator is editing them. */
function showRoom(watch, room, { submittedForm = null } = {}) {
  watch.room = room;
  renderRoom(room);
  renderRoomControls(room);
  fillSettingForms(room, { submittedForm });
}

function renderRoom(shown) {
  const state = byId("room-state");
  state.dataset.state = shown.effectiveState;
  setText(state, shown.effectiveState);
  setText(byId("room-state-note"), stateNote(shown));
  const { census, flow, settings } = shown;
  setText(byId("census-pre-queued"), formatCount(census.preQueued));
  setText(byId("census-waiting"), formatCount(census.waiting));
  setText(byId("census-active"), formatCount(census.active));
  setText(byId("admitting-up-to"), formatCount(shown.admittingUpTo));
  setText(byId("sellable-seats"), shown.soldOut ? "0 (sold out)" : formatCount(shown.sellableSeats));
  setText(byId("admitted-total"), formatCount(flow.admittedTotal));
  setText(byId("no-show-rate"), `${Math.round(flow.noShowRate * 100)} %`);
  setText(byId("session-secs"), flow.sessionSecs === null ? "not seen yet" : formatSpan(flow.sessionSecs));
  setText(byId("setting-admit-per-minute"), formatCount(settings.admitPerMinute));
  setText(byId("setting-batch"), `${formatCount(settings.admitBatch)}, every ${formatSpan(settings.admitIntervalSecs)}`);
  setText(byId("setting-max-active"), formatCount(settings.maxActive));
  setText(byId("setting-active-ttl"), formatSpan(settings.activeTtlSecs));
  setText(byId("setting-abandon"), formatSpan(settings.abandonAfterSecs));
  setText(byId("sale-opens"), shown.saleOpensAt ? formatDateTime(shown.saleOpensAt) : "by hand");
  setText(byId("sale-closes"), shown.saleClosesAt ? formatDateTime(shown.saleClosesAt) : "not set");
  setText(byId("lottery"), lotteryText(shown));
}

/** Why the state in force differs from the one set, when it does. */
function stateNote({ state, effectiveState, preQueueOpensAt }) {
  if (state === "SCHEDULED" && effectiveState === "SCHEDULED") {
    return preQueueOpensAt ? `Scheduled; the pre-queue opens ${formatDateTime(preQueueOpensAt)}.` : "Scheduled; the pre-queue is open.";
  }
  if (state !== effectiveState) return `Set to ${state}; the sale's times make it ${effectiveState} now.`;
  return "";
}

function lotteryText({ lotteryCommitment, drawnAt }) {
  if (!lotteryCommitment) return "none";
  return drawnAt ? `${lotteryCommitment} (drawn ${formatDateTime(drawnAt)})` : lotteryCommitment;
}

/**
 * Whether a state button would change anything, and may: asking for the
 * state the room is set to changes nothing, a SCHEDULED room moves only to
 * OPEN or CLOSED, and "Resume" is for a paused room (docs/rooms.md).
 */
function stateButtonApplies({ state }, target, verb) {
  if (target === state) return false;
  if (verb === "resume") return state === "PAUSED";
  if (state === "SCHEDULED") return target === "OPEN" || target === "CLOSED";
  return true;
}

/** Why the room cannot be scheduled now, or null when it can. */
function scheduleRefusal({ state, drawnAt, census }) {
  if (drawnAt) return "The pre-queue of this sale has been drawn, so it cannot be scheduled again.";
  if (state !== "SCHEDULED" && census.waiting > 0) return "Fans are waiting in line: a sale can be scheduled only for an empty room.";
  return null;
}

/** Enables what would change the room; a control that loses its use hands the focus to the room's state. */
function renderRoomControls(room) {
  const fallback = byId("room-state");
  for (const button of document.querySelectorAll("[data-room-state]")) {
    if (stateButtonApplies(room, button.dataset.roomState, button.dataset.verb)) button.disabled = false;
    else disableKeepingFocus(button, fallback);
  }
  const refusal = scheduleRefusal(room);
  const schedule = byId("schedule-submit");
  if (refusal === null) schedule.disabled = false;
  else disableKeepingFocus(schedule, fallback);
  const note = byId("schedule-note");
  note.hidden = refusal === null;
  setText(note, refusal ?? "");
}

// --------------------------------------------------------- setting forms

// Each setting form, its input, and the value the room gives it.
const SETTING_FORMS = [
  { form: "schedule-form", input: "opens-at", value: (room) => (room.saleOpensAt ? toLocalInputValue(room.saleOpensAt) : "") },
  { form: "rate-form", input: "admit-per-minute", value: (room) => String(room.settings.admitPerMinute) },
  { form: "cap-form", input: "max-active", value: (room) => String(room.settings.maxActive) },
];

/**
 * Shows the room's values in the setting forms the operator has not
 * touched since they were last filled, and in `submittedForm` (its change
 * was just applied). A value typed but not applied is never overwritten.
 */
function fillSettingForms(room, { submittedForm = null } = {}) {
  for (const { form, input, value } of SETTING_FORMS) {
    const element = byId(form);
    if (element.dataset.edited === "true" && form !== submittedForm) continue;
    delete element.dataset.edited;
    const field = byId(input);
    const wanted = value(room);
    if (field.value !== wanted) field.value = wanted;
  }
}

function forgetSettingEdits() {
  for (const { form } of SETTING_FORMS) delete byId(form).dataset.edited;
}

function markEdited(event) {
  event.currentTarget.dataset.edited = "true";
}

/** An instant as a datetime-local input shows it: local, to the minute. */
function toLocalInputValue(instant) {
  const at = new Date(instant);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

// ------------------------------------------------------- changing a room

// What each state button does, as the confirmation says it, from the
// state the room is in now.
const STATE_CHANGES = {
  open: (from) => `the room goes from ${from} to OPEN and starts admitting fans from the line.`
    + (from.startsWith("SCHEDULED") ? " The pre-queue is drawn into line at once." : ""),
  pause: (from) => `the room goes from ${from} to PAUSED. Nobody is admitted until it is resumed; fans in line keep their places.`,
  resume: (from) => `the room goes from ${from} to OPEN and admits fans from the line again.`,
  "pass-through": (from) => `the room goes from ${from} to PASS_THROUGH. New fans are let in at once while fewer than the cap are ACTIVE.`,
  close: (from) => `the room goes from ${from} to CLOSED. No new fan may join and nobody more is admitted; fans already admitted keep their time.`,
};

/** The state a change starts from: the one set, and the one in force when the sale's times make them differ. */
function fromState({ state, effectiveState }) {
  return state === effectiveState ? state : `${state} (${effectiveState} by the sale's times)`;
}

function onStateButton(button) {
  const watch = watched;
  if (!watch?.room) return;
  const { roomState, verb } = button.dataset;
  changeRoom(watch, { state: roomState }, `${titleOf(watch.concertId)}: ${STATE_CHANGES[verb](fromState(watch.room))}`);
}

function onSchedule(event) {
  event.preventDefault();
  const watch = watched;
  if (!watch?.room) return;
  const opensAt = new Date(byId("opens-at").value);
  const text = `${titleOf(watch.concertId)}: the room goes from ${fromState(watch.room)} to SCHEDULED, `
    + `opening ${formatDateTime(opensAt)}. Fans may join a pre-queue shortly before, and are drawn into line at the opening.`;
  changeRoom(watch, { state: "SCHEDULED", saleOpensAt: opensAt.toISOString() }, text, "schedule-form");
}

function onApplyRate(event) {
  event.preventDefault();
  const watch = watched;
  if (!watch?.room) return;
  const wanted = numberOrDefault(byId("admit-per-minute").value);
  const text = `${titleOf(watch.concertId)}: admissions go from ${formatCount(watch.room.settings.admitPerMinute)} a minute `
    + `to ${wanted === null ? "the service's default" : `${formatCount(wanted)} a minute`}.`;
  changeRoom(watch, { admitPerMinute: wanted }, text, "rate-form");
}

function onApplyCap(event) {
  event.preventDefault();
  const watch = watched;
  if (!watch?.room) return;
  const wanted = numberOrDefault(byId("max-active").value);
  const text = `${titleOf(watch.concertId)}: the most fans ACTIVE at once goes from ${formatCount(watch.room.settings.maxActive)} `
    + `to ${wanted === null ? "the service's default" : formatCount(wanted)}.`;
  changeRoom(watch, { maxActive: wanted }, text, "cap-form");
}

/** A blank setting goes back to the configured default (null in the PATCH). */
function numberOrDefault(text) {
  return text.trim() === "" ? null : Number(text);
}

/** Confirms, then sends the change; `submittedForm` is the setting form it came from, if any. */
async function changeRoom(watch, patch, description, submittedForm = null) {
  if (!(await confirmInDialog(description)) || watch.scope.ended) return;
  clearError();
  try {
    const room = await asAdmin("PATCH", roomPath(watch.concertId), patch);
    if (!watch.scope.ended) showRoom(watch, room, { submittedForm });
  } catch (error) {
    if (!watch.scope.ended) fail(error);
  }
  // Read again whatever the answer: a refusal may mean the room moved on.
  if (!watch.scope.ended) await Promise.all([watch.loops.room.now(), watch.loops.audit.now()]);
}

// ---------------------------------------------------------------- charts

async function loadSamples(watch) {
  let answer;
  try {
    answer = await asAdmin("GET", `/api/v1/admin/concerts/${watch.concertId}/samples?minutes=${SAMPLE_MINUTES}`);
  } catch (error) {
    // A service older than the samples endpoint answers NOT_FOUND: say
    // so beside the charts instead of flashing an error every refresh.
    if (error.code !== "NOT_FOUND") throw error;
    showSamplesNote("This service keeps no samples yet, so the charts stay empty.");
    return;
  }
  if (watch.scope.ended) return;
  showSamplesNote(answer.samples.length ? "" : "No samples yet: the first comes within a sampling interval.");
  renderCharts(answer.samples);
}

function showSamplesNote(text) {
  const note = byId("samples-note");
  note.hidden = text === "";
  setText(note, text);
}

// ------------------------------------------------ health and the outbox

async function loadInvariants(console_) {
  const report = await asAdmin("GET", "/api/v1/admin/invariants");
  if (!console_.scope.ended) renderInvariants(console_, report, new Date());
}

function renderInvariants(console_, report, checkedAt) {
  const box = byId("invariants");
  box.dataset.ok = String(report.ok);
  setText(box, report.ok
    ? `Every invariant holds: ${plural(report.reservations, "reservation")}; ${formatWon(report.charged)} charged = ${formatWon(report.balances)} in balances + ${formatWon(report.paid)} paid.`
    : `Broken: ${plural(report.violations.length, "invariant")}.`);
  setText(byId("invariants-checked"), `Checked at ${formatTimeOfDay(checkedAt)}; checked again every ${formatSpan(INVARIANTS_REFRESH_MS / 1000)}, or now with the button.`);
  if (console_.tables.changed("violations", report.violations)) {
    byId("violations").replaceChildren(...report.violations.map((violation) => el("li", {}, violation)));
  }
}

async function loadOutbox() {
  const { unpublished, lagMs } = await asAdmin("GET", "/api/v1/admin/outbox");
  setText(byId("outbox"), unpublished === 0
    ? "Outbox: every event is published."
    : `Outbox: ${plural(unpublished, "event")} waiting to be published, the oldest for ${formatSpan(lagMs / 1000)}.`);
}

function plural(count, noun) {
  return `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
}

function onCheckInvariants(event) {
  const loops = opened?.loops;
  if (loops) whileBusy(event.currentTarget, () => loops.invariants.now());
}

// ---------------------------------------------------------- dead letters

/** Replays, oldest first, every letter still waiting (a bulk replay of up to 1,000). */
async function onReplayWaiting(event) {
  const console_ = opened;
  if (!console_) return;
  const text = "Deliver every dead letter still waiting again, oldest first. "
    + "Each goes through the consumer's ledger, so none is delivered twice; "
    + "it stops after a few failures in a row.";
  const button = event.currentTarget;
  if (!(await confirmInDialog(text)) || console_.scope.ended) return;
  clearError();
  await whileBusy(button, async () => {
    try {
      const done = await asAdmin("POST", "/api/v1/admin/dead-letters/replay", { limit: 1000 });
      if (console_.scope.ended) return;
      const failed = done.failed.length
        ? `, ${done.failed.length} failed again (${done.failed[0].error})` : "";
      byId("replay-waiting-result").textContent = `${done.replayed.length} replayed${failed}`
        + (done.stopped ? "; stopped after failures in a row." : ".");
    } catch (error) {
      if (!console_.scope.ended) fail(error);
    }
  });
  await console_.loops.deadLetters.now();
}

async function loadDeadLetters(console_) {
  const letters = await asAdmin("GET", "/api/v1/admin/dead-letters");
  if (!console_.scope.ended) renderDeadLetters(console_, letters);
}

function renderDeadLetters(console_, letters) {
  byId("no-dead-letters").hidden = letters.length > 0;
  byId("dead-letters").hidden = letters.length === 0;
  if (console_.tables.changed("dead-letters", letters)) {
    byId("dead-letter-rows").replaceChildren(...letters.map((letter) => deadLetterRow(console_, letter)));
  }
}

function deadLetterRow(console_, letter) {
  // A replayed letter keeps its button: replaying it again is refused with
  // a message that says so.
  const replay = el("button", { type: "button", class: "button-quiet" }, `Replay ${letter.id}`);
  replay.addEventListener("click", () => whileBusy(replay, () => replayDeadLetter(console_, letter)));
  return el(
    "tr",
    {},
    el("td", { class: "number" }, String(letter.id)),
    el("td", {}, letter.eventType),
    el("td", {}, letter.consumer),
    el("td", { class: "number" }, String(letter.attempts)),
    el("td", { class: "wrap" }, letter.lastError),
    el("td", {}, formatDateTime(letter.failedAt)),
    el("td", {}, letter.replayedAt ? formatDateTime(letter.replayedAt) : "not yet"),
    el("td", {}, replay),
  );
}

async function replayDeadLetter(console_, letter) {
  const text = `Deliver dead letter ${letter.id} (${letter.eventType}, for ${letter.consumer}) again. `
    + "It goes through the consumer's ledger, so it is never delivered twice.";
  if (!(await confirmInDialog(text)) || console_.scope.ended) return;
  clearError();
  try {
    await asAdmin("POST", `/api/v1/admin/dead-letters/${letter.id}/replay`);
  } catch (error) {
    if (!console_.scope.ended) fail(error);
  }
  await console_.loops.deadLetters.now();
}

// ----------------------------------------------------------------- audit

async function loadAudit(watch) {
  const changes = await asAdmin("GET", `/api/v1/admin/concerts/${watch.concertId}/room/audit`);
  if (!watch.scope.ended) renderAudit(watch, changes);
}

function renderAudit(watch, changes) {
  byId("no-audit").hidden = changes.length > 0;
  byId("audit").hidden = changes.length === 0;
  if (!watch.tables.changed("audit", changes)) return;
  byId("audit-rows").replaceChildren(...changes.map((change) => el(
    "tr",
    {},
    el("td", {}, formatDateTime(change.changedAt, { seconds: true })),
    el("td", {}, change.field),
    el("td", { class: "wrap" }, auditValue(change.field, change.oldValue)),
    el("td", { class: "wrap" }, auditValue(change.field, change.newValue)),
  )));
}

/** Audit values are text; times among them are epoch milliseconds. */
function auditValue(field, value) {
  if (value === null) return "not set";
  if (field === "saleOpensAt" || field === "saleClosesAt") return formatDateTime(Number(value));
  return value;
}

// ------------------------------------------------------------------ start

byId("admin-sign-in").addEventListener("submit", openConsole);
byId("close-console").addEventListener("click", closeConsole);
byId("concert-select").addEventListener("change", onConcertChosen);
byId("schedule-form").addEventListener("submit", onSchedule);
byId("rate-form").addEventListener("submit", onApplyRate);
byId("cap-form").addEventListener("submit", onApplyCap);
for (const { form } of SETTING_FORMS) byId(form).addEventListener("input", markEdited);
byId("check-invariants").addEventListener("click", onCheckInvariants);
byId("replay-waiting").addEventListener("click", onReplayWaiting);
for (const button of document.querySelectorAll("[data-room-state]")) {
  button.addEventListener("click", () => onStateButton(button));
}

if (credentials()) startConsole();
else closeConsole();
