// Test 6: the waiting page without its event stream (it polls, as often as
// the service says), and before a scheduled sale (the countdown ticks).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, onSeatsView, waitFor,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'waiting';
const CONCERT = 1; // a demo concert: 3 dates x 50 seats
// Far enough back that the first estimate is over 20 s, so the service
// says to poll every 2 s (a tenth of the wait), not the 1 s of the front.
const FANS_AHEAD = 24;
const TOKEN_PATH = '/api/v1/queue/tokens/current';
const STREAM_PATH = '/api/v1/queue/tokens/current/events';
// How early or late a poll may come against the pollAfterSecs it follows
// (event timestamps in Node jitter by some tens of ms; a loaded machine
// answers late).
const EARLY_MARGIN_MS = 300;
const LATE_MARGIN_MS = 2_500;

const env = serverAndBrowser(NAME);

/**
 * Every GET /api/v1/queue/tokens/current the page makes: when it was sent
 * (Date.now()), and the answer's status, position and pollAfterSecs (null
 * until it comes).
 */
function recordPolls(page) {
  const polls = [];
  const byRequest = new Map();
  page.on('request', (request) => {
    if (request.method() === 'GET' && new URL(request.url()).pathname === TOKEN_PATH) {
      const poll = { t: Date.now(), answered: false, status: null, position: null, pollAfterSecs: null };
      byRequest.set(request, poll);
      polls.push(poll);
    }
  });
  page.on('response', async (response) => {
    const poll = byRequest.get(response.request());
    if (!poll) return;
    const { data } = await response.json().catch(() => ({ data: null }));
    Object.assign(poll, { answered: true, status: data?.status ?? null, position: data?.position ?? null, pollAfterSecs: data?.pollAfterSecs ?? null });
  });
  return polls;
}

test('when the event stream answers 503, the waiting page polls no sooner than each pollAfterSecs the service gives (and not much later), shows its place falling, and is let in', { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);
  await api.changeRoom(CONCERT, { admitBatch: 1 });
  for (let i = 0; i < FANS_AHEAD; i++) await (await api.fan(1001 + i)).join(CONCERT);

  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  let streamsRefused = 0;
  await page.route((url) => url.pathname === STREAM_PATH, async (route) => {
    streamsRefused += 1;
    await route.fulfill({
      status: 503,
      contentType: 'application/json',
      body: JSON.stringify({ code: 'SERVICE_UNAVAILABLE', message: 'refused by the test', data: null }),
    });
  });
  const polls = recordPolls(page);
  await signInOnPage(page, 2001);
  const marker = await markPage(page);
  await joinOnPage(page, title);

  // A 2 s answer followed by the next poll: the page keeps to what it is told.
  await waitFor(() => polls.slice(0, -1).some((p) => p.pollAfterSecs >= 2), {
    timeout: 15_000,
    message: 'a poll answered pollAfterSecs >= 2, and the poll after it',
  });
  await shoot(page, NAME, 'wait-polling', { fullPage: false });
  // Then the line speeds up, so the fan is let in soon.
  await api.changeRoom(CONCERT, { admitBatch: 5 });
  await onSeatsView(page, CONCERT, { timeout: 30_000 });
  await assertSamePage(page, marker, 'the polling fan page');

  assert.ok(streamsRefused >= 1, 'the page asked for the event stream first');
  const answered = polls.filter((p) => p.answered);
  assert.ok(answered.length >= 3, `the page polled at least 3 times (polls: ${JSON.stringify(polls)})`);
  for (let i = 1; i < polls.length; i++) {
    const { pollAfterSecs } = polls[i - 1];
    if (pollAfterSecs === null) continue;
    const gap = polls[i].t - polls[i - 1].t;
    assert.ok(gap >= pollAfterSecs * 1000 - EARLY_MARGIN_MS,
      `poll ${i + 1} came ${gap} ms after poll ${i}, which said pollAfterSecs ${pollAfterSecs} (polls: ${JSON.stringify(polls)})`);
    assert.ok(gap <= pollAfterSecs * 1000 + LATE_MARGIN_MS,
      `poll ${i + 1} came ${gap} ms after poll ${i}, which said pollAfterSecs ${pollAfterSecs}: late by more than ${LATE_MARGIN_MS} ms`);
  }
  assert.equal(polls.at(-1).status, 'ACTIVE', 'the last poll answered ACTIVE');

  const positions = (await trailOf(page))
    .filter((e) => e.hash === `#/concerts/${CONCERT}/wait` && e.status === 'WAITING' && /^\d+$/.test(e.position ?? ''))
    .map((e) => Number(e.position));
  const [first] = positions;
  const lower = new Set(positions.filter((p) => p < first));
  assert.ok(lower.size >= 2, `at least two positions below ${first} were shown (positions: ${positions})`);
  for (let i = 1; i < positions.length; i++) {
    assert.ok(positions[i] <= positions[i - 1], `the position never went up (positions: ${positions})`);
  }

  // The refused stream is the test's own doing: Chromium logs it and it is a 503.
  assertClean(fan.problems, {
    label: 'the polling fan page',
    allowConsole: [{ url: /\/api\/v1\/queue\/tokens\/current\/events\?/, text: /status of 503/ }],
    allowServerErrors: [{ url: /\/api\/v1\/queue\/tokens\/current\/events\?/, status: 503 }],
  });
  await fan.context.close();
});

test("in a scheduled sale's pre-queue the waiting page shows PRE_QUEUE and a countdown to saleOpensAt that falls by the second", { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const title = 'Opens In Forty Seconds';
  const concertId = await api.createConcert({ title, seats: 10 });
  // The pre-queue opens 30 minutes before the sale by default: it is open now.
  const saleOpensAt = Date.now() + 40_000;
  await api.changeRoom(concertId, { state: 'SCHEDULED', saleOpensAt: new Date(saleOpensAt).toISOString() });

  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  await signInOnPage(page, 2002);
  const saleState = page.locator(`article[data-concert-id="${concertId}"] .sale-state`);
  await saleState.and(page.locator('[data-state="PRE_QUEUE"]')).waitFor();
  assert.match(((await saleState.textContent()) ?? '').trim(), /^Pre-queue open, opens /, "the concert's sale state says the pre-queue is open");
  await joinOnPage(page, title);
  await page.locator('#wait[data-status="PRE_QUEUE"]').waitFor();

  const countdown = page.locator('#countdown');
  const secondsLeft = async () => {
    const m = /^(\d+):(\d{2})$/.exec(((await countdown.textContent()) ?? '').trim());
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  const start = await waitFor(async () => {
    const secs = await secondsLeft();
    return Number.isNaN(secs) ? null : { secs, at: Date.now() };
  }, { timeout: 5_000, message: '#countdown showing mm:ss' });
  const expected = (saleOpensAt - start.at) / 1000;
  assert.ok(Math.abs(start.secs - expected) <= 2, `#countdown shows ${start.secs} s, and saleOpensAt is ${expected.toFixed(1)} s away`);
  await waitFor(async () => (await secondsLeft()) <= start.secs - 2, { timeout: 4_000, message: `#countdown falling from ${start.secs} s by 2 s` });
  await shoot(page, NAME, 'pre-queue', { fullPage: false });

  assertClean(fan.problems, { label: 'the pre-queue fan page' });
  await fan.context.close();
});
