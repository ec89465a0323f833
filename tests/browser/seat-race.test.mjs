// Test 2: two fans click the same seat at the same moment.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, watchedContext, assertClean, shoot, signInOnPage, joinOnPage,
  onSeatsView, seatButton, waitFor,
} from './harness.mjs';

const NAME = 'race';
const CONCERT = 1;
const SEAT = 10;
const OTHER_SEAT = 11;

let server;
let browser;

before(async () => {
  server = await startServer(NAME);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Every POST /api/v1/holds the page makes, with the seat asked for and the status answered. */
function recordHolds(page) {
  const holds = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() === 'POST' && new URL(response.url()).pathname === '/api/v1/holds') {
      holds.push({ seatNumber: request.postDataJSON()?.seatNumber, status: response.status(), at: Date.now() });
    }
  });
  return holds;
}

test('two fans clicking one seat at once: one reaches the checkout, the other is told the seat was taken and gets another', { timeout: 60_000 }, async () => {
  const { api } = server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);

  const fans = [];
  for (const userId of [2001, 2002]) {
    const watched = await watchedContext(browser, server);
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

  // Both click the seat together.
  await Promise.all(fans.map(({ page }) => seatButton(page, SEAT).click()));

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
  assert.ok(message.length > 0, '#error shows a message');
  assert.doesNotMatch(message, /SEAT_ALREADY|[{}]|\b409\b/, `#error's message is plain words, not the code or the body (message: ${message})`);
  assert.match(message, /seat/i, `#error's message is about the seat (message: ${message})`);
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
