// The checkout: the held seat, its countdown (with spoken warnings near
// the end), paying, keeping the seat longer once, releasing, topping up,
// the receipt; and the banner that reminds the fan of their hold on the
// other views.

import { formatClock, formatDateTime, formatTimeOfDay, formatWon, isTransient, newIdempotencyKey } from "../api.js";
import { msUntil, onLocalClock } from "../clock.js";
import { byId, clearError, disableKeepingFocus, focusHeading, setText, whileBusy } from "../dom.js";
import { goTo, seatsHash, setBusy, showView } from "./page.js";
import { hasLivePass, heldSeat, liveHold, pendingTopUp, placeOf } from "./records.js";
import { asFan, fail, showBalance } from "./session.js";

const CLOCK_TICK_MS = 1000;

const HOLD_GONE = new Set(["HOLD_EXPIRED", "HOLD_NOT_FOUND", "HOLD_NOT_LIVE", "HOLD_NOT_OWNED"]);

// Said once each, politely, as the hold's time runs out; nearest first.
const HOLD_WARNINGS = [
  { secs: 10, text: "10 seconds left on your hold." },
  { secs: 60, text: "Less than a minute left: pay now, or the seat goes back on sale." },
];
const HOLD_ENDED = "Your hold has ended and the seat went back on sale.";

// Answers after which the hold cannot be extended (again).
const NOT_EXTENDABLE = new Set(["HOLD_ALREADY_EXTENDED", "HOLD_NOT_EXTENDABLE"]);

export function showCheckout(scope) {
  showView("view-checkout");
  byId("receipt").hidden = true;
  const hold = liveHold();
  byId("no-hold").hidden = Boolean(hold);
  byId("hold-panel").hidden = !hold;
  if (!hold) return;
  // The hold's own lifetime: its countdown stops when it is paid,
  // released or has lapsed, while the view (and its receipt) stays.
  const holdScope = scope.child();
  // The nearest warning said so far, so each is said once.
  const warned = { secs: null };
  renderHold(hold);
  // Read afresh each second: an extension moves the hold's end.
  const tick = () => renderHoldCountdown(holdScope, heldSeat.read() ?? hold, warned);
  holdScope.every(CLOCK_TICK_MS, tick);
  tick();
  const pay = byId("pay");
  pay.onclick = () => whileBusy(pay, () => payForHold(holdScope));
  const extend = byId("extend");
  extend.onclick = () => whileBusy(extend, () => extendHold(holdScope, warned));
  const release = byId("release");
  release.onclick = () => whileBusy(release, () => releaseHold(holdScope));
  const topUpForm = byId("top-up");
  topUpForm.onsubmit = (event) => {
    event.preventDefault();
    whileBusy(topUpForm.querySelector('button[type="submit"]'), topUp);
  };
}

function renderHold(hold) {
  setText(byId("hold-concert"), hold.concertTitle);
  setText(byId("hold-seat"), `Seat ${hold.seatNumber}, ${hold.grade}`);
  setText(byId("hold-date"), holdDateText(hold));
  setText(byId("hold-price"), formatWon(hold.price));
  setText(byId("hold-warning"), "");
  byId("hold-ended").hidden = true;
  byId("pay").disabled = false;
  byId("release").disabled = false;
  byId("extend").disabled = Boolean(hold.extended);
  byId("pick-again").href = seatsHash(hold.concertId);
}

function holdDateText(hold) {
  return hold.startsAt ? `${formatDateTime(hold.startsAt)}, ${hold.venue}` : hold.venue;
}

function renderHoldCountdown(holdScope, hold, warned) {
  const left = msUntil(hold.expiresAt);
  setText(byId("hold-countdown"), formatClock(left));
  if (left <= 0) {
    endHold(holdScope, { announce: true });
    return;
  }
  const warning = HOLD_WARNINGS.find(({ secs }) => left <= secs * 1000);
  if (warning && warned.secs !== warning.secs) {
    warned.secs = warning.secs;
    setText(byId("hold-warning"), warning.text);
  }
}

/**
 * The hold is over: the seat is back on sale and cannot be paid for.
 * `announce` says so in the hold's status line (not when an alert
 * already says why).
 */
