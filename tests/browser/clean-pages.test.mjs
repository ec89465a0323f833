// Test 5: every view of the fan's pages and the console, with nothing
// wrong in the browser: no console errors, no failed requests, no 5xx, no
// request beyond the service; each view fits a phone's width.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, shoot, signInOnPage, joinOnPage,
  onSeatsView, seatButton, wonIn, waitFor, openConsole, PHONE,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'clean';
const CONCERT = 3;
const SEAT = 20;
const CHARTS = ['Line length', 'Admissions per minute', 'ACTIVE fans', 'Seats', 'Revenue'];

const env = serverAndBrowser(NAME);

test('every fan view (the sale state read as "On sale") and the console (all five charts with data from two samples or more) load with no console error, failed request, 5xx or other origin, and none is wider than a 375 px phone', { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);
  // A fan ahead holds the one ACTIVE place, so the waiting view is seen.
  await api.changeRoom(CONCERT, { maxActive: 1 });
  const ahead = await api.fan(1001);
  await ahead.join(CONCERT);
  await ahead.waitActive(CONCERT);

  const fan = await watchedContext(env.browser, env.server);
  const page = await fan.newPage();
  // Each view photographed, with its width at 375 px.
  const visited = [];
  const visit = async (view, on = page) => {
    const phone = await shoot(on, NAME, view);
    visited.push({ view, ...phone });
  };

  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await visit('sign-in');
  await signInOnPage(page, 2001, { goto: false });
  const saleState = page.locator(`article[data-concert-id="${CONCERT}"] .sale-state`);
  // "Checking the sale…" (data-state UNKNOWN) stands until the room is read.
  await saleState.and(page.locator(':not([data-state="UNKNOWN"])')).waitFor();
  assert.equal(await saleState.getAttribute('data-state'), 'OPEN', "the concert's .sale-state data-state once its room is read");
  assert.equal(((await saleState.textContent()) ?? '').trim(), 'On sale', "the concert's .sale-state text once its room is read");
  await visit('concerts');

  await joinOnPage(page, title);
  await page.locator('#wait[data-status="WAITING"]').waitFor();
  await visit('wait');
  await ahead.leave(CONCERT);

  await onSeatsView(page, CONCERT, { timeout: 10_000 });
  await visit('seats');
  await seatButton(page, SEAT).click();
  await page.getByRole('heading', { name: 'Checkout' }).waitFor();
  await visit('checkout');
  await page.getByLabel('Amount').fill('300000');
  await page.getByRole('button', { name: 'Top up' }).click();
  await waitFor(async () => (await wonIn(page.locator('#balance'))) === 300_000, { message: '#balance after the top-up' });
  await page.getByRole('button', { name: 'Pay', exact: true }).click();
  await page.locator('#receipt').getByRole('heading', { name: 'Receipt' }).waitFor();
  await visit('receipt');

  await page.getByRole('link', { name: 'My reservations' }).click();
  await page.getByRole('heading', { name: 'My reservations' }).waitFor();
  await page.getByRole('table').getByRole('row').nth(1).waitFor();
  await visit('reservations');
  await page.getByRole('link', { name: 'Concerts' }).click();
  await page.getByRole('heading', { name: 'Concerts' }).waitFor();

  // The console, on its own context, its charts drawn from the samples
  // (one a second here; the console reads them every 5 s).
  const operator = await watchedContext(env.browser, env.server);
  const consolePage = await operator.newPage();
  await openConsole(consolePage, title, { beforeSignIn: (p) => visit('console-sign-in', p) });
  await consolePage.locator('#room-state[data-state]').waitFor();
  for (const caption of CHARTS) {
    const figure = consolePage.locator('figure').filter({
      has: consolePage.locator('figcaption', { hasText: new RegExp(`^\\s*${caption}\\s*$`) }),
    });
    assert.equal(await figure.count(), 1, `one chart figure "${caption}"`);
    await figure.locator('canvas').first().waitFor({ timeout: 10_000 });
    // Its "Latest: {label} {value}, ..." line, every value a number (no "–").
    // Admissions a minute need two samples to have a value, so its number
    // shows every chart was given two points or more.
    const latest = figure.getByText(/^Latest: /);
    const values = await waitFor(async () => {
      const text = ((await latest.textContent({ timeout: 1_000 })) ?? '').trim();
      const parts = text.replace(/^Latest: /, '').split(', ');
      return parts.every((part) => /^.+ -?[\d,.]+( won)?$/.test(part)) ? parts : null;
    }, { timeout: 15_000, interval: 250, message: `the "${caption}" chart's Latest line giving a number for each series` });
    assert.ok(values.length >= 1, `the "${caption}" chart's Latest line names a series`);
  }
  await consolePage.locator('#invariants[data-ok="true"]').waitFor();
  await visit('console', consolePage);

  assert.deepEqual(visited.map((v) => v.view), ['sign-in', 'concerts', 'wait', 'seats', 'checkout', 'receipt', 'reservations', 'console-sign-in', 'console']);
  const overflowing = visited.filter((v) => v.innerWidth !== PHONE.width || v.scrollWidth > v.innerWidth);
  assert.deepEqual(overflowing, [], `views wider than the ${PHONE.width} px phone (document scrollWidth > innerWidth)`);
  assertClean(fan.problems, { label: "the fan's pages" });
  assertClean(operator.problems, { label: 'the console' });
  await fan.context.close();
  await operator.context.close();
});

