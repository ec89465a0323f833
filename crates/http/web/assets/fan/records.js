// What the tab keeps of the fan besides the session, in sessionStorage so
// a reload keeps it: each concert's place (queue ticket and admission
// pass), the seat being held, and a top-up whose answer has not come.

import { sessionJson } from "../api.js";
import { hasPassed } from "../clock.js";
import { endSession, session } from "./session.js";

const PLACE_KEY_PREFIX = "boxoffice.token.";
const HOLD_KEY = "boxoffice.hold";
const TOP_UP_KEY = "boxoffice.topUp";

/**
 * One record of the signed-in fan. It carries the fan's id, so another
 * fan signing in on the same tab never reads (or sends) it.
 */
function fansRecord(key) {
  return {
    read() {
      const record = sessionJson.read(key);
      return record && record.userId === session()?.userId ? record : null;
    },
    write(value) {
      sessionJson.write(key, { ...value, userId: session().userId });
    },
    remove() {
      sessionJson.remove(key);
    },
  };
}

/** The fan's place for a concert: `{token, admissionPass, admissionPassExpiresAt, firstPosition, scheduleId}`. */
export const placeOf = (concertId) => fansRecord(PLACE_KEY_PREFIX + concertId);

/** The seat the fan holds: the hold as the API gave it, with what the checkout shows and its payment key. */
export const heldSeat = fansRecord(HOLD_KEY);

/**
 * The top-up being tried, `{amount, key}`: its key is kept until the
 * service has answered it for sure, so a retry after a lost answer (even
 * after a reload) cannot charge twice.
 */
export const pendingTopUp = fansRecord(TOP_UP_KEY);

/** Keeps what a token answer says about the fan's place, and returns the place. */
export function rememberPlace(concertId, view) {
  const record = placeOf(concertId);
  const known = record.read();
  const sameTicket = known?.token === view.token;
  record.write({
    token: view.token,
    // The answer is the truth about the pass: ACTIVE carries it, and any
    // other status has none. An EXPIRED answer (the time ran out, an
    // operator ended the admission) must not leave the old pass behind.
    admissionPass: view.admissionPass ?? null,
    admissionPassExpiresAt: view.admissionPassExpiresAt ?? null,
    firstPosition: Math.max(sameTicket ? known.firstPosition ?? 0 : 0, view.position ?? 0) || null,
    // The date last looked at, so coming back to the seats shows it again.
    scheduleId: sameTicket ? known.scheduleId ?? null : null,
  });
  return record.read();
}

/** Whether the place carries a pass that has not ended, by the service's clock. */
export function hasLivePass(place) {
  return Boolean(place?.admissionPass) && !hasPassed(place.admissionPassExpiresAt);
}

/** The fan's hold, or null once it has ended by the service's clock. */
export function liveHold() {
  const hold = heldSeat.read();
  if (hold && hasPassed(hold.expiresAt)) {
    heldSeat.remove();
    return null;
  }
  return hold;
}

/** Forgets everything of the fan who signs out: a ticket is useless without its fan. */
export function forgetFan() {
  endSession();
  heldSeat.remove();
  pendingTopUp.remove();
  for (const key of Object.keys(sessionStorage)) {
    if (key.startsWith(PLACE_KEY_PREFIX)) sessionJson.remove(key);
  }
}
