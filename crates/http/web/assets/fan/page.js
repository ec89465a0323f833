// The page around the fan's views: the addresses of its routes, going to
// one (with an error to show there), showing a view, and the busy line.

import { byId, focusHeading, setText } from "../dom.js";

export const waitHash = (concertId) => `#/concerts/${concertId}/wait`;
export const seatsHash = (concertId) => `#/concerts/${concertId}/seats`;

// Set by the router (app.js): shows the view of the current hash.
let renderRoute = () => {};
// The error a navigation brings to the view it goes to, taken once.
let errorToShow = null;

/** Tells this module how to show the current route (the router calls it once). */
export function setRouteRenderer(render) {
  renderRoute = render;
}

/** Goes to a route, then shows `error` there. Going to the route shown renders it afresh. */
export function goTo(hash, error = null) {
  errorToShow = error;
  if (location.hash === hash) renderRoute();
  else location.hash = hash;
}

/** The error the last navigation brought, if any; asking again gives null. */
export function takeErrorToShow() {
  const error = errorToShow;
  errorToShow = null;
  return error;
}

/** Shows one view's section and moves the keyboard and screen readers to its heading. */
export function showView(id) {
  const view = byId(id);
  view.hidden = false;
  focusHeading(view);
}

/** The page's "working on it" line (a polite status). */
export function setBusy(text) {
  setText(byId("busy"), text);
}
