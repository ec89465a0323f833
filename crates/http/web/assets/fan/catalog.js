// The concerts on offer, read once per visit (titles and artists do not
// change during a sale) and again whenever the concert list is shown.

import { request } from "../api.js";

let catalog = null;

/** The concerts by id; `fresh` reads them again. */
export async function loadCatalog({ fresh = false } = {}) {
  if (!catalog || fresh) {
    const concerts = await request("GET", "/api/v1/concerts");
    catalog = new Map(concerts.map((concert) => [concert.concertId, concert]));
  }
  return catalog;
}

/** A concert's title, or a stand-in when the catalog cannot be read. */
export async function concertTitle(concertId) {
  try {
    return (await loadCatalog()).get(concertId)?.title ?? `Concert ${concertId}`;
  } catch {
    return `Concert ${concertId}`;
  }
}
