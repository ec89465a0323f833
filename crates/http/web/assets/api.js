// What the fan's pages and the operator's console share: calling the API
// through its envelope, a plain message for every error code, the session
// storage the pages keep, and how numbers, times and durations are shown.

import { noteServiceTime } from "./clock.js";

/** A refused or failed API call, with what the pages branch on. */
export class ApiError extends Error {
  constructor({ code, status, message, retryAfter = null, challenge = null, requestId = null }) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.retryAfter = retryAfter;
    // The bot gate's refusals carry a fresh challenge to solve.
    this.challenge = challenge;
    // The service's x-request-id: the operator finds the request's log lines by it.
    this.requestId = requestId;
  }
}

/**
 * Calls the API and returns the envelope's `data` (null for a 204).
 * Failures, from the API or the network, throw an ApiError.
 */
export async function request(method, path, { body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  const sentAt = Date.now();
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError({ code: "NETWORK_ERROR", status: 0, message: "the request did not reach the service" });
  }
  noteDateHeader(response, sentAt, Date.now());
  if (response.status === 204) return null;
  const envelope = await readEnvelope(response);
  if (response.ok && envelope.code === "SUCCESS") return envelope.data;
  throw new ApiError({
    code: envelope.code,
    status: response.status,
    message: envelope.message,
    retryAfter: retryAfterSecs(response),
    challenge: envelope.challenge ?? null,
    requestId: envelope.requestId ?? response.headers.get("x-request-id"),
  });
}

async function readEnvelope(response) {
  try {
    const envelope = await response.json();
    if (typeof envelope?.code === "string") return envelope;
  } catch {
    // Not JSON: a proxy's error page, say. Reported as unexpected below.
  }
  return { code: "UNEXPECTED_RESPONSE", message: `the service answered ${response.status} without its envelope` };
}

/** Every answer's `Date` (to the second) tells the page the service's time. */
function noteDateHeader(response, sentAt, receivedAt) {
  const date = Date.parse(response.headers.get("Date") ?? "");
  if (Number.isFinite(date)) noteServiceTime(date, 1000, sentAt, receivedAt);
}

function retryAfterSecs(response) {
  const secs = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  return Number.isFinite(secs) ? secs : null;
}

