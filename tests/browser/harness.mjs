// The browser tests' harness: a fresh `boxoffice` per test file, a headless
// Chromium whose pages are watched for console errors, failed requests and
// calls to other origins, the fan and admin API as plain fetch calls from
// Node, screenshots, and waiting for conditions.
//
// Layout:
// - paths and waiting: REPO_ROOT, OUT_DIR, waitFor
// - the service: startServer (its log goes to target/browser-test/logs/),
//   freePort
// - the browser: launchBrowser, serverAndBrowser (a test file's pair),
//   watchedContext, assertClean
// - in-page trail: markPage, trailOf, assertSamePage (no reload happened)
// - requests: recordRequests (what a page asked for, with times)
// - screenshots: shoot (desktop 1280x800 and phone 375x812, with the
//   phone width's overflow measured)
// - the API: Api, with fan(userId) and the admin calls
// - steps through the pages: signInOnPage, joinOnPage, onSeatsView,
//   openConsole, tabUntil (the keyboard), seatButton, accessibleName, wonIn

import { spawn } from 'node:child_process';
import { after, before } from 'node:test';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const OUT_DIR = path.join(REPO_ROOT, 'target', 'browser-test');
export const SCREENSHOT_DIR = path.join(OUT_DIR, 'screenshots');
export const LOG_DIR = path.join(OUT_DIR, 'logs');
export const ADMIN_KEY = 'browser-test-admin-key';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'];

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/** Resolves with `value` after `ms`, without keeping the process alive for it. */
const later = (ms, value) => new Promise((resolve) => setTimeout(resolve, ms, value).unref());

/**
 * Polls `fn` (sync or async) until it returns a truthy value, and returns
 * that value. Exceptions count as "not yet". Throws after `timeout` ms with
 * `message` and the last value or error seen.
 */
