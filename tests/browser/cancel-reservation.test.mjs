// A fan cancels a paid seat from My reservations: the question names the
// refund and the fee, "Keep it" sends nothing, and confirming refunds the
// price to the balance and puts the seat back on sale.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, shoot, signInOnPage, recordRequests, wonIn, waitFor,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'cancel';
const TITLE = 'Second Thoughts';
const PRICE = 70_000;
const TOP_UP = 100_000;

const env = serverAndBrowser(NAME);

test('on My reservations a fan is asked with the refund and fee named; "Keep it" sends nothing; confirming refunds the price to the balance shown, marks the row cancelled, and the seat can be held by another fan', { timeout: 60_000 }, async () => {
  const { api } = env.server;
  // A month off, so no fee tier applies: the whole price comes back.
  const concertId = await api.createConcert({ title: TITLE, dates: 1, seats: 1, price: PRICE });
  const buyer = await api.fan(4001);
  await buyer.join(concertId);
  await buyer.waitActive(concertId);
  const [{ scheduleId }] = await buyer.schedules(concertId);
  await buyer.charge(TOP_UP);
  const { holdId } = await buyer.hold(concertId, scheduleId, 1);
  const { reservationId } = await buyer.pay(holdId);
  assert.equal((await api.room(concertId)).soldOut, true, 'the only seat is sold');

  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  await signInOnPage(page, 4001);
  await page.goto('/#/reservations');
  const row = page.locator(`tr[data-reservation="${reservationId}"]`);
  await row.and(page.locator('[data-status="CONFIRMED"]')).waitFor();
  assert.equal(await wonIn(page.locator('#balance')), TOP_UP - PRICE, 'the header shows the balance after the purchase');
  const requests = recordRequests(page);
  const cancelPath = `/api/v1/reservations/${reservationId}/cancel`;
  const button = page.getByRole('button', { name: `Cancel seat 1 of ${TITLE} for a refund of 70,000 won` });

  // Asked, then kept: the dialog names the money, and nothing is sent.
  await button.click();
  const dialog = page.getByRole('dialog', { name: 'Cancel this reservation?' });
  await dialog.waitFor();
  const question = (await page.locator('#confirm-text').textContent()) ?? '';
  assert.match(question, /70,000 won goes back to your balance/, `the question names the refund (${question})`);
  assert.match(question, /0 won is kept as the cancellation fee/, `the question names the fee (${question})`);
  await shoot(page, NAME, 'question');
  await page.getByRole('button', { name: 'Keep it' }).click();
  await dialog.waitFor({ state: 'hidden' });
  assert.deepEqual(requests.filter((r) => r.pathname === cancelPath), [], '"Keep it" sent no cancellation');
  assert.equal((await buyer.reservations())[0].status, 'CONFIRMED', 'the reservation is still confirmed');

  // Asked again, and confirmed.
  await button.click();
  await dialog.waitFor();
  await page.getByRole('button', { name: 'Cancel it for a refund' }).click();
  await row.and(page.locator('[data-status="CANCELLED"]')).waitFor({ timeout: 5_000 });
  const notice = (await page.locator('#reservations-notice').textContent()) ?? '';
  assert.match(notice, /70,000 won refunded/, `the notice says what was refunded (${notice})`);
  assert.match((await row.textContent()) ?? '', /70,000 won refunded, 0 won fee/, 'the row shows the refund and the fee');
  await waitFor(async () => (await wonIn(page.locator('#balance'))) === TOP_UP, { message: `#balance showing ${TOP_UP}` });
  assert.equal(await page.getByRole('button', { name: /^Cancel seat/ }).count(), 0, 'a cancelled reservation offers no Cancel button');
  assert.equal(requests.filter((r) => r.pathname === cancelPath && r.method === 'POST').length, 1, 'one cancellation was sent');
  await shoot(page, NAME, 'cancelled');

  // The service agrees: refunded once, the seat on sale again.
  const [listed] = await buyer.reservations();
  assert.equal(listed.status, 'CANCELLED');
  assert.equal(listed.refund, PRICE);
  assert.equal(listed.fee, 0);
  assert.equal((await buyer.balance()).balance, TOP_UP);
  const next = await api.fan(4002);
  await next.join(concertId);
  await next.waitActive(concertId);
  const hold = await next.hold(concertId, scheduleId, 1);
  assert.ok(hold.holdId, 'another fan holds the returned seat');

  assertClean(fan.problems, { label: "fan's pages" });
  await fan.context.close();
});
