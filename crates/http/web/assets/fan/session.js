// The signed-in fan: their access token in sessionStorage, calls made as
// them, what a refused sign-in does, and their balance in the header.

import { request, formatWon, sessionJson } from "../api.js";
import { hasPassed } from "../clock.js";
import { byId, failureHandler, setText, untilAnswered } from "../dom.js";
import { goTo } from "./page.js";

const SESSION_KEY = "boxoffice.session";

const SIGN_IN_FAILURES = new Set(["AUTH_REQUIRED", "AUTH_INVALID", "AUTH_EXPIRED", "CLIENT_ID_REQUIRED"]);

/** The signed-in fan (`{accessToken, expiresAt, userId}`), or null. */
export function session() {
  const stored = sessionJson.read(SESSION_KEY);
  return stored?.accessToken ? stored : null;
}

/** Whether a kept session has run out, by the service's clock. */
export function sessionHasExpired(stored) {
  return hasPassed(stored.expiresAt);
}

/** The claims of a JWT, read without checking it (the service checks it). */
export function claimsOf(jwt) {
  try {
    const payload = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

/** Keeps a new session and shows the route the fan asked for. */
export function startSession(accessToken, expiresAt) {
  const sub = claimsOf(accessToken)?.sub;
  sessionJson.write(SESSION_KEY, { accessToken, expiresAt, userId: String(sub) });
  goTo(location.hash);
}

export function endSession() {
  sessionJson.remove(SESSION_KEY);
}

/** A call as the signed-in fan. */
export function asFan(method, path, { body, queueToken, idempotencyKey } = {}) {
  const headers = { Authorization: `Bearer ${session()?.accessToken ?? ""}` };
  if (queueToken) headers["Queue-Token"] = queueToken;
  if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
  return request(method, path, { body, headers });
}

/**
 * Shows a failure in #error; a refused sign-in first ends the session,
 * which shows the sign-in view in place of the current one.
 */
export const fail = failureHandler(SIGN_IN_FAILURES, () => {
  endSession();
  goTo(location.hash);
});

/** The fan's balance, wherever the page shows it. */
export function showBalance(balance) {
  const text = formatWon(balance);
  setText(byId("balance"), text);
  setText(byId("checkout-balance"), text);
}

/** Reads the balance for the header, trying again while `scope` lasts if the service is briefly away. */
export async function refreshBalance(scope) {
  try {
    const { balance } = await untilAnswered(scope, () => asFan("GET", "/api/v1/balance"));
    if (!scope.ended) showBalance(balance);
  } catch (error) {
    if (!scope.ended) fail(error);
  }
}
