// My reservations: what the fan has bought, newest first, and cancelling
// one for a refund while its date still allows it.

import { formatDateTime, formatWon, newIdempotencyKey } from "../api.js";
import { byId, clearError, confirmInDialog, el, moveFocus, setText, untilAnswered, whileBusy } from "../dom.js";
import { showView } from "./page.js";
import { asFan, fail, showBalance } from "./session.js";

export async function showReservations(scope) {
  showView("view-reservations");
  setText(byId("reservations-notice"), "");
  // A question left open must not cancel anything once the fan has moved on.
  scope.onEnd(() => {
    const dialog = byId("confirm");
    if (dialog.open) dialog.close("cancel");
  });
  await listReservations(scope);
}

async function listReservations(scope) {
  let reservations;
  try {
    reservations = await untilAnswered(scope, () => asFan("GET", "/api/v1/reservations"));
  } catch (error) {
    if (!scope.ended) fail(error);
    return;
  }
  if (scope.ended) return;
  byId("no-reservations").hidden = reservations.length > 0;
  byId("reservations").hidden = reservations.length === 0;
  byId("reservation-rows").replaceChildren(...reservations.map((r) => reservationRow(scope, r)));
}

function reservationRow(scope, reservation) {
  return el(
    "tr",
    { "data-reservation": reservation.reservationId, "data-status": reservation.status },
    el("td", {}, `${reservation.title} (${reservation.artist})`),
    el("td", {}, `${formatDateTime(reservation.startsAt)}, ${reservation.venue}`),
    el("td", {}, String(reservation.seatNumber)),
    el("td", { class: "number" }, formatWon(reservation.price)),
    el("td", {}, formatDateTime(reservation.confirmedAt)),
    el("td", { class: "mono" }, reservation.reservationId),
    el("td", {}, statusText(reservation)),
    el("td", {}, cancelControl(scope, reservation)),
  );
}

function statusText(reservation) {
  if (reservation.status === "CANCELLED") {
    return `Cancelled ${formatDateTime(reservation.cancelledAt)}: ${formatWon(reservation.refund)} refunded, ${formatWon(reservation.fee)} fee`;
  }
  if (reservation.dateCancelledAt) {
    return "Confirmed, but the organiser called this date off: it is being refunded in full";
  }
  return "Confirmed";
}

/** A Cancel button while the date allows it; after the deadline, when it passed. */
function cancelControl(scope, reservation) {
  if (reservation.status !== "CONFIRMED") return null;
  const offer = reservation.refundIfCancelledNow;
  if (!offer) return `Cancellation closed ${formatDateTime(reservation.cancellableUntil)}`;
  const button = el("button", { type: "button", class: "button-quiet" }, "Cancel");
  button.setAttribute("aria-label", `Cancel seat ${reservation.seatNumber} of ${reservation.title} for a refund of ${formatWon(offer.refund)}`);
  button.addEventListener("click", () => whileBusy(button, () => cancel(scope, reservation, offer, button)));
  return button;
}

async function cancel(scope, reservation, offer, button) {
  const question =
    `Seat ${reservation.seatNumber} of ${reservation.title}, ${formatDateTime(reservation.startsAt)}: ` +
    `${formatWon(offer.refund)} goes back to your balance and ${formatWon(offer.fee)} is kept as the cancellation fee. ` +
    `The seat goes back on sale and cannot be had back.`;
  const confirmed = await confirmInDialog(question);
  if (!confirmed || scope.ended) {
    if (!scope.ended) moveFocus(button);
    return;
  }
  // One key for the whole attempt: a retry after a lost answer refunds once.
  const idempotencyKey = newIdempotencyKey();
  const path = `/api/v1/reservations/${encodeURIComponent(reservation.reservationId)}/cancel`;
  try {
    const done = await untilAnswered(scope, () => asFan("POST", path, { idempotencyKey }));
    if (scope.ended) return;
    clearError();
    showBalance(done.balance);
    setText(
      byId("reservations-notice"),
      `Cancelled seat ${done.seatNumber}: ${formatWon(done.refund)} refunded (fee ${formatWon(done.fee)}). Your balance is ${formatWon(done.balance)}.`,
    );
  } catch (error) {
    if (scope.ended) return;
    fail(error);
  }
  // Whatever the answer, show the reservations as they now are.
  await listReservations(scope);
  if (!scope.ended) moveFocus(byId("reservations-notice").textContent ? byId("reservations-notice") : byId("reservations"));
}
