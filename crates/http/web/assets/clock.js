// The service's clock, as the page can tell it. Holds, passes, sessions
// and sale openings end at instants of the service's clock; the local
// clock may be minutes off, so every countdown and every "has it ended?"
// goes through serviceNow() instead of Date.now().
//
// Each answer bounds the offset (service minus local) from both sides: its
// `Date` header is the service's time, to the second, at some moment
// between the request leaving and the answer coming back. The page keeps
// the intersection of those bounds, so a few answers pin the offset well
// under a second. Bounds that no longer meet mean a clock was set: the
// newest one is kept.

const STORAGE_KEY = "boxoffice.clock";

// The offset is known to lie in [low, high] ms; unbounded before any answer.
let low = -Infinity;
let high = Infinity;
restore();

/**
 * Notes that the service's clock read from `serviceMs` to `serviceMs +
 * resolutionMs` at a moment the local clock put between `sentAt` and
 * `receivedAt` (either may be unknown: pass -Infinity or Infinity).
 */
export function noteServiceTime(serviceMs, resolutionMs, sentAt, receivedAt) {
  const sampleLow = serviceMs - receivedAt;
  const sampleHigh = serviceMs + resolutionMs - sentAt;
  if (Number.isNaN(sampleLow) || Number.isNaN(sampleHigh)) return;
  const nextLow = Math.max(low, sampleLow);
  const nextHigh = Math.min(high, sampleHigh);
  if (nextLow <= nextHigh) {
    low = nextLow;
    high = nextHigh;
  } else {
    low = sampleLow;
    high = sampleHigh;
  }
  save();
}

/** Service time minus local time, in ms: the best guess so far. */
function offsetMs() {
  if (Number.isFinite(low) && Number.isFinite(high)) return (low + high) / 2;
  if (Number.isFinite(low)) return low;
  if (Number.isFinite(high)) return high;
  return 0;
}

/**
 * Now, on the service's clock, in epoch ms, at the latest it may read: a
 * countdown to a deadline then never shows more time than is left, and
 * ends no later than the service's deadline does (at worst a moment early).
 */
function latestServiceNow() {
  return Date.now() + (Number.isFinite(high) ? high : offsetMs());
}

/** Milliseconds from now until a service instant (negative once past). */
export function msUntil(instant) {
  return Date.parse(instant) - latestServiceNow();
}

/** Whether a service instant has come; a missing one never does. */
export function hasPassed(instant) {
  return Boolean(instant) && msUntil(instant) <= 0;
}

/** A service instant as the local clock will show it, in epoch ms. */
export function onLocalClock(instant) {
  return Date.parse(instant) - offsetMs();
}

// Kept for the tab, so a reload judges a hold by the service's clock
// before its first answer has come.
function restore() {
  try {
    const kept = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? "null");
    if (Number.isFinite(kept?.low) && Number.isFinite(kept?.high)) ({ low, high } = kept);
  } catch {
    // Nothing kept, or unreadable: start unbounded.
  }
}

function save() {
  if (!Number.isFinite(low) || !Number.isFinite(high)) return;
  try {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ low, high }));
  } catch {
    // Storage full or refused: the estimate lives on in memory.
  }
}
