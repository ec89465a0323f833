// Test 1: a fan's whole journey in the browser, from sign-in to receipt,
// and another fan's map seeing the sale as it happens.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, onSeatsView, seatButton, wonIn, waitFor, accessibleName,
} from './harness.mjs';

const NAME = 'journey';
const CONCERT = 1; // a demo concert: 3 dates x 50 seats
const SEAT = 7;
const FANS_AHEAD = 6;

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

test('a fan watches their place fall without a reload, is let in, holds a seat, tops up, pays and gets a receipt, while another fan sees the seat become SOLD', { timeout: 60_000 }, async () => {
  const { api } = server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);
  // One admission a round (every second), so the line moves visibly.
  await api.changeRoom(CONCERT, { admitBatch: 1 });

  // The watcher: another fan, admitted first, looking at the same date's map.
  const watcher = await watchedContext(browser, server);
  const watcherPage = await watcher.newPage();
  await signInOnPage(watcherPage, 3001);
  await joinOnPage(watcherPage, title);
  await onSeatsView(watcherPage, CONCERT);

  // The fan signs in, then fans ahead of them join through the API, then they join.
  const fan = await watchedContext(browser, server);
  const page = await fan.newPage();
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await shoot(page, NAME, 'sign-in');
  await signInOnPage(page, 2001, { goto: false });
  await shoot(page, NAME, 'concerts');
  for (let i = 0; i < FANS_AHEAD; i++) {
    const ahead = await api.fan(1001 + i);
    await ahead.join(CONCERT);
  }
  const marker = await markPage(page);
  await joinOnPage(page, title);
  await page.locator('#wait').waitFor();
  await page.getByRole('heading', { name: title }).waitFor();
  await waitFor(async () => /^\d+$/.test(((await page.locator('#position').textContent()) ?? '').trim()), {
    timeout: 5_000,
    message: '#position showing a number',
  });
  await shoot(page, NAME, 'wait');

  // Admitted: the page goes to the seats view by itself.
  await onSeatsView(page, CONCERT, { timeout: 30_000 });
  await assertSamePage(page, marker, 'fan page while waiting');
  const trail = await trailOf(page);
  const waitHash = `#/concerts/${CONCERT}/wait`;
  const positions = trail
    .filter((e) => e.hash === waitHash && e.status === 'WAITING' && /^\d+$/.test(e.position ?? ''))
    .map((e) => Number(e.position));
  assert.ok(positions.length > 0, `the waiting view showed a position (trail: ${JSON.stringify(trail)})`);
  const [first] = positions;
  assert.ok(first >= 3, `the fan started at position >= 3, not ${first} (positions: ${positions})`);
  const lower = [...new Set(positions.filter((p) => p < first))];
  assert.ok(lower.length >= 2, `at least two positions below ${first} were shown before admission (positions: ${positions})`);
  for (let i = 1; i < positions.length; i++) {
    assert.ok(positions[i] <= positions[i - 1], `the position never went up (positions: ${positions})`);
  }
  assert.ok(trail.some((e) => e.hash === `#/concerts/${CONCERT}/seats`), 'the seats view came by a hash change');
  await shoot(page, NAME, 'seats');

  // The watcher's map, loaded before the sale, is watched for the change.
  const watcherMarker = await markPage(watcherPage);
  const watched = seatButton(watcherPage, SEAT);
  assert.equal(await watched.getAttribute('data-status'), 'AVAILABLE', `seat ${SEAT} is on sale on the watcher's map before the fan picks it`);

  // Pick the seat: the hold, the checkout and its ticking countdown.
  const seat = page.getByRole('button', { name: new RegExp(`^Seat ${SEAT}, `) });
  const seatName = await accessibleName(seat);
  assert.match(seatName ?? '', new RegExp(`^Seat ${SEAT}, .+, [\\d,]+ won, available$`), 'the seat is named "Seat {n}, {grade}, {price} won, available"');
  await seat.click();
  await page.getByRole('heading', { name: 'Checkout' }).waitFor();
  const countdown = page.locator('#hold-countdown');
  const secondsLeft = async () => {
    const m = /(\d+):(\d{2})/.exec((await countdown.textContent()) ?? '');
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const startLeft = await waitFor(secondsLeft, { timeout: 5_000, message: '#hold-countdown showing mm:ss' });
  assert.ok(startLeft > 240 && startLeft <= 300, `the hold starts with about 5 minutes left, not ${startLeft} s`);
  await waitFor(async () => (await secondsLeft()) < startLeft, { timeout: 3_000, message: '#hold-countdown ticking down' });
  await shoot(page, NAME, 'checkout');

  // Top up, then pay.
  const price = Number(/([\d,]+) won/.exec(seatName)[1].replace(/,/g, ''));
  assert.equal(await wonIn(page.locator('#balance')), 0, 'a new fan has a balance of 0 won');
  await page.getByLabel('Amount').fill('200000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await waitFor(async () => (await wonIn(page.locator('#balance'))) === 200_000, { message: '#balance showing 200,000 won after the top-up' });
  assert.notEqual(await watched.getAttribute('data-status'), 'SOLD', "the seat is not SOLD on the watcher's map before the payment");
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  const receipt = page.locator('#receipt');
  await receipt.getByRole('heading', { name: 'Receipt' }).waitFor();
  const receiptText = (await receipt.textContent()) ?? '';
  const reservationId = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/.exec(receiptText)?.[0];
  assert.ok(reservationId, `the receipt shows the reservation id (receipt: ${receiptText})`);
  const [reservation] = await (await api.fan(2001)).reservations();
  assert.equal(reservation.reservationId, reservationId, 'the receipt names the reservation the fan has');
  assert.equal(reservation.seatNumber, SEAT);
  assert.equal(reservation.price, price);
  assert.match(receiptText, new RegExp(`\\b${SEAT}\\b`), 'the receipt shows the seat');
  assert.match(receiptText, new RegExp((200_000 - price).toLocaleString('en-US')), 'the receipt shows the balance left');
  await shoot(page, NAME, 'receipt');
  await assertSamePage(page, marker, 'fan page through the checkout');

  // The watcher's map shows the seat SOLD, without a reload.
  await watcherPage.locator(`#seat-map button[data-seat="${SEAT}"][data-status="SOLD"]`).waitFor({ timeout: 6_000 });
  assert.equal(await watched.isDisabled(), true, 'a SOLD seat is disabled');
  await assertSamePage(watcherPage, watcherMarker, "watcher's map");
  await shoot(watcherPage, NAME, 'seats-sold');

  assertClean(fan.problems, { label: 'fan pages' });
  assertClean(watcher.problems, { label: "watcher's pages" });
  await fan.context.close();
  await watcher.context.close();
});
