// Following a queue token: its event stream while that works, polling
// when it does not. Every answer also bounds the service's clock.

import { isTransient, retryDelayMs } from "../api.js";
import { noteServiceTime } from "../clock.js";
import { clearErrorOf, showError } from "../dom.js";
import { asFan, session } from "./session.js";

const FINAL_STATUSES = new Set(["ACTIVE", "EXPIRED"]);
// How long to let a token stream end by itself after its final event.
const FINAL_EVENT_GRACE_MS = 1000;
// A rough guess used when a waiting token's answer names no poll interval.
const DEFAULT_POLL_SECS = 5;
// EventSource retries a dropped connection by itself, every few seconds and
// for ever. After this many failures in a row with no connection between,
// the page stops it and polls instead, which says what is wrong.
const STREAM_FAILURES_BEFORE_POLLING = 3;

export { FINAL_STATUSES };

/**
 * Follows the token on its event stream, or by polling when streams fail.
 * Handlers:
 * - `onView(view)`: every answer;
 * - `onFinal(view)`: the ACTIVE or EXPIRED one, once nothing more will come;
 * - `onFailure(error)`: a lasting refusal; nothing more will come;
 * - `onConnection(state)`: "live", "reconnecting" (answers may be late)
 *   or "polling" (the stream was given up).
 */
export function followToken(scope, ticket, handlers) {
  if (typeof EventSource === "function") streamToken(scope, ticket, handlers);
  else pollToken(scope, ticket, handlers);
}

function streamToken(scope, ticket, handlers) {
  // EventSource cannot send headers; the API takes both credentials in the query.
  const query = new URLSearchParams({ token: ticket, access_token: session().accessToken });
  const source = new EventSource(`/api/v1/queue/tokens/current/events?${query}`);
  scope.onEnd(() => source.close());
  let final = null;
  let failures = 0;
  // The service ends the stream right after its final event. Closing it
  // then, not before, saves EventSource's reconnect without cutting the
  // request off; the grace covers a stream that lingers.
  const finish = () => {
    if (source.readyState === EventSource.CLOSED) return;
    source.close();
    handlers.onFinal(final);
  };
  // Polls at once, then every pollAfterSecs: a poll says what is wrong.
  const fallBackToPolling = () => {
    source.close();
    handlers.onConnection("polling");
    pollToken(scope, ticket, handlers);
  };
  const onEvent = (event) => {
    const view = JSON.parse(event.data);
    noteEstimatedClock(view, Date.now());
    handlers.onView(view);
    if (!FINAL_STATUSES.has(view.status)) return;
    final = view;
    scope.after(FINAL_EVENT_GRACE_MS, finish);
  };
  source.addEventListener("open", () => {
    failures = 0;
    handlers.onConnection("live");
  });
  source.addEventListener("status", onEvent);
  source.addEventListener("position", onEvent);
  source.addEventListener("error", () => {
    if (scope.ended) return;
    if (final) {
      finish();
      return;
    }
    // CLOSED: EventSource gave up (a refusal it cannot read, such as a 401).
    if (source.readyState === EventSource.CLOSED) {
      fallBackToPolling();
      return;
    }
    // CONNECTING: the connection dropped or could not be made, and
    // EventSource is trying again.
    failures += 1;
    if (failures >= STREAM_FAILURES_BEFORE_POLLING) fallBackToPolling();
    else handlers.onConnection("reconnecting");
  });
}

/** Polls the token now and then every `pollAfterSecs`. */
function pollToken(scope, ticket, handlers) {
  let failure = null;
  const poll = async () => {
    try {
      const view = await asFan("GET", "/api/v1/queue/tokens/current", { queueToken: ticket });
      if (scope.ended) return;
      noteEstimatedClock(view, Date.now());
      clearErrorOf(failure);
      handlers.onView(view);
      if (FINAL_STATUSES.has(view.status)) handlers.onFinal(view);
      else scope.after((view.pollAfterSecs ?? DEFAULT_POLL_SECS) * 1000, poll);
    } catch (error) {
      if (scope.ended) return;
      if (!isTransient(error)) {
        handlers.onFailure(error);
        return;
      }
      showError(error);
      failure = error;
      scope.after(retryDelayMs(error), poll);
    }
  };
  poll();
}

/**
 * An estimate bounds the service's clock from below: `etaSeconds` is
 * `expectedAdmissionAt` less the service's time when it was worked out,
 * rounded up to the second, and that was before the answer came. (Stream
 * events have no `Date` header to read.)
 */
function noteEstimatedClock({ etaSeconds, expectedAdmissionAt }, receivedAt) {
  if (etaSeconds === null || etaSeconds === undefined || !expectedAdmissionAt) return;
  const workedOutAtLeast = Date.parse(expectedAdmissionAt) - etaSeconds * 1000;
  noteServiceTime(workedOutAtLeast, 1000, -Infinity, receivedAt);
}
