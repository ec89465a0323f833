// The concert list, each concert's sale state (refreshed while shown), and
// joining the line, which the waiting view's "Join again" uses too.

import { formatDateTime, request } from "../api.js";
import { hasPassed } from "../clock.js";
import { byId, clearError, el, setText, untilAnswered, whileBusy } from "../dom.js";
import { requestToken } from "./bot-gate.js";
import { loadCatalog } from "./catalog.js";
import { goTo, setBusy, showView, waitHash } from "./page.js";
import { placeOf, rememberPlace } from "./records.js";
import { fail } from "./session.js";

const SALE_STATE_REFRESH_MS = 5000;

const ROOM_REFUSALS = new Set(["SALE_CLOSED", "SOLD_OUT", "SALE_NOT_OPEN"]);

export async function showConcerts(scope) {
  showView("view-concerts");
  let catalog;
  try {
    catalog = await untilAnswered(scope, () => loadCatalog({ fresh: true }));
  } catch (error) {
    if (!scope.ended) fail(error);
    return;
  }
  if (scope.ended) return;
  const concerts = [...catalog.values()];
  // What this showing of the list knows: the rooms last read, by concert
  // id (a refused join says from them when the pre-queue opens), and
  // whether a join is under way (one at a time, whichever button).
  const list = { rooms: new Map(), joining: false };
  byId("concert-list").replaceChildren(...concerts.map((concert) => concertCard(scope, list, concert)));
  scope.repeat(SALE_STATE_REFRESH_MS, () => refreshSaleStates(list, concerts));
}

function concertCard(scope, list, concert) {
  const join = el(
    "button",
    { type: "button" },
    "Join the line",
    el("span", { class: "visually-hidden" }, ` for ${concert.title}`),
  );
  join.addEventListener("click", () => onJoin(scope, list, concert.concertId, join));
  return el(
    "article",
    { class: "concert-card panel", "data-concert-id": concert.concertId },
    el("h2", {}, concert.title),
    el("p", { class: "artist" }, concert.artist),
    el("p", { class: "sale-state", "data-state": "UNKNOWN" }, "Checking the sale…"),
    join,
  );
}

async function onJoin(scope, list, concertId, button) {
  if (list.joining) return;
  list.joining = true;
  try {
    await whileBusy(button, () => joinLine(scope, concertId, { preQueueOpensAt: list.rooms.get(concertId)?.preQueueOpensAt }));
  } finally {
    list.joining = false;
  }
}

async function refreshSaleStates(list, concerts) {
  await Promise.all(concerts.map(async ({ concertId }) => {
    const label = document.querySelector(`[data-concert-id="${concertId}"] .sale-state`);
    try {
      const room = await request("GET", `/api/v1/concerts/${concertId}/room`);
      list.rooms.set(concertId, room);
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
  const preQueueOpen = !room.preQueueOpensAt || hasPassed(room.preQueueOpensAt);
  return preQueueOpen
    ? { state: "PRE_QUEUE", text: `Pre-queue open, opens ${opens}` }
    : { state: "SCHEDULED", text: `Opens ${opens}` };
}

/**
 * Asks for a place in the line and goes to the waiting view, unless the
 * fan has left `scope`'s view meanwhile. `context` fills in a refusal's
 * message (`preQueueOpensAt`).
 */
export async function joinLine(scope, concertId, context = {}) {
  clearError();
  setBusy("Joining the line…");
  try {
    const view = await requestToken(scope, concertId);
    // The place is the fan's even when they have gone elsewhere meanwhile:
    // coming back to the line shows it.
    rememberPlace(concertId, view);
    if (!scope.ended) goTo(waitHash(concertId));
  } catch (error) {
    if (scope.ended) return;
    // A room taking no new tokens says so even to fans already in line;
    // those keep their place, which the waiting page follows.
    if (ROOM_REFUSALS.has(error.code) && placeOf(concertId).read()) goTo(waitHash(concertId), error);
    else fail(error, context);
  } finally {
    if (!scope.ended) setBusy("");
  }
}
