// Test 2: two fans click the same seat at the same moment.
//
// The race is made to happen: while both clicks go out, each page's seat-map
// refresh (every 2 s) is held back, so neither map can turn the seat HELD
// between the winner's hold and the loser's click (which would disable the
// loser's button, and no second hold would be sent).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, shoot, signInOnPage, joinOnPage,
  onSeatsView, seatButton, waitFor,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'race';
const CONCERT = 1;
const SEAT = 10;
const OTHER_SEAT = 11;

const env = serverAndBrowser(NAME);

const SEATS_PATH = /^\/api\/v1\/schedules\/\d+\/seats$/;
const HOLDS_PATH = '/api/v1/holds';

/**
 * Holds back `page`'s seat-map requests while `gate.closed` is set: each
 * one waits, unsent, for `gate.opened`. Counts those let through and not
 * yet answered in `gate.inFlight`, so the race can start once none is.
 */
async function gateSeatRefresh(page, gate) {
  const through = new Set();
  const answered = (request) => {
    if (through.delete(request)) gate.inFlight -= 1;
  };
  page.on('requestfinished', answered);
  page.on('requestfailed', answered);
  await page.route((url) => SEATS_PATH.test(url.pathname), async (route) => {
    if (gate.closed) await gate.opened;
    through.add(route.request());
    gate.inFlight += 1;
    await route.fallback();
  });
}

/**
 * Every POST /api/v1/holds the page makes, as it is sent: the seat asked
 * for, and the status answered (null until the answer comes).
 */
function recordHolds(page) {
  const holds = [];
  const byRequest = new Map();
  page.on('request', (request) => {
    if (request.method() === 'POST' && new URL(request.url()).pathname === HOLDS_PATH) {
      const hold = { seatNumber: request.postDataJSON()?.seatNumber, status: null };
      byRequest.set(request, hold);
      holds.push(hold);
    }
  });
  page.on('response', (response) => {
    const hold = byRequest.get(response.request());
    if (hold) hold.status = response.status();
  });
  return holds;
}

test('two fans clicking one seat at once both send a hold (201 and 409): one reaches the checkout, the other is told "seat {n}" was taken and to pick another, and gets another', { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);

  const fans = [];
  for (const userId of [2001, 2002]) {
    const watched = await watchedContext(env.browser, env.server);
    const page = await watched.newPage();
    const holds = recordHolds(page);
    await signInOnPage(page, userId);
    await joinOnPage(page, title);
    fans.push({ userId, ...watched, page, holds });
  }
  for (const { page } of fans) {
    await onSeatsView(page, CONCERT);
    await seatButton(page, SEAT).and(page.locator('[data-status="AVAILABLE"]')).waitFor();
  }
  await shoot(fans[0].page, NAME, 'seats');

  // Both click the seat together, the seat maps held still until both holds are sent.
  let openGate;
  const gate = { closed: false, opened: new Promise((resolve) => (openGate = resolve)), inFlight: 0 };
  for (const { page } of fans) await gateSeatRefresh(page, gate);
  gate.closed = true;
  // A refresh sent before the gate closed may still repaint the map: let it land first.
  await waitFor(() => gate.inFlight === 0, { timeout: 5_000, message: 'no seat-map request in flight' });
  for (const { page } of fans) {
    await seatButton(page, SEAT).and(page.locator('[data-status="AVAILABLE"]')).waitFor({ timeout: 2_000 });
  }
  try {
    await Promise.all(fans.map(({ page }) => seatButton(page, SEAT).click()));
    await waitFor(() => fans.every(({ holds }) => holds.length === 1), { timeout: 5_000, message: 'both pages sent a hold' });
  } finally {
    gate.closed = false;
    openGate();
  }

  const outcome = async ({ page }) => {
    if (await page.getByRole('heading', { name: 'Checkout' }).isVisible()) return 'checkout';
    const error = page.locator('#error');
    if ((await error.isVisible()) && (await error.getAttribute('data-code'))) return 'refused';
    return null;
  };
  const outcomes = await waitFor(async () => {
    const both = await Promise.all(fans.map(outcome));
    return both.every(Boolean) ? both : null;
  }, { timeout: 10_000, message: 'each page at the checkout or showing #error' });
  assert.deepEqual([...outcomes].sort(), ['checkout', 'refused'], `exactly one fan reaches the checkout (outcomes: ${outcomes})`);

  // The race happened: both holds reached the service, for the same seat.
  await waitFor(() => fans.every(({ holds }) => holds.every((h) => h.status !== null)), { message: 'both holds answered' });
  for (const { userId, holds } of fans) {
    assert.equal(holds.length, 1, `fan ${userId}'s page asked for one hold (holds: ${JSON.stringify(holds)})`);
    assert.equal(holds[0].seatNumber, SEAT);
  }
  assert.deepEqual(fans.map((f) => f.holds[0].status).sort(), [201, 409], 'one hold was placed and one refused with 409');

  const winner = fans[outcomes.indexOf('checkout')];
  const loser = fans[outcomes.indexOf('refused')];
  const error = loser.page.locator('#error');
  const code = await error.getAttribute('data-code');
  assert.ok(['SEAT_ALREADY_HELD', 'SEAT_ALREADY_SOLD'].includes(code), `#error data-code is SEAT_ALREADY_HELD or SEAT_ALREADY_SOLD, not ${code}`);
  assert.equal(await error.getAttribute('role'), 'alert', '#error is an alert');
  const message = ((await error.textContent()) ?? '').trim();
  assert.doesNotMatch(message, /SEAT_ALREADY|[{}]|\b409\b/, `#error's message is plain words, not the code or the body (message: ${message})`);
  assert.match(message, new RegExp(`\\bseat ${SEAT}\\b`, 'i'), `#error's message names seat ${SEAT} (message: ${message})`);
  assert.ok(message.includes('Pick another seat'), `#error's message says "Pick another seat" (message: ${message})`);
  await shoot(winner.page, NAME, 'checkout-winner');
  await shoot(loser.page, NAME, 'refused');

  // The loser picks another seat and reaches the checkout.
  await onSeatsView(loser.page, CONCERT);
  await seatButton(loser.page, OTHER_SEAT).and(loser.page.locator('[data-status="AVAILABLE"]')).click();
  await loser.page.getByRole('heading', { name: 'Checkout' }).waitFor();
  assert.deepEqual(loser.holds.map((h) => [h.seatNumber, h.status]), [[SEAT, 409], [OTHER_SEAT, 201]]);
  await shoot(loser.page, NAME, 'checkout-second-pick');

  assertClean(winner.problems, { label: "winner's pages" });
  // Chromium logs the refused hold as "Failed to load resource: ... 409"; that one refusal is expected.
  assertClean(loser.problems, {
    label: "loser's pages",
    allowConsole: [{ url: /\/api\/v1\/holds$/, text: /status of 409/ }],
  });
  for (const { context } of fans) await context.close();
});
