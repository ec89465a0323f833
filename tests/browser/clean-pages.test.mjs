// Test 5: every view of the fan's pages and the console, with nothing
// wrong in the browser: no console errors, no failed requests, no 5xx, no
// request beyond the service.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, watchedContext, shoot, signInOnPage, joinOnPage,
  onSeatsView, seatButton, wonIn, waitFor, openConsole,
} from './harness.mjs';

const NAME = 'clean';
const CONCERT = 3;
const SEAT = 20;
const CHARTS = ['Line length', 'Admissions per minute', 'ACTIVE fans', 'Seats', 'Revenue'];

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

test('every fan view and the console with its charts drawn load with no console error, no failed request and no other origin', { timeout: 60_000 }, async () => {
  const { api } = server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);
  // A fan ahead holds the one ACTIVE place, so the waiting view is seen.
  await api.changeRoom(CONCERT, { maxActive: 1 });
  const ahead = await api.fan(1001);
  await ahead.join(CONCERT);
  await ahead.waitActive(CONCERT);

  const fan = await watchedContext(browser, server);
  const page = await fan.newPage();
  const visited = [];
  const visit = async (view) => {
    visited.push(view);
    await shoot(page, NAME, view);
  };

  await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await visit('sign-in');
  await signInOnPage(page, 2001, { goto: false });
  await page.locator(`article[data-concert-id="${CONCERT}"]`).waitFor();
  await waitFor(async () => ((await page.locator(`article[data-concert-id="${CONCERT}"] .sale-state`).textContent()) ?? '').trim(), {
    message: 'the sale state shown on the concert',
  });
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

  // The console, on its own context, charts drawn.
  const operator = await watchedContext(browser, server);
  const consolePage = await operator.newPage();
  await openConsole(consolePage, title, { beforeSignIn: (p) => shoot(p, NAME, 'console-sign-in') });
  await consolePage.locator('#room-state[data-state]').waitFor();
  for (const caption of CHARTS) {
    const figure = consolePage.locator('figure').filter({
      has: consolePage.locator('figcaption', { hasText: new RegExp(`^\\s*${caption}\\s*$`) }),
    });
    await figure.locator('canvas').first().waitFor({ timeout: 10_000 });
    assert.equal(await figure.count(), 1, `one chart figure "${caption}"`);
  }
  await consolePage.locator('#invariants[data-ok="true"]').waitFor();
  await shoot(consolePage, NAME, 'console');

  assert.deepEqual(visited, ['sign-in', 'concerts', 'wait', 'seats', 'checkout', 'receipt', 'reservations']);
  assert.deepEqual(fan.problems, { consoleErrors: [], pageErrors: [], failedRequests: [], serverErrors: [], foreignRequests: [] },
    "the fan's pages: nothing recorded");
  assert.deepEqual(operator.problems, { consoleErrors: [], pageErrors: [], failedRequests: [], serverErrors: [], foreignRequests: [] },
    'the console: nothing recorded');
  await fan.context.close();
  await operator.context.close();
});

test('the watch on the pages catches what test 5 looks for: console errors, uncaught exceptions, CSP refusals, requests to other origins', { timeout: 30_000 }, async () => {
  // Without this, the empty lists above could mean the watch saw nothing at all.
  const watched = await watchedContext(browser, server);
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
  await watched.context.close();
});
