// The waiting page: the fan's place, the estimate counted down between
// answers, the pre-queue's countdown to the opening, and what the room's
// state means for the fan. It follows the token (follow-token.js) and goes
// to the seats by itself on ACTIVE.

import { formatClock, formatSpan, formatSpanRange } from "../api.js";
import { msUntil } from "../clock.js";
import { byId, setText, showError, whileBusy } from "../dom.js";
import { concertTitle } from "./catalog.js";
import { joinLine } from "./concerts.js";
import { FINAL_STATUSES, followToken } from "./follow-token.js";
import { goTo, seatsHash, setBusy, showView } from "./page.js";
import { placeOf, rememberPlace } from "./records.js";
import { asFan, fail } from "./session.js";

const CLOCK_TICK_MS = 1000;
// How long to wait for the stream's last word after leaving the line.
const LEAVE_GRACE_MS = 2000;

const TICKET_LOST = new Set(["QUEUE_TOKEN_INVALID", "QUEUE_TOKEN_EXPIRED", "QUEUE_TOKEN_NOT_YOURS"]);
const ROOM_NOTICE_STATUSES = new Set(["PAUSED", "SOLD_OUT", "CLOSED"]);

// The headline says where the fan stands; it is not a live region.
const HEADLINES = {
  PRE_QUEUE: "You are in the pre-queue. When the sale opens, everyone in it is put in line in a random order, so there is no need to rush.",
  ACTIVE: "It is your turn!",
  EXPIRED: "You are no longer in the line.",
};

// #notice (role="status") is the one live region for the state: what each
// status means for the fan, said once when the status changes.
const NOTICES = {
  PAUSED: "The sale is paused by the organiser. Nobody is let in for now; you keep your place.",
  SOLD_OUT: "The concert is sold out for now. You keep your place: if a held seat comes back on sale, the line moves again.",
  CLOSED: "The sale is closed. Nobody more is let in.",
  ACTIVE: "Taking you to the seats…",
  EXPIRED: "Your place in line was lost: it timed out, or the organiser ended it.",
};

const CONNECTION_NOTES = {
  live: "",
  reconnecting: "The live connection to the line dropped; reconnecting… What you see may be out of date.",
  polling: "The live connection to the line is not coming back; the page checks your place every so often instead.",
};

export async function showWaiting(scope, concertId) {
  showView("view-wait");
  setText(byId("wait-title"), await concertTitle(concertId));
  if (scope.ended) return;
  const joinAgain = byId("join-again");
  joinAgain.onclick = () => whileBusy(joinAgain, () => joinLine(scope, concertId));
  renderConnection("live");
  const place = placeOf(concertId).read();
  if (!place) {
    renderNotInLine();
    return;
  }
  renderLookingForPlace();
  // What this view follows: the last answer and when it came, the status
  // the notice was last written for, and whether the fan asked to leave.
  const watch = { concertId, view: null, receivedAt: 0, noticeFor: null, leaving: false };
  const leave = byId("leave-line");
  leave.onclick = () => whileBusy(leave, () => leaveLine(scope, watch, place.token));
  scope.every(CLOCK_TICK_MS, () => renderWaitClock(watch));
  followToken(scope, place.token, {
    onView: (view) => onTokenView(watch, view),
    onFinal: (view) => onTokenFinal(watch, view),
    onFailure: (error) => onTokenFailure(watch, error),
    onConnection: renderConnection,
  });
}

function onTokenView(watch, view) {
  if (watch.leaving) return;
  const place = rememberPlace(watch.concertId, view);
  watch.view = view;
  watch.receivedAt = Date.now();
  renderWait(watch, view, place);
  renderWaitClock(watch);
}

function onTokenFinal(watch, view) {
  if (watch.leaving) goTo("#/");
  else if (view.status === "ACTIVE") goTo(seatsHash(watch.concertId));
}

function onTokenFailure(watch, error) {
  renderConnection("live");
  if (!TICKET_LOST.has(error.code)) {
    fail(error);
    return;
  }
  watch.view = null;
  placeOf(watch.concertId).remove();
  // The alert says why; the view says what it means.
  renderNotInLine({ lost: true });
  showError(error);
}

function renderWait(watch, view, place) {
  const { status, position } = view;
  byId("wait").dataset.status = status;
  setText(byId("wait-headline"), waitHeadline(view));
  setText(byId("position"), position === null ? "" : String(position));
  byId("position-fact").hidden = position === null;
  if (watch.noticeFor !== status) {
    setText(byId("notice"), noticeFor(status, watch.noticeFor));
    watch.noticeFor = status;
  }
  renderProgress(status, position, place.firstPosition);
  byId("join-again").hidden = status !== "EXPIRED";
  byId("leave-line").hidden = FINAL_STATUSES.has(status);
}

function waitHeadline({ status, position }) {
  if (HEADLINES[status]) return HEADLINES[status];
  if (position === null) return "You are in the line, waiting for your place to be counted.";
  return `You are number ${position} in line.`;
}

/** What the notice says on a change to `status` from `before` (null: the first answer). */
function noticeFor(status, before) {
  if (NOTICES[status]) return NOTICES[status];
  if (status === "WAITING" && ROOM_NOTICE_STATUSES.has(before)) return "The line is moving again.";
  if (status === "WAITING" && before === "PRE_QUEUE") return "The sale has opened and you have been put in line.";
  return "";
}

/** The progress bar: how far the fan has come from their first place. */
function renderProgress(status, position, firstPosition) {
  const progress = byId("progress");
  const start = firstPosition ?? position ?? 1;
  progress.max = start;
  if (status === "ACTIVE") progress.value = start;
  else progress.value = position === null ? 0 : Math.max(0, start - position);
}

/** The estimate and the pre-queue countdown, counted down between answers. */
function renderWaitClock({ view, receivedAt }) {
  if (!view) return;
  setText(byId("eta"), etaText(view, receivedAt));
  byId("eta-fact").hidden = view.etaSeconds === null;
  const counting = view.status === "PRE_QUEUE" && Boolean(view.saleOpensAt);
  setText(byId("countdown"), counting ? countdownText(msUntil(view.saleOpensAt)) : "");
  byId("countdown-fact").hidden = !counting;
}

function etaText({ etaSeconds, etaRange, expectedAdmissionAt }, receivedAt) {
  if (etaSeconds === null || !expectedAdmissionAt) return "";
  // etaSeconds is counted on the service's clock from its answer; counting
  // it down from when the answer came needs no clock but the local one.
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

function renderConnection(state) {
  setText(byId("wait-connection"), CONNECTION_NOTES[state]);
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
  if (watch.leaving) return;
  try {
    await asFan("DELETE", "/api/v1/queue/tokens/current", { queueToken: ticket });
  } catch (error) {
    if (!scope.ended) fail(error);
    return;
  }
  placeOf(watch.concertId).remove();
  watch.leaving = true;
  setBusy("Leaving the line…");
  // The stream now tells of the ended token and closes; the page goes on
  // then (onTokenFinal), or after the grace when it is polling instead.
  scope.after(LEAVE_GRACE_MS, () => goTo("#/"));
}
