// Signing in (with a user id in the development mode, or with a pasted
// access token), the account line in the header, and signing out.

import { ApiError, request } from "../api.js";
import { byId, clearError, setText, showError, whileBusy } from "../dom.js";
import { goTo, showView } from "./page.js";
import { forgetFan } from "./records.js";
import { claimsOf, refreshBalance, session, startSession } from "./session.js";

export function showSignIn() {
  byId("account").hidden = true;
  byId("hold-banner").hidden = true;
  showView("view-sign-in");
}

export function signInWithUserId(event) {
  event.preventDefault();
  const form = event.currentTarget;
  return whileBusy(submitButton(form), async () => {
    clearError();
    const userId = Number(byId("user-id-input").value);
    try {
      const created = await request("POST", "/api/v1/dev/sessions", { body: { userId } });
      startSession(created.accessToken, created.expiresAt);
    } catch (error) {
      showError(error);
    }
  });
}

export function signInWithToken(event) {
  event.preventDefault();
  const form = event.currentTarget;
  return whileBusy(submitButton(form), async () => {
    clearError();
    const accessToken = byId("access-token-input").value.trim();
    const claims = claimsOf(accessToken);
    if (!claims?.sub) {
      showError(new ApiError({ code: "TOKEN_UNREADABLE", status: 0, message: "" }));
      return;
    }
    try {
      // The service is the judge of the token: one call as its fan proves it.
      await request("GET", "/api/v1/balance", { headers: { Authorization: `Bearer ${accessToken}` } });
    } catch (error) {
      showError(error);
      return;
    }
    const expiresAt = typeof claims.exp === "number" ? new Date(claims.exp * 1000).toISOString() : null;
    startSession(accessToken, expiresAt);
  });
}

export function signOut() {
  forgetFan();
  goTo("#/");
}

/** The header's "Signed in as" and balance, read afresh for each view. */
export function renderAccount(scope) {
  setText(byId("signed-in-as"), `Signed in as ${session().userId}`);
  byId("account").hidden = false;
  refreshBalance(scope);
}

function submitButton(form) {
  return form.querySelector('button[type="submit"]');
}
