// The seat map: the concert's dates, each date's seats by grade (refreshed
// every 2 s while shown, and at once after a refusal), and holding a seat.

import { formatClock, formatDateTime, formatWon, isTransient, newIdempotencyKey, retryDelayMs } from "../api.js";
import { msUntil } from "../clock.js";
import { byId, clearError, clearErrorOf, disableKeepingFocus, el, setText, showError, untilAnswered } from "../dom.js";
import { concertTitle } from "./catalog.js";
import { goTo, setBusy, showView, waitHash } from "./page.js";
import { heldSeat, hasLivePass, placeOf } from "./records.js";
import { renderHoldBanner } from "./checkout.js";
import { asFan, fail } from "./session.js";

const SEAT_REFRESH_MS = 2000;
const CLOCK_TICK_MS = 1000;

const PASS_REFUSALS = new Set([
  "QUEUE_TOKEN_REQUIRED",
  "QUEUE_TOKEN_INVALID",
  "QUEUE_TOKEN_EXPIRED",
  "QUEUE_TOKEN_NOT_ACTIVE",
  "QUEUE_TOKEN_NOT_YOURS",
  "QUEUE_TOKEN_WRONG_CONCERT",
]);

export async function showSeats(scope, concertId) {
  showView("view-seats");
  const place = placeOf(concertId).read();
  if (!hasLivePass(place)) {
    location.replace(waitHash(concertId));
    return;
  }
  setText(byId("seats-title"), await concertTitle(concertId));
  let schedules;
  try {
    schedules = await untilAnswered(scope, () => asFan("GET", `/api/v1/concerts/${concertId}/schedules`, { queueToken: place.admissionPass }));
  } catch (error) {
    if (!scope.ended) onBookingRefused(concertId, error);
    return;
  }
  if (scope.ended) return;
  const keptDate = schedules.some((s) => s.scheduleId === place.scheduleId) ? place.scheduleId : null;
  // What this showing of the map knows: the dates, the one shown, whether
  // a hold is under way, the refresh (to run it at once) and the passing
  // failure it last showed.
  const map = { scope, concertId, schedules, scheduleId: keptDate ?? schedules[0]?.scheduleId, holding: false, refresh: null, failure: null };
  renderDates(map);
  scope.every(CLOCK_TICK_MS, () => renderPassLeft(place));
  renderPassLeft(place);
  map.refresh = scope.repeat(SEAT_REFRESH_MS, () => loadSeats(map));
  byId("seat-map").onclick = (event) => {
    const button = event.target.closest("button[data-seat]");
    if (button && !button.disabled) holdSeat(map, { seatNumber: Number(button.dataset.seat), grade: button.dataset.grade });
  };
}

function renderPassLeft(place) {
  const left = msUntil(place.admissionPassExpiresAt);
  setText(byId("pass-left"), left > 0 ? `Your turn lasts ${formatClock(left)} more: pick a seat and hold it.` : "Your turn is ending.");
}

function renderDates(map) {
  const buttons = map.schedules.map((schedule) => el(
    "button",
    {
      type: "button",
      class: "date-button",
      "data-schedule-id": schedule.scheduleId,
      "aria-pressed": String(schedule.scheduleId === map.scheduleId),
      onclick: () => selectDate(map, schedule.scheduleId),
    },
    el("span", { class: "date-when" }, formatDateTime(schedule.startsAt)),
    el("span", { class: "visually-hidden" }, ", "),
    el("span", { class: "date-venue" }, schedule.venue),
    schedule.cancelledAt ? el("span", { class: "date-venue" }, "Called off by the organiser") : null,
  ));
  byId("dates").replaceChildren(...buttons);
}

function selectDate(map, scheduleId) {
  map.scheduleId = scheduleId;
  const place = placeOf(map.concertId).read();
  if (place) placeOf(map.concertId).write({ ...place, scheduleId });
  for (const button of byId("dates").children) {
    button.setAttribute("aria-pressed", String(Number(button.dataset.scheduleId) === scheduleId));
  }
  map.refresh.now();
}

/** One refresh of the map; returns how long to wait when the service asked for a pause. */
async function loadSeats(map) {
  const { scope, concertId, scheduleId } = map;
  if (!scheduleId) return undefined;
  const place = placeOf(concertId).read();
  try {
    const seats = await asFan("GET", `/api/v1/schedules/${scheduleId}/seats`, { queueToken: place?.admissionPass });
    // A slow answer for a date the fan has since left is not shown.
    if (scope.ended || map.scheduleId !== scheduleId) return undefined;
    clearErrorOf(map.failure);
    renderSeatMap(scheduleId, seats);
  } catch (error) {
    if (scope.ended) return undefined;
    if (!isTransient(error)) {
      onBookingRefused(concertId, error);
      return undefined;
    }
    showError(error);
    map.failure = error;
    return Math.max(SEAT_REFRESH_MS, retryDelayMs(error));
  }
  return undefined;
}