test('the watch on the pages catches what test 5 looks for: console errors, uncaught exceptions, CSP refusals, requests to other origins, failed requests and 5xx answers', { timeout: 30_000 }, async () => {
  // Without this, the empty lists above could mean the watch saw nothing at all.
  const watched = await watchedContext(env.browser, env.server);
  const page = await watched.newPage();
  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.evaluate(() => {
    console.error('provoked console error');
    setTimeout(() => {
      throw new Error('provoked uncaught exception');
    }, 0);
    // The page's CSP (connect-src 'self') refuses this before it leaves the browser.
    return fetch('https://cdn.example.com/lib.js').catch(() => null);
  });
  await waitFor(() => watched.problems.pageErrors.length > 0, { message: 'the uncaught exception recorded' });
  const texts = watched.problems.consoleErrors.map((e) => e.text);
  assert.ok(texts.includes('provoked console error'), `console.error recorded (${JSON.stringify(texts)})`);
  assert.ok(texts.some((t) => /Content Security Policy/i.test(t) && t.includes('cdn.example.com')), `the CSP refusal recorded (${JSON.stringify(texts)})`);
  assert.match(watched.problems.pageErrors[0].message, /provoked uncaught exception/);
  // What CSP does not stop (a navigation) reaches the route, which aborts and records it.
  await page.goto('https://cdn.example.com/page').catch(() => null);
  assert.deepEqual(watched.problems.foreignRequests.map((r) => r.url), ['https://cdn.example.com/page'], 'the other origin recorded (and aborted)');
  assert.deepEqual(watched.problems.failedRequests, [], 'an aborted foreign request is not also counted as failed');

  // Same-origin trouble, on a second page: a request that fails on the way, and a 500.
  const second = await watched.newPage();
  await second.goto('/');
  await second.getByRole('heading', { name: 'Sign in' }).waitFor();
  await second.route('**/api/v1/provoked-failure', (route) => route.abort('failed'));
  await second.route('**/api/v1/provoked-500', (route) => route.fulfill({
    status: 500,
    contentType: 'application/json',
    body: JSON.stringify({ code: 'INTERNAL_ERROR', message: 'provoked', data: null }),
  }));
  await second.evaluate(() => Promise.all([
    fetch('/api/v1/provoked-failure').catch(() => null),
    fetch('/api/v1/provoked-500').catch(() => null),
  ]));
  await waitFor(() => watched.problems.failedRequests.length > 0 && watched.problems.serverErrors.length > 0, {
    message: 'the failed request and the 500 recorded',
  });
  const { origin } = env.server;
  assert.deepEqual(watched.problems.failedRequests.map(({ url, method }) => ({ url, method })),
    [{ url: `${origin}/api/v1/provoked-failure`, method: 'GET' }], 'the failed request recorded');
  assert.match(watched.problems.failedRequests[0].error, /ERR_FAILED/, 'with its error');
  assert.deepEqual(watched.problems.serverErrors, [{ url: `${origin}/api/v1/provoked-500`, status: 500, method: 'GET' }], 'the 500 recorded');
  await watched.context.close();
});