/** The error codes a page may show, by how they are put to a person. */
const MESSAGES = {
  MALFORMED_JSON: "The page sent a request the service could not read. Reload the page and try again.",
  INVALID_REQUEST_BODY: "The page sent a request the service did not understand. Reload the page and try again.",
  VALIDATION_FAILED: "A value given is not allowed.",
  INVALID_PATH_PARAMETER: "This address points to something that cannot exist. Go back to the concerts and try again.",
  INVALID_CLIENT_ID: "The sign-in gateway passed on an unusable user id. Sign in again.",
  INVALID_IDEMPOTENCY_KEY: "The page made a request with a broken safety key. Reload the page and try again.",
  DUPLICATE_HEADER: "The request was garbled on its way to the service. Try again; if it keeps happening, contact support.",
  AUTH_REQUIRED: "Please sign in first.",
  AUTH_INVALID: "Your sign-in was not accepted. Sign in again.",
  AUTH_EXPIRED: "Your sign-in has expired. Sign in again to continue.",
  CLIENT_ID_REQUIRED: "Please sign in first.",
  QUEUE_TOKEN_REQUIRED: "You need a place in the line for this. Join the line first.",
  QUEUE_TOKEN_INVALID: "Your place in the line is no longer known (the service may have restarted). Join the line again.",
  QUEUE_TOKEN_EXPIRED: "Your turn has ended. Join the line again to pick a seat.",
  ADMIN_KEY_INVALID: "That admin key or admin token was not accepted.",
  QUEUE_TOKEN_NOT_ACTIVE: "It is not your turn yet. Wait in the line until you are let in.",
  QUEUE_TOKEN_NOT_YOURS: "This place in the line belongs to another account. Join the line as yourself.",
  QUEUE_TOKEN_WRONG_CONCERT: "Your place in the line is for another concert. Join the line for this one.",
  HOLD_NOT_OWNED: "That seat is held by someone else.",
  PROOF_OF_WORK_REQUIRED: "Your browser did not pass the automatic check. Try joining again.",
  PROOF_OF_WORK_EXPIRED: "The automatic check took too long. Try joining again.",
  PROOF_OF_WORK_REPLAYED: "The automatic check had already been used. Try joining again.",
  ADMIN_DISABLED: "The operator's console is switched off on this service: it has no admin key and no admin role set up.",
  ADMIN_ROLE_REQUIRED: "This token is valid, but it does not carry the admin role.",
  DEV_SIGN_IN_DISABLED: "Signing in with a user id is switched off on this service. Use an access token from your identity provider instead.",
  NOT_FOUND: "The service does not offer what the page asked for. It may need an update.",
  CONCERT_NOT_FOUND: "That concert does not exist (any more).",
  SCHEDULE_NOT_FOUND: "That date is not on sale (any more).",
  SEAT_NOT_FOUND: "That seat does not exist on this date.",
  HOLD_NOT_FOUND: "That seat hold no longer exists.",
  RESERVATION_NOT_FOUND: "That reservation does not exist.",
  RESERVATION_NOT_OWNED: "That reservation belongs to someone else.",
  DEAD_LETTER_NOT_FOUND: "That dead letter no longer exists.",
  ADMISSION_NOT_FOUND: "That fan has no place in the line for this concert.",
  LOTTERY_NOT_DRAWN: "The pre-queue has not been drawn yet.",
  METHOD_NOT_ALLOWED: "The page asked the service for something in a way it does not accept. Reload the page.",
  SALE_NOT_OPEN: ({ preQueueOpensAt }) => (preQueueOpensAt
    ? `This sale has not opened yet. Its pre-queue opens ${formatDateTime(preQueueOpensAt)}.`
    : "This sale has not opened yet."),
  SALE_CLOSED: "The sale for this concert is closed.",
  SOLD_OUT: "This concert is sold out.",
  SEAT_ALREADY_HELD: ({ seat }) => `Someone else has just taken seat ${seat ?? ""}. Pick another seat.`,
  SEAT_ALREADY_SOLD: ({ seat }) => `Seat ${seat ?? ""} has just been sold. Pick another seat.`,
  TOO_MANY_SEATS: "That is more seats than one order may take. Pick fewer seats.",
  HOLD_LIMIT_REACHED: "You are already holding a seat. Pay for it or release it before picking another.",
  UNFUNDED_HOLD_LIMIT_REACHED: "Your balance is empty. Top up before holding another seat.",
  PURCHASE_LIMIT_REACHED: "You have as many tickets for this concert as one fan may have.",
  TOO_MANY_LAPSED_HOLDS: "You have let too many holds lapse lately. Try again a little later.",
  SCHEDULE_NOT_SOLD_OUT: "Seats of this date are still on sale: hold one instead of joining the waiting list.",
  NOT_ON_WAITLIST: "You are not waiting on this date's list.",
  SCHEDULE_CANCELLED: "The organiser has called this date off. Any seat you bought for it is refunded in full to your balance.",
  SCHEDULE_ON_SALE: "That date is already on sale: its time and venue can no longer change.",
  HOLD_NOT_LIVE: "This hold has already ended, been paid or been released.",
  HOLD_ALREADY_EXTENDED: "You have already extended this hold once.",
  HOLD_NOT_EXTENDABLE: "This hold cannot be extended any further.",
  HOLD_EXPIRED: "Your hold has ended and the seat went back on sale.",
  HOLD_ALREADY_PAID: "This seat is already paid for. You will find it under My reservations.",
  RESERVATION_ALREADY_CANCELLED: "This reservation has already been cancelled and refunded.",
  CANCELLATION_CLOSED: "It is too close to the show to cancel this reservation.",
  INSUFFICIENT_BALANCE: "Your balance does not cover the price. Top up first.",
  BALANCE_LIMIT_EXCEEDED: "That top-up would take your balance over its limit.",
  IDEMPOTENCY_REQUEST_IN_PROGRESS: "Your earlier request is still being handled. Wait a moment and try again; nothing will happen twice.",
  DEAD_LETTER_ALREADY_REPLAYED: "That dead letter has already been replayed.",
  DEAD_LETTER_REPLAY_IN_PROGRESS: "Another operator is replaying that dead letter right now. Refresh in a moment to see how it went.",
  ROOM_TRANSITION_INVALID: "The room cannot make that change from the state it is in.",
  ROOM_CHANGED_CONCURRENTLY: "Someone else changed the room at the same moment. Look at the room again and retry.",
  REQUEST_TIMEOUT: "The connection was too slow to send your request. Nothing changed; try again.",
  PAYLOAD_TOO_LARGE: "What was sent is too large.",
  URI_TOO_LONG: "The page asked for an address that is too long. Reload the page.",
  UNSUPPORTED_MEDIA_TYPE: "The page sent a request in a form the service does not accept. Reload the page.",
  IDEMPOTENCY_KEY_REUSED: "The page reused a safety key for a different request. Reload the page and try again.",
  RATE_LIMITED: ({ retryAfter }) => `Too many requests. Wait ${retryAfter ?? 1} s and try again.`,
  HEADERS_TOO_LARGE: "The browser sent too much with its request (often too many cookies). Clear this site's cookies and reload.",
  INTERNAL_ERROR: "Something went wrong on our side. Try again in a moment.",
  DELIVERY_FAILED: "The event could not be delivered this time either; it stays in the list for a later try.",
  SERVICE_UNAVAILABLE: "The service is busy or briefly unavailable. Try again in a moment.",
  // Failures of the page itself, not codes of the API.
  NETWORK_ERROR: "Could not reach the service. Check your connection and try again.",
  UNEXPECTED_RESPONSE: "The service gave an answer the page did not understand. Try again in a moment.",
  BROWSER_CHECK_UNSUPPORTED: "This browser cannot run the automatic check on this connection (it needs HTTPS).",
  TOKEN_UNREADABLE: "That does not look like an access token. Paste the whole token.",
};