/** A refused booking call: a refused pass sends the fan back to the line. */
function onBookingRefused(concertId, error) {
  if (!PASS_REFUSALS.has(error.code)) {
    fail(error);
    return;
  }
  const record = placeOf(concertId);
  const place = record.read();
  // The ticket stays: the waiting page learns from it whether the place lives on.
  if (place) record.write({ ...place, admissionPass: null, admissionPassExpiresAt: null });
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
  const seatMap = byId("seat-map");
  if (seatMap.dataset.scheduleId !== String(scheduleId) || seatMap.querySelectorAll(".seat").length !== seats.length) {
    buildSeatMap(seatMap, scheduleId, seats);
  }
  for (const seat of seats) {
    updateSeatButton(seatMap.querySelector(`[data-seat="${seat.seatNumber}"]`), seat);
  }
}

/** Lays the seats out once per date, in runs of one grade, so updates keep focus. */
function buildSeatMap(seatMap, scheduleId, seats) {
  const ranks = gradeRanks(seats);
  const bands = [];
  for (const seat of seats) {
    const band = bands.at(-1);
    if (band?.grade === seat.grade) band.seats.push(seat);
    else bands.push({ grade: seat.grade, price: seat.price, seats: [seat] });
  }
  seatMap.dataset.scheduleId = String(scheduleId);
  seatMap.replaceChildren(...bands.map((band, index) => seatBand(band, index, ranks.get(band.grade).rank)));
  renderGradeLegend(ranks);
}

/** A run of seats of one grade: a group named by its label. */
function seatBand({ grade, price, seats }, index, rank) {
  const labelId = `seat-band-${index}`;
  return el(
    "div",
    { class: `seat-band grade-${rank}`, role: "group", "aria-labelledby": labelId },
    el("p", { class: "band-label", id: labelId }, `${grade} · ${formatWon(price)}`),
    el("div", { class: "seat-row" }, seats.map((seat) => el(
      "button",
      { type: "button", class: "seat", "data-seat": seat.seatNumber, "data-grade": seat.grade },
      String(seat.seatNumber),
    ))),
  );
}

function updateSeatButton(button, seat) {
  const status = seat.status;
  button.dataset.status = status;
  button.setAttribute("aria-label", `Seat ${seat.seatNumber}, ${seat.grade}, ${formatWon(seat.price)}, ${status.toLowerCase()}`);
  // A seat taken while it has the focus (just refused, or someone else
  // was quicker) hands the focus to the map's heading, not to the page.
  if (status === "AVAILABLE") button.disabled = false;
  else disableKeepingFocus(button, byId("seats-heading"));
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

async function holdSeat(map, seat) {
  if (map.holding) return;
  const { scope, concertId, scheduleId } = map;
  const place = placeOf(concertId).read();
  map.holding = true;
  clearError();
  setBusy(`Holding seat ${seat.seatNumber}…`);
  try {
    const hold = await asFan("POST", "/api/v1/holds", {
      body: { scheduleId, seatNumber: seat.seatNumber },
      queueToken: place?.admissionPass,
    });
    await keepHold(map, hold, seat);
    if (!scope.ended) goTo("#/checkout");
  } catch (error) {
    if (!scope.ended) onHoldRefused(map, seat, error);
  } finally {
    map.holding = false;
    if (!scope.ended) setBusy("");
  }
}

async function keepHold(map, hold, seat) {
  const schedule = map.schedules.find((s) => s.scheduleId === hold.scheduleId);
  heldSeat.write({
    ...hold,
    concertId: map.concertId,
    concertTitle: await concertTitle(map.concertId),
    grade: seat.grade,
    startsAt: schedule?.startsAt ?? null,
    venue: schedule?.venue ?? "",
    // One key for every payment attempt of this hold, so a repeated click
    // or a retry after a lost answer never pays twice.
    paymentKey: newIdempotencyKey(),
  });
}

function onHoldRefused(map, seat, error) {
  if (PASS_REFUSALS.has(error.code)) {
    onBookingRefused(map.concertId, error);
    return;
  }
  fail(error, { seat: seat.seatNumber });
  if (error.code === "HOLD_LIMIT_REACHED") renderHoldBanner();
  // The map may be out of date: show what is true now rather than in 2 s.
  map.refresh.now();
}
