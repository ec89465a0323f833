// Test 4: the last seat sells while a fan waits; their page says so.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, waitFor,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'soldout';
const TITLE = 'One Seat Only';

const env = serverAndBrowser(NAME);

test("a waiting fan's page shows SOLD_OUT and a sold-out notice, without a reload, when the fan ahead buys the last seat", { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const concertId = await api.createConcert({ title: TITLE, dates: 1, seats: 1, price: 70_000 });
  await api.changeRoom(concertId, { maxActive: 1 });

  // The fan ahead is let in through the API and takes the only ACTIVE place.
  const ahead = await api.fan(1001);
  await ahead.join(concertId);
  await ahead.waitActive(concertId);

  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  await signInOnPage(page, 2001);
  await page.locator(`article[data-concert-id="${concertId}"]`).waitFor();
  const marker = await markPage(page);
  await joinOnPage(page, TITLE);
  await page.locator('#wait[data-status="WAITING"]').waitFor();
  await shoot(page, NAME, 'wait');

  // The fan ahead buys the last seat.
  const [{ scheduleId }] = await ahead.schedules(concertId);
  await ahead.charge(100_000);
  const { holdId } = await ahead.hold(concertId, scheduleId, 1);
  await ahead.pay(holdId);
  assert.equal((await api.room(concertId)).soldOut, true, 'the concert is sold out');

  await page.locator('#wait[data-status="SOLD_OUT"]').waitFor({ timeout: 5_000 });
  await waitFor(async () => /sold out/i.test((await page.locator('#notice').textContent()) ?? ''), {
    timeout: 5_000,
    message: '#notice mentioning "sold out"',
  });
  await assertSamePage(page, marker, "the waiting fan's page");
  const statuses = (await trailOf(page)).map((e) => e.status).filter(Boolean);
  assert.ok(statuses.indexOf('WAITING') >= 0 && statuses.indexOf('WAITING') < statuses.indexOf('SOLD_OUT'),
    `the page went from WAITING to SOLD_OUT (statuses: ${statuses})`);
  assert.equal(page.url().endsWith(`#/concerts/${concertId}/wait`), true, `the fan is still on the waiting view (${page.url()})`);
  await shoot(page, NAME, 'wait-sold-out');

  assertClean(fan.problems, { label: "fan's pages" });
  await fan.context.close();
});