// The service's own message names specifics these plain messages cannot
// (which setting, which states, the limit), so it is shown with them.
const WITH_SERVICE_DETAIL = new Set([
  "VALIDATION_FAILED",
  "AUTH_INVALID",
  "BALANCE_LIMIT_EXCEEDED",
  "ROOM_TRANSITION_INVALID",
  "DELIVERY_FAILED",
]);

/**
 * The plain message for an error. `context` fills in what the code's
 * message names (`seat`, `preQueueOpensAt`); the error's own `retryAfter`
 * is used too.
 */
export function describeError(error, context = {}) {
  const code = error?.code ?? "UNEXPECTED_RESPONSE";
  const entry = MESSAGES[code] ?? MESSAGES.UNEXPECTED_RESPONSE;
  const plain = typeof entry === "function" ? entry({ retryAfter: error.retryAfter, ...context }) : entry;
  return WITH_SERVICE_DETAIL.has(code) && error.message ? `${plain} Details: ${error.message}.` : plain;
}

/** Whether retrying the same call later may succeed. */
export function isTransient(error) {
  return ["NETWORK_ERROR", "SERVICE_UNAVAILABLE", "RATE_LIMITED", "INTERNAL_ERROR", "UNEXPECTED_RESPONSE"].includes(error?.code);
}

/** How long to wait before retrying a transient failure, in ms. */
export function retryDelayMs(error) {
  return error.code === "RATE_LIMITED" ? (error.retryAfter ?? 1) * 1000 : 3000;
}

/** A fresh Idempotency-Key. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  // randomUUID exists only in secure contexts; getRandomValues everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** JSON values in sessionStorage: a reload keeps them, a new tab does not. */
export const sessionJson = {
  read(key) {
    try {
      return JSON.parse(sessionStorage.getItem(key) ?? "null");
    } catch {
      return null;
    }
  },
  write(key, value) {
    sessionStorage.setItem(key, JSON.stringify(value));
  },
  remove(key) {
    sessionStorage.removeItem(key);
  },
};

const wholeNumber = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
const dateTime = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "short" });
const dateTimeSeconds = new Intl.DateTimeFormat("en", { dateStyle: "medium", timeStyle: "medium" });
const timeOfDay = new Intl.DateTimeFormat("en", { timeStyle: "short" });

/** 200000 -> "200,000 won". */
export function formatWon(amount) {
  return `${wholeNumber.format(amount)} won`;
}

/** 12345 -> "12,345". */
export function formatCount(count) {
  return wholeNumber.format(count);
}

/** An API timestamp (or epoch ms) in the reader's time zone. */
export function formatDateTime(instant, { seconds = false } = {}) {
  if (instant === null || instant === undefined) return "";
  return (seconds ? dateTimeSeconds : dateTime).format(new Date(instant));
}

/** The time of day of an instant, in the reader's time zone. */
export function formatTimeOfDay(instant) {
  return timeOfDay.format(new Date(instant));
}

/** Milliseconds left as a clock: "04:05", or "1:02:03" past an hour. */
export function formatClock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = String(Math.floor((total % 3600) / 60)).padStart(2, "0");
  const seconds = String(total % 60).padStart(2, "0");
  return hours > 0 ? `${hours}:${minutes}:${seconds}` : `${minutes}:${seconds}`;
}

/** A rough span of time for people: "40 s", "3 min", "1 h 20 min". */
export function formatSpan(secs) {
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  const minutes = Math.round((s % 3600) / 60);
  return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${Math.floor(s / 3600)} h`;
}

/** A range of spans, the unit said once when both ends share it: "20-40 s". */
export function formatSpanRange(lowSecs, highSecs) {
  const low = formatSpan(lowSecs);
  const high = formatSpan(highSecs);
  const [lowNumber, lowUnit] = splitUnit(low);
  const [highNumber, highUnit] = splitUnit(high);
  return lowUnit !== null && lowUnit === highUnit ? `${lowNumber}-${highNumber} ${highUnit}` : `${low} to ${high}`;
}

function splitUnit(span) {
  const match = /^(\d+) (s|min)$/.exec(span);
  return match ? [match[1], match[2]] : [span, null];
}
