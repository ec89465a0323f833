// Test 3: the operator pauses and resumes the line from the console; a
// waiting fan's page follows within 2 s.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, onSeatsView, waitFor, openConsole,
} from './harness.mjs';

const NAME = 'pause';
const CONCERT = 2;
const PAUSE_SHOWN_WITHIN_MS = 2_000;

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

/** Clicks `button` in the console, checks the dialog says what will change, confirms; returns when Confirm was clicked. */
async function confirmRoomChange(console_, button, says) {
  await console_.getByRole('button', { name: button, exact: true }).click();
  const dialog = console_.getByRole('dialog');
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', says, `the "${button}" dialog says what will change`);
  await dialog.getByRole('button', { name: 'Cancel' }).waitFor();
  return dialog;
}

test("pausing the line from the console shows PAUSED on a waiting fan's page within 2 s, and resuming lets them in", { timeout: 60_000 }, async () => {
  const { api } = server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === CONCERT);

  // One ACTIVE at a time, taken by a fan through the API: the browser fan waits.
  await api.changeRoom(CONCERT, { maxActive: 1 });
  const ahead = await api.fan(1001);
  await ahead.join(CONCERT);
  await ahead.waitActive(CONCERT);

  const fan = await watchedContext(browser, server);
  const fanPage = await fan.newPage();
  await signInOnPage(fanPage, 2001);
  const marker = await markPage(fanPage);
  await joinOnPage(fanPage, title);
  await fanPage.locator('#wait[data-status="WAITING"]').waitFor();
  await waitFor(async () => ((await fanPage.locator('#position').textContent()) ?? '').trim() === '1', { message: 'the fan first in line' });
  await shoot(fanPage, NAME, 'wait');

  // The operator opens the console and chooses the concert.
  const operator = await watchedContext(browser, server);
  const console_ = await operator.newPage();
  await openConsole(console_, title, { beforeSignIn: (p) => shoot(p, NAME, 'console-sign-in') });
  await console_.locator('#room-state[data-state="OPEN"]').waitFor();
  await shoot(console_, NAME, 'console');

  // Pause, confirmed in the dialog.
  const pauseDialog = await confirmRoomChange(console_, 'Pause', /paus/i);
  await shoot(console_, NAME, 'console-pause-dialog');
  const confirmedAt = Date.now();
  await pauseDialog.getByRole('button', { name: 'Confirm' }).click();
  await fanPage.locator('#wait[data-status="PAUSED"]').waitFor({ timeout: 5_000 });
  await waitFor(async () => /paused/i.test((await fanPage.locator('#notice').textContent()) ?? ''), {
    timeout: 5_000,
    message: '#notice mentioning "paused"',
  });
  const trail = await trailOf(fanPage);
  const shown = trail.find((e) => e.status === 'PAUSED' && /paused/i.test(e.notice ?? ''));
  assert.ok(shown, `the trail shows PAUSED with its notice (trail: ${JSON.stringify(trail)})`);
  const tookMs = shown.t - confirmedAt;
  assert.ok(tookMs <= PAUSE_SHOWN_WITHIN_MS, `the fan's page showed PAUSED ${tookMs} ms after the confirmation (at most ${PAUSE_SHOWN_WITHIN_MS} ms)`);
  console.log(`# PAUSED shown on the fan's page ${tookMs} ms after Confirm`);
  assert.equal((await api.room(CONCERT)).state, 'PAUSED', 'the room is PAUSED');
  await console_.locator('#room-state[data-state="PAUSED"]').waitFor();
  assert.equal(await fanPage.locator('#notice').getAttribute('role'), 'status', '#notice is a status region');
  await shoot(fanPage, NAME, 'wait-paused');
  await shoot(console_, NAME, 'console-paused');

  // Resume, confirmed: the fan's page leaves PAUSED, and once the slot frees the fan is let in.
  const resumeDialog = await confirmRoomChange(console_, 'Resume', /resum|open/i);
  await resumeDialog.getByRole('button', { name: 'Confirm' }).click();
  await fanPage.locator('#wait[data-status="WAITING"]').waitFor({ timeout: 5_000 });
  assert.doesNotMatch((await fanPage.locator('#notice').textContent()) ?? '', /paused/i, '#notice no longer says paused');
  await console_.locator('#room-state[data-state="OPEN"]').waitFor();
  await ahead.leave(CONCERT);
  await onSeatsView(fanPage, CONCERT, { timeout: 10_000 });
  await assertSamePage(fanPage, marker, "fan's page");
  await shoot(fanPage, NAME, 'seats');

  assertClean(fan.problems, { label: "fan's pages" });
  assertClean(operator.problems, { label: 'console' });
  await fan.context.close();
  await operator.context.close();
});
