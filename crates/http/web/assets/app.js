// The fan's pages: sign-in, concerts, the waiting page, the seat map,
// checkout and reservations, as hash routes of one page. This module is
// the router; each view is a module of its own under fan/, and
// docs/API.md is the reference for every call they make.
//
// Layout:
// - fan/page.js          route addresses, going to a route, showing a view, the busy line
// - fan/session.js       the access token, calls as the fan, failures, the balance
// - fan/records.js       places in line, the held seat, a pending top-up (sessionStorage)
// - fan/catalog.js       the concerts on offer
// - fan/sign-in.js       sign-in, the account line, sign-out
// - fan/concerts.js      the concert list and joining the line
// - fan/bot-gate.js      asking for a token through the proof of work
// - fan/follow-token.js  a token's event stream, or polling
// - fan/wait.js          the waiting page
// - fan/seats.js         the seat map and holding a seat
// - fan/checkout.js      the checkout, the receipt and the hold banner
// - fan/reservations.js  My reservations
//
// Each view is shown with a fresh scope (dom.js createScope), ended when
// the route changes: what the view started and what it knows live and
// end with it.

import { ApiError } from "./api.js";
import { byId, clearError, createScope, showError } from "./dom.js";
import { renderHoldBanner, showCheckout } from "./fan/checkout.js";
import { showConcerts } from "./fan/concerts.js";
import { setBusy, setRouteRenderer, takeErrorToShow } from "./fan/page.js";
import { showReservations } from "./fan/reservations.js";
import { showSeats } from "./fan/seats.js";
import { endSession, session, sessionHasExpired } from "./fan/session.js";
import { renderAccount, showSignIn, signInWithToken, signInWithUserId, signOut } from "./fan/sign-in.js";
import { showWaiting } from "./fan/wait.js";

const ROUTES = [
  { pattern: /^#?\/?$/, show: showConcerts },
  { pattern: /^#\/concerts\/(\d+)\/wait$/, show: (scope, id) => showWaiting(scope, Number(id)) },
  { pattern: /^#\/concerts\/(\d+)\/seats$/, show: (scope, id) => showSeats(scope, Number(id)) },
  { pattern: /^#\/checkout$/, show: showCheckout },
  { pattern: /^#\/reservations$/, show: showReservations },
];

let viewScope = createScope();

function render() {
  viewScope.end();
  viewScope = createScope();
  clearError();
  setBusy("");
  for (const view of document.querySelectorAll(".view")) view.hidden = true;
  let error = takeErrorToShow();
  const stored = session();
  if (stored && sessionHasExpired(stored)) {
    endSession();
    error ??= new ApiError({ code: "AUTH_EXPIRED", status: 401, message: "" });
  }
  if (error) showError(error);
  if (!session()) {
    showSignIn();
    return;
  }
  const route = ROUTES.find(({ pattern }) => pattern.test(location.hash));
  if (!route) {
    location.replace("#/");
    return;
  }
  renderAccount(viewScope);
  renderHoldBanner();
  route.show(viewScope, ...location.hash.match(route.pattern).slice(1));
}

setRouteRenderer(render);
byId("dev-sign-in").addEventListener("submit", signInWithUserId);
byId("token-sign-in").addEventListener("submit", signInWithToken);
byId("sign-out").addEventListener("click", signOut);
window.addEventListener("hashchange", render);
render();