export async function waitFor(fn, { timeout = 10_000, interval = 50, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? `error: ${last.message}` : JSON.stringify(last);
      throw new Error(`${message}: not met within ${timeout} ms (last seen: ${seen})`);
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------------------
// The service

const ANSI = /\x1b\[[0-9;]*m/g;

export async function freePort() {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function binaryPath() {
  const bin = process.env.BOXOFFICE_BIN || path.join('target', 'debug', 'boxoffice');
  const resolved = path.resolve(REPO_ROOT, bin);
  if (!fs.existsSync(resolved)) {
    throw new Error(`no boxoffice binary at ${resolved}: build it (cargo build --bin boxoffice) or set BOXOFFICE_BIN`);
  }
  return resolved;
}

/**
 * Starts a fresh `boxoffice` in a fresh temp directory (so it gets its own
 * SQLite `data/` and demo concerts), on a free port, and waits for
 * `/health/ready`. `name` names its log file (target/browser-test/logs/{name}.log).
 * Returns `{ url, origin, api, stop }`; `stop()` kills it and removes the
 * temp directory, keeping the log.
 */
export async function startServer(name, { env = {} } = {}) {
  const bin = binaryPath();
  fs.mkdirSync(LOG_DIR, { recursive: true });
  const logPath = path.join(LOG_DIR, `${name}.log`);
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), `boxoffice-browser-${name}-`));
  const log = fs.createWriteStream(logPath);
  const childEnv = {
    ...process.env,
    NO_COLOR: '1',
    RUST_LOG: process.env.RUST_LOG || 'info,sqlx=warn,tower_http=warn',
    BOXOFFICE__ADMIN__API_KEY: ADMIN_KEY,
    BOXOFFICE__QUEUE__ADMIT_INTERVAL_SECS: '1',
    // The console's charts get a point a second.
    BOXOFFICE__CONSOLE__SAMPLE_INTERVAL_SECS: '1',
    // Open streams would otherwise hold the stop for the full grace.
    BOXOFFICE__SERVER__SHUTDOWN_GRACE_SECS: '1',
    // Per-fan limits stay at their defaults (the pages must live with them);
    // the per-IP ones do not apply to 127.0.0.1 (rate_limit.exempt).
    ...env,
  };

  // First on port 0, reading the bound address from the log; if the log
  // line carries no address we can read, on a port chosen here.
  let attempt = await launch(['--listen', '127.0.0.1:0']);
  if (!attempt.address) {
    await attempt.kill();
    const port = await freePort();
    log.write(`\n[harness] no address in the "boxoffice is serving" line; restarting on port ${port}\n`);
    attempt = await launch(['--listen', `127.0.0.1:${port}`], `127.0.0.1:${port}`);
  }
  const url = `http://${attempt.address}`;
  const api = new Api(url);
  try {
    await waitFor(async () => (await fetch(`${url}/health/ready`)).status === 200, {
      timeout: 30_000,
      interval: 100,
      message: `GET ${url}/health/ready answering 200`,
    });
  } catch (err) {
    await attempt.kill();
    throw err;
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await attempt.kill();
    await new Promise((resolve) => log.end(resolve));
    fs.rmSync(cwd, { recursive: true, force: true });
  };
  return { url, origin: new URL(url).origin, api, stop, logPath };

  async function launch(args, knownAddress) {
    const child = spawn(bin, args, { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    let buffered = '';
    let exited = null;
    let resolveServing;
    const serving = new Promise((resolve) => (resolveServing = resolve));
    const onData = (chunk) => {
      log.write(chunk);
      buffered += chunk.toString('utf8');
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(ANSI, '');
        buffered = buffered.slice(nl + 1);
        if (line.includes('boxoffice is serving')) {
          const match = /address=("?)([^\s"]+)\1/.exec(line);
          resolveServing(match ? match[2] : knownAddress ?? null);
        }
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      process.removeListener('exit', killOnExit);
      resolveServing(undefined);
    });
    const address = await Promise.race([
      serving,
      later(30_000, undefined),
    ]);
    const kill = async () => {
      if (exited) return;
      child.kill('SIGTERM');
      const done = once(child, 'exit');
      const timer = later(5_000, 'late');
      if ((await Promise.race([done, timer])) === 'late') {
        child.kill('SIGKILL');
        await done;
      }
    };
    if (address === undefined) {
      await kill();
      throw new Error(
        `boxoffice did not log "boxoffice is serving" (${exited ? `exited ${JSON.stringify(exited)}` : 'timed out'}); see ${logPath}`,
      );
    }
    return { address, kill };
  }
}

// ---------------------------------------------------------------------------
// The browser

export async function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * A test file's service and browser: started before its first test and
 * stopped after its last. The returned object's `server` and `browser` are
 * set once the file's tests run.
 */
export function serverAndBrowser(name) {
  const shared = { server: null, browser: null };
  before(async () => {
    shared.server = await startServer(name);
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
    await shared.server?.stop();
  });
  return shared;
}

/**
 * A new browser context for `server` whose every page is watched:
 * - `consoleErrors`: console messages of type error (Chromium also logs
 *   "Failed to load resource: ... status of 4xx" here, with the URL),
 * - `pageErrors`: uncaught exceptions,
 * - `failedRequests`: requests that failed (`requestfailed`; a page closing
 *   its own EventSource is not a failure),
 * - `serverErrors`: responses with status >= 500,
 * - `foreignRequests`: requests to any origin but the service's, which are
 *   aborted.
 * Returns `{ context, problems, newPage }`.
 */
export async function watchedContext(browser, server, { viewport = DESKTOP } = {}) {
  const context = await browser.newContext({ viewport, baseURL: server.url });
  // Well under a test's minute, so a missing element fails the test with its own message.
  context.setDefaultTimeout(15_000);
  const problems = {
    consoleErrors: [],
    pageErrors: [],
    failedRequests: [],
    serverErrors: [],
    foreignRequests: [],
  };
  const aborted = new WeakSet();
  await context.route('**/*', async (route) => {
    const request = route.request();
    let origin;
    try {
      origin = new URL(request.url()).origin;
    } catch {
      origin = null;
    }
    if (origin !== server.origin) {
      problems.foreignRequests.push({ url: request.url(), method: request.method(), type: request.resourceType() });
      aborted.add(request);
      await route.abort('blockedbyclient');
      return;
    }
    await route.continue();
  });
  const watch = (page) => {
    page.on('console', (message) => {
      if (message.type() === 'error') {
        problems.consoleErrors.push({ text: message.text(), url: message.location()?.url ?? '', page: page.url() });
      }
    });
    page.on('pageerror', (error) => {
      problems.pageErrors.push({ message: String(error?.stack || error), page: page.url() });
    });
    page.on('requestfailed', (request) => {
      if (aborted.has(request)) return;
      const errorText = request.failure()?.errorText ?? '';
      // An EventSource the page closes (on ACTIVE, on leaving the view) is
      // cancelled by the page itself; that is how it should end.
      if (request.resourceType() === 'eventsource' && errorText.includes('ERR_ABORTED')) return;
      problems.failedRequests.push({ url: request.url(), method: request.method(), error: errorText });
    });
    page.on('response', (response) => {
      if (response.status() >= 500) {
        problems.serverErrors.push({ url: response.url(), status: response.status(), method: response.request().method() });
      }
    });
  };
  context.on('page', watch);
  return { context, problems, newPage: () => context.newPage() };
}

/**
 * Asserts that nothing was recorded in `problems`, except console errors
 * matched by one of `allowConsole` ({ url: RegExp, text: RegExp }): the
 * "Failed to load resource" lines Chromium logs for refusals a test
 * provokes on purpose; and 5xx responses matched by one of
 * `allowServerErrors` ({ url: RegExp, status: number }): the ones a test
 * answers itself, on purpose.
 */
export function assertClean(problems, { allowConsole = [], allowServerErrors = [], label = 'pages' } = {}) {
  const consoleErrors = problems.consoleErrors.filter(
    (entry) => !allowConsole.some((allow) => (!allow.url || allow.url.test(entry.url)) && (!allow.text || allow.text.test(entry.text))),
  );
  const serverErrors = problems.serverErrors.filter(
    (entry) => !allowServerErrors.some((allow) => allow.url.test(entry.url) && (allow.status === undefined || allow.status === entry.status)),
  );
  const left = { ...problems, consoleErrors, serverErrors };
  for (const [kind, list] of Object.entries(left)) {
    assert.deepEqual(list, [], `${label}: ${kind} should be empty`);
  }
}

// ---------------------------------------------------------------------------
// In-page trail: a marker that survives only if the document is never
// reloaded, and a record of what the waiting view showed, with times.

/**
 * Sets a marker on the page's window and starts recording every change of
 * the location hash, `#wait[data-status]`, `#position`, `#eta`, `#notice`
 * and `#progress` (its value and max), each with Date.now(). Returns the
 * marker.
 */
export async function markPage(page) {
  return page.evaluate(() => {
    const marker = `m-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const trail = [];
    window.__browserTest = { marker, trail };
    const text = (selector) => {
      const el = document.querySelector(selector);
      return el ? el.textContent.trim() : null;
    };
    const keys = ['hash', 'status', 'position', 'eta', 'notice', 'progress', 'progressMax'];
    const snap = () => {
      const wait = document.querySelector('#wait');
      const progress = document.querySelector('#progress');
      const entry = {
        t: Date.now(),
        hash: location.hash,
        status: wait ? wait.getAttribute('data-status') : null,
        position: text('#position'),
        eta: text('#eta'),
        notice: text('#notice'),
        progress: progress ? progress.value : null,
        progressMax: progress ? progress.max : null,
      };
      const last = trail[trail.length - 1];
      if (!last || keys.some((key) => last[key] !== entry[key])) trail.push(entry);
    };
    snap();
    new MutationObserver(snap).observe(document.documentElement, {
      subtree: true,
      childList: true,
      characterData: true,
      attributes: true,
      attributeFilter: ['data-status', 'hidden', 'class', 'value', 'max'],
    });
    window.addEventListener('hashchange', snap);
    return marker;
  });
}

export async function trailOf(page) {
  return page.evaluate(() => (window.__browserTest ? window.__browserTest.trail : null));
}

/** Asserts that the document marked with `marker` is still the one shown: no reload, no navigation. */
export async function assertSamePage(page, marker, what = 'page') {
  const now = await page.evaluate(() => (window.__browserTest ? window.__browserTest.marker : null));
  assert.equal(now, marker, `${what}: the window marker set earlier is gone, so the page was reloaded or navigated`);
}

// ---------------------------------------------------------------------------
// Requests

/**
 * Records every request `page` makes from now on: `{ t, method, pathname,
 * type }` (`type` is Playwright's resourceType: 'fetch', 'eventsource', ...),
 * `t` the Date.now() it was sent. Returns the (growing) list.
 */
export function recordRequests(page) {
  const requests = [];
  page.on('request', (request) => {
    requests.push({ t: Date.now(), method: request.method(), pathname: new URL(request.url()).pathname, type: request.resourceType() });
  });
  return requests;
}

// ---------------------------------------------------------------------------
// Screenshots

/**
 * Saves `{test}-{view}-desktop.png` and `{test}-{view}-phone.png`, then
 * restores the viewport. `fullPage: false` takes only the viewport (quicker).
 * Returns the phone width's `{ scrollWidth, innerWidth }`
 * (document.documentElement.scrollWidth and window.innerWidth, measured at
 * 375 px), for tests that check the page fits it.
 */
export async function shoot(page, test, view, { fullPage = true } = {}) {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const before = page.viewportSize() ?? DESKTOP;
  let phone = null;
  for (const [kind, size] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(size);
    if (kind === 'phone') {
      // Two frames: the page's ResizeObservers (the console's charts) answer the new width first.
      phone = await page.evaluate(async () => {
        for (let i = 0; i < 2; i++) await new Promise((resolve) => requestAnimationFrame(resolve));
        return { scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth };
      });
    }
    await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${test}-${view}-${kind}.png`), fullPage, animations: 'disabled' });
  }
  await page.setViewportSize(before);
  return phone;
}