function endHold(holdScope, { announce = false } = {}) {
  holdScope.end();
  heldSeat.remove();
  setText(byId("hold-countdown"), formatClock(0));
  setText(byId("hold-warning"), announce ? HOLD_ENDED : "");
  byId("hold-ended").hidden = false;
  // Pay or Release may have the focus: it goes on to the next step.
  const next = byId("pick-again");
  disableKeepingFocus(byId("pay"), next);
  disableKeepingFocus(byId("release"), next);
  disableKeepingFocus(byId("extend"), next);
}

async function payForHold(holdScope) {
  // Read afresh: a refused payment may have given the hold a new key.
  const hold = heldSeat.read();
  if (!hold || holdScope.ended) return;
  clearError();
  setBusy("Paying…");
  try {
    const receipt = await asFan("POST", "/api/v1/payments", { body: { holdId: hold.holdId }, idempotencyKey: hold.paymentKey });
    onPaid(holdScope, hold, receipt);
  } catch (error) {
    onPaymentRefused(holdScope, hold, error);
  } finally {
    setBusy("");
  }
}

function onPaid(holdScope, hold, receipt) {
  holdScope.end();
  heldSeat.remove();
  // A payment ends the fan's token for the concert.
  placeOf(hold.concertId).remove();
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
  focusHeading(section, { scroll: true });
  showBalance(receipt.balance);
}

function onPaymentRefused(holdScope, hold, error) {
  fail(error);
  if (HOLD_GONE.has(error.code)) endHold(holdScope);
  if (error.code === "HOLD_ALREADY_PAID") heldSeat.remove();
  if (error.code === "INSUFFICIENT_BALANCE") {
    // The refusal is recorded under the key and would be replayed even
    // after a top-up; the next attempt is a new request.
    heldSeat.write({ ...hold, paymentKey: newIdempotencyKey() });
    byId("top-up-amount").focus();
  }
}

async function extendHold(holdScope, warned) {
  const hold = heldSeat.read();
  if (!hold || holdScope.ended) return;
  clearError();
  try {
    const extended = await asFan("POST", `/api/v1/holds/${hold.holdId}/extend`);
    heldSeat.write({ ...hold, expiresAt: extended.expiresAt, extended: true });
    // The warnings are said again as the new end nears.
    warned.secs = null;
    disableKeepingFocus(byId("extend"), byId("pay"));
    const until = formatTimeOfDay(onLocalClock(extended.expiresAt));
    setText(byId("hold-warning"), `Your hold now lasts until ${until}.`);
  } catch (error) {
    fail(error);
    if (HOLD_GONE.has(error.code)) endHold(holdScope);
    if (NOT_EXTENDABLE.has(error.code)) disableKeepingFocus(byId("extend"), byId("pay"));
  }
}

async function releaseHold(holdScope) {
  const hold = heldSeat.read();
  if (!hold || holdScope.ended) return;
  clearError();
  try {
    await asFan("DELETE", `/api/v1/holds/${hold.holdId}`);
    holdScope.end();
    heldSeat.remove();
    goTo(hasLivePass(placeOf(hold.concertId).read()) ? seatsHash(hold.concertId) : "#/");
  } catch (error) {
    fail(error);
    if (HOLD_GONE.has(error.code)) endHold(holdScope);
  }
}

async function topUp() {
  const input = byId("top-up-amount");
  const amount = Number(input.value);
  const pending = pendingTopUp.read();
  const key = pending?.amount === amount ? pending.key : newIdempotencyKey();
  pendingTopUp.write({ amount, key });
  clearError();
  setBusy("Topping up…");
  try {
    const { balance } = await asFan("POST", "/api/v1/balance/charge", { body: { amount }, idempotencyKey: key });
    pendingTopUp.remove();
    showBalance(balance);
    input.value = "";
  } catch (error) {
    // Only an answer that may not have been the last word keeps the key.
    if (!isTransient(error) && error.code !== "IDEMPOTENCY_REQUEST_IN_PROGRESS") pendingTopUp.remove();
    fail(error);
  } finally {
    setBusy("");
  }
}

/** The reminder of a live hold, on every view but the checkout. */
export function renderHoldBanner() {
  const hold = liveHold();
  const banner = byId("hold-banner");
  banner.hidden = !hold || location.hash === "#/checkout";
  if (hold) {
    // Said as the fan's own clock will read it when the hold ends.
    const until = formatTimeOfDay(onLocalClock(hold.expiresAt));
    setText(byId("hold-banner-text"), `You are holding seat ${hold.seatNumber} for ${hold.concertTitle} until ${until}.`);
  }
}
