// My reservations: what the fan has bought, newest first.

import { formatDateTime, formatWon } from "../api.js";
import { byId, el, untilAnswered } from "../dom.js";
import { showView } from "./page.js";
import { asFan, fail } from "./session.js";

export async function showReservations(scope) {
  showView("view-reservations");
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