// ---------------------------------------------------------------------------
// The API, from Node

export class ApiError extends Error {
  constructor(method, url, status, body) {
    super(`${method} ${url} answered ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
    this.code = body?.code;
  }
}

let idempotencyCounter = 0;
const freshKey = (what) => `browser-test-${what}-${process.pid}-${Date.now()}-${++idempotencyCounter}`;

export class Api {
  constructor(url, adminKey = ADMIN_KEY) {
    this.url = url;
    this.adminKey = adminKey;
  }

  /** One call; returns `data` on a 2xx, throws ApiError otherwise. */
  async call(method, pathname, { headers = {}, body, expect } = {}) {
    const init = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`${this.url}${pathname}`, init);
    const text = await response.text();
    const parsed = text ? JSON.parse(text) : null;
    const ok = expect ? expect.includes(response.status) : response.ok;
    if (!ok) throw new ApiError(method, pathname, response.status, parsed);
    return parsed?.data ?? null;
  }

  admin(method, pathname, body) {
    return this.call(method, `/api/v1/admin${pathname}`, { headers: { 'X-Admin-Key': this.adminKey }, body });
  }

  concerts() {
    return this.call('GET', '/api/v1/concerts');
  }

  room(concertId) {
    return this.call('GET', `/api/v1/concerts/${concertId}/room`);
  }

  /** PATCH /api/v1/admin/concerts/{id}/room, e.g. `{ admitBatch: 1 }`, `{ maxActive: 1 }`, `{ state: 'PAUSED' }`. */
  changeRoom(concertId, change) {
    return this.admin('PATCH', `/concerts/${concertId}/room`, change);
  }

  /**
   * POST /api/v1/admin/concerts: `seats` seats (one grade) on `dates` dates
   * a month from now. Returns the new concert's id.
   */
  async createConcert({ title, artist = 'The Test Band', venue = 'Test Hall', dates = 1, seats = 1, grade = 'R', price = 50_000 }) {
    const day = 24 * 3600 * 1000;
    const schedules = Array.from({ length: dates }, (_, i) => ({
      startsAt: new Date(Date.now() + (30 + i) * day).toISOString(),
      venue,
    }));
    const { concertId } = await this.admin('POST', '/concerts', {
      title,
      artist,
      schedules,
      seats: [{ grade, price, from: 1, to: seats }],
    });
    return concertId;
  }

  /** Signs `userId` in with the development sign-in; returns a Fan. */
  async fan(userId) {
    const { accessToken } = await this.call('POST', '/api/v1/dev/sessions', { body: { userId } });
    return new Fan(this, userId, accessToken);
  }
}

/** One signed-in fan, through the API. */
export class Fan {
  constructor(api, userId, accessToken) {
    this.api = api;
    this.userId = userId;
    this.accessToken = accessToken;
    this.tickets = new Map(); // concertId -> queue ticket
    this.passes = new Map(); // concertId -> admission pass
  }

  call(method, pathname, { headers = {}, ...rest } = {}) {
    return this.api.call(method, pathname, { headers: { Authorization: `Bearer ${this.accessToken}`, ...headers }, ...rest });
  }

  balance() {
    return this.call('GET', '/api/v1/balance');
  }

  charge(amount) {
    return this.call('POST', '/api/v1/balance/charge', { headers: { 'Idempotency-Key': freshKey('charge') }, body: { amount } });
  }

  /** Joins the line for `concertId`; returns the token answer. */
  async join(concertId) {
    const token = await this.call('POST', '/api/v1/queue/tokens', { body: { concertId } });
    this.tickets.set(concertId, token.token);
    if (token.admissionPass) this.passes.set(concertId, token.admissionPass);
    return token;
  }

  async poll(concertId) {
    const token = await this.call('GET', '/api/v1/queue/tokens/current', { headers: { 'Queue-Token': this.tickets.get(concertId) } });
    if (token.admissionPass) this.passes.set(concertId, token.admissionPass);
    return token;
  }

  /** Polls until ACTIVE; returns the admission pass. */
  async waitActive(concertId, timeout = 15_000) {
    await waitFor(async () => (await this.poll(concertId)).status === 'ACTIVE', {
      timeout,
      interval: 200,
      message: `fan ${this.userId} admitted to concert ${concertId}`,
    });
    return this.passes.get(concertId);
  }

  leave(concertId) {
    return this.call('DELETE', '/api/v1/queue/tokens/current', { headers: { 'Queue-Token': this.tickets.get(concertId) } });
  }

  schedules(concertId) {
    return this.call('GET', `/api/v1/concerts/${concertId}/schedules`, { headers: { 'Queue-Token': this.passes.get(concertId) } });
  }

  hold(concertId, scheduleId, seatNumber) {
    return this.call('POST', '/api/v1/holds', { headers: { 'Queue-Token': this.passes.get(concertId) }, body: { scheduleId, seatNumber } });
  }

  pay(holdId) {
    return this.call('POST', '/api/v1/payments', { headers: { 'Idempotency-Key': freshKey('pay') }, body: { holdId } });
  }

  reservations() {
    return this.call('GET', '/api/v1/reservations');
  }
}

// ---------------------------------------------------------------------------
// Steps through the fan pages, by the contract's roles, labels and ids.

/** Opens `/`, signs in as `userId` with the dev sign-in and waits for the Concerts view. */
export async function signInOnPage(page, userId, { goto = true } = {}) {
  if (goto) await page.goto('/');
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  await page.getByLabel('User id').fill(String(userId));
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByText(`Signed in as ${userId}`).waitFor();
  await page.getByRole('heading', { name: 'Concerts' }).waitFor();
}

/**
 * Clicks "Join the line for {title}" and waits for the page to be on the
 * waiting view or the seats view (already admitted) of some concert.
 */
export async function joinOnPage(page, title) {
  await page.getByRole('button', { name: `Join the line for ${title}` }).click();
  await page.waitForFunction(() => /^#\/concerts\/\d+\/(wait|seats)$/.test(location.hash));
}

/** Waits until the page is on the seats view of `concertId` with its map drawn, and picks the first date. */
export async function onSeatsView(page, concertId, { timeout = 20_000 } = {}) {
  await page.waitForFunction((hash) => location.hash === hash, `#/concerts/${concertId}/seats`, { timeout });
  const dates = page.getByRole('group', { name: 'Dates' });
  await dates.getByRole('button').first().waitFor({ timeout });
  const first = dates.getByRole('button').first();
  if ((await first.getAttribute('aria-pressed')) !== 'true') await first.click();
  await page.locator('#seat-map button[data-seat]').first().waitFor({ timeout });
}

/**
 * Opens `/admin`, signs in with the admin key and chooses the concert whose
 * option names `title` (the contract does not fix the option's text, only
 * that the list comes from GET /api/v1/concerts). `beforeSignIn(page)` runs on
 * the sign-in view (for a screenshot).
 */
export async function openConsole(page, title, { adminKey = ADMIN_KEY, beforeSignIn } = {}) {
  await page.goto('/admin');
  await page.getByRole('heading', { name: "Operator's console" }).waitFor();
  if (beforeSignIn) await beforeSignIn(page);
  await page.getByLabel('Admin key').fill(adminKey);
  await page.getByRole('button', { name: 'Open the console' }).click();
  const select = page.getByLabel('Concert');
  const option = select.locator('option', { hasText: title });
  await option.waitFor({ state: 'attached' });
  await select.selectOption(await option.getAttribute('value'));
}

/**
 * Presses Tab (up to `max` times) until the focused element satisfies
 * `predicate` (run in the page, given document.activeElement). Returns
 * how many presses it took; throws if it never did.
 */
export async function tabUntil(page, predicate, { max = 120, what = 'the element' } = {}) {
  for (let presses = 1; presses <= max; presses++) {
    await page.keyboard.press('Tab');
    const source = `(${predicate})(document.activeElement)`;
    if (await page.evaluate(source)) return presses;
  }
  const focused = await page.evaluate(() => document.activeElement?.outerHTML.slice(0, 200));
  throw new Error(`Tab never reached ${what} in ${max} presses (focused at the end: ${focused})`);
}

/** The seat-map button of seat `n`. */
export function seatButton(page, n) {
  return page.locator(`#seat-map button[data-seat="${n}"]`);
}

/** The accessible name of the element `locator` points at (from Playwright's ARIA snapshot). */
export async function accessibleName(locator) {
  const snapshot = await locator.ariaSnapshot();
  const m = /^- \w+ "((?:[^"\\]|\\.)*)"/.exec(snapshot.trim());
  return m ? m[1].replace(/\\(.)/g, '$1') : null;
}

/** Digits of an element's text as a number ("200,000 won" -> 200000). */
export async function wonIn(locator) {
  const text = (await locator.textContent()) ?? '';
  const digits = text.replace(/[^\d]/g, '');
  return digits ? Number(digits) : NaN;
}
