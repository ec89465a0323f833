// Test 1: a fan's whole journey in the browser, from sign-in to receipt,
// and another fan's map seeing the sale as it happens; then the same
// checkout with the keyboard alone.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, onSeatsView, seatButton, wonIn, waitFor, accessibleName,
  recordRequests, tabUntil,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'journey';
const CONCERT = 1; // a demo concert: 3 dates x 50 seats
const SEAT = 7;
const FANS_AHEAD = 6;
const KEYBOARD_CONCERT = 2; // another demo concert, admitting at once
const TOKEN_PATH = '/api/v1/queue/tokens/current';
const STREAM_PATH = '/api/v1/queue/tokens/current/events';

/** "150,000 won", as the pages write an amount. */
const won = (amount) => `${amount.toLocaleString('en-US')} won`;

const env = serverAndBrowser(NAME);

test("a fan watches their place, estimate and progress bar move on the event stream (no polling, no reload), is let in, holds a seat, tops up, pays and gets a receipt showing the seat, price and balance left, while another fan sees the seat become SOLD", { timeout: 120_000 }, async () => {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);
  // One admission a round (every second), so the line moves visibly.
  await api.changeRoom(CONCERT, { admitBatch: 1 });

  // The watcher: another fan, admitted first, looking at the same date's map.
  const watcher = await watchedContext(env.browser, env.server);
  const watcherPage = await watcher.newPage();
  await signInOnPage(watcherPage, 3001);
  await joinOnPage(watcherPage, title);
  await onSeatsView(watcherPage, CONCERT);

  // The fan signs in, then fans ahead of them join through the API, then they join.
  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await shoot(page, NAME, 'sign-in', { fullPage: false });
  await signInOnPage(page, 2001, { goto: false });
  await shoot(page, NAME, 'concerts', { fullPage: false });
  for (let i = 0; i < FANS_AHEAD; i++) {
    const ahead = await api.fan(1001 + i);
    await ahead.join(CONCERT);
  }
  const marker = await markPage(page);
  const requests = recordRequests(page);
  const joinedAt = Date.now();
  await joinOnPage(page, title);
  await page.locator('#wait').waitFor();
  await page.getByRole('heading', { name: title }).waitFor();
  await waitFor(async () => /^\d+$/.test(((await page.locator('#position').textContent()) ?? '').trim()), {
    timeout: 5_000,
    message: '#position showing a number',
  });
  assert.equal(await page.locator('#eta').isVisible(), true, '#eta is shown while the fan waits with a position');
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
  const admittedAt = trail.find((e) => e.hash === `#/concerts/${CONCERT}/seats`)?.t;
  assert.ok(admittedAt, 'the seats view came by a hash change');

  // Every WAITING moment with a position had an estimate beside it.
  const waiting = trail.filter((e) => e.hash === waitHash && e.status === 'WAITING' && /^\d+$/.test(e.position ?? ''));
  const noEta = waiting.filter((e) => !e.eta);
  assert.deepEqual(noEta, [], 'no moment WAITING with a position and an empty #eta');
  // The progress bar rose each time the position fell.
  for (let i = 1; i < waiting.length; i++) {
    const [was, now] = [waiting[i - 1], waiting[i]];
    if (Number(now.position) < Number(was.position)) {
      assert.ok(now.progress > was.progress,
        `#progress rose when the position fell from ${was.position} to ${now.position} (value ${was.progress} -> ${now.progress})`);
    }
  }
  assert.ok(waiting.at(-1).progress > waiting[0].progress, `#progress ended higher than it started (${waiting[0].progress} -> ${waiting.at(-1).progress})`);

  // The place came over the event stream: no polls while the page waited.
  const whileWaiting = requests.filter((r) => r.t >= joinedAt && r.t <= admittedAt);
  const streams = whileWaiting.filter((r) => r.type === 'eventsource' && r.pathname === STREAM_PATH);
  assert.ok(streams.length >= 1, `the waiting page opened the token's event stream (requests: ${JSON.stringify(whileWaiting)})`);
  const polls = whileWaiting.filter((r) => r.method === 'GET' && r.pathname === TOKEN_PATH);
  assert.deepEqual(polls, [], `the waiting page made no GET ${TOKEN_PATH} while the stream was open`);
  await shoot(page, NAME, 'seats', { fullPage: false });

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
  await shoot(page, NAME, 'checkout', { fullPage: false });

  // Keep the seat longer, once: the countdown gains two minutes.
  const keepLonger = page.getByRole('button', { name: 'Keep it longer' });
  await keepLonger.click();
  await waitFor(async () => (await secondsLeft()) > startLeft + 100, { timeout: 5_000, message: '#hold-countdown two minutes longer after "Keep it longer"' });
  assert.ok(await keepLonger.isDisabled(), 'a hold is extended once: "Keep it longer" is disabled after');
  assert.match((await page.locator('#hold-warning').textContent()) ?? '', /^Your hold now lasts until /, 'the checkout says until when the hold now lasts');

  // Top up, then pay.
  const [, grade, priceText] = /^Seat \d+, (.+), ([\d,]+) won, available$/.exec(seatName);
  const price = Number(priceText.replace(/,/g, ''));
  assert.equal(await wonIn(page.locator('#balance')), 0, 'a new fan has a balance of 0 won');
  await page.getByLabel('Amount').fill('200000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await waitFor(async () => (await wonIn(page.locator('#balance'))) === 200_000, { message: '#balance showing 200,000 won after the top-up' });
  assert.notEqual(await watched.getAttribute('data-status'), 'SOLD', "the seat is not SOLD on the watcher's map before the payment");
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  const receipt = page.locator('#receipt');
  await receipt.getByRole('heading', { name: 'Receipt' }).waitFor();
  const field = async (id) => ((await page.locator(`#${id}`).textContent()) ?? '').trim();
  const [reservation] = await (await api.fan(2001)).reservations();
  assert.equal(reservation.seatNumber, SEAT);
  assert.equal(reservation.price, price);
  assert.equal(await field('receipt-id'), reservation.reservationId, 'the receipt names the reservation the fan has');
  assert.equal(await field('receipt-seat'), `Seat ${SEAT}, ${grade}`, 'the receipt shows the seat and its grade');
  assert.equal(await field('receipt-price'), won(price), 'the receipt shows the price');
  assert.equal(await field('receipt-balance'), won(200_000 - price), 'the receipt shows the balance left');
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

test('with the keyboard alone, from the seats view: Tab reaches an available seat and Enter holds it, Tab reaches Pay and Enter pays, and the receipt shows that seat', { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === KEYBOARD_CONCERT);
  const userId = 2101;
  const watched = await watchedContext(env.browser, env.server);
  const page = await watched.newPage();
  await signInOnPage(page, userId);
  await joinOnPage(page, title);
  await onSeatsView(page, KEYBOARD_CONCERT);
  await page.locator('#seat-map button[data-status="AVAILABLE"]').first().waitFor();

  // From here on, only the keyboard.
  await tabUntil(page, (el) => el.matches('#seat-map button[data-status="AVAILABLE"]'), { what: 'an available seat' });
  const seat = await page.evaluate(() => ({ number: Number(document.activeElement.dataset.seat), grade: document.activeElement.dataset.grade }));
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Checkout' }).waitFor();
  assert.equal(((await page.locator('#hold-seat').textContent()) ?? '').trim(), `Seat ${seat.number}, ${seat.grade}`, 'the checkout holds the seat Enter was pressed on');

  // The fan's balance, topped up through the API.
  await (await api.fan(userId)).charge(200_000);
  await tabUntil(page, (el) => el.tagName === 'BUTTON' && el.textContent.trim() === 'Pay', { what: 'the Pay button' });
  await page.keyboard.press('Enter');
  await page.locator('#receipt').getByRole('heading', { name: 'Receipt' }).waitFor();
  assert.equal(((await page.locator('#receipt-seat').textContent()) ?? '').trim(), `Seat ${seat.number}, ${seat.grade}`, 'the receipt shows the seat');
  await shoot(page, NAME, 'keyboard-receipt', { fullPage: false });

  assertClean(watched.problems, { label: 'keyboard fan pages' });
  await watched.context.close();
});
