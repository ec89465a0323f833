// Test 3: the operator pauses and resumes the line from the console; a
// waiting fan's page follows within 2 s. Cancelling the dialog changes
// nothing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  watchedContext, assertClean, markPage, trailOf, assertSamePage,
  shoot, signInOnPage, joinOnPage, onSeatsView, waitFor, openConsole,
  serverAndBrowser,
} from './harness.mjs';

const NAME = 'pause';
const CONCERT = 2;
const CANCEL_CONCERT = 3;
const PAUSE_SHOWN_WITHIN_MS = 2_000;

const env = serverAndBrowser(NAME);

/**
 * Clicks `button` in the console and waits for its dialog; asserts the
 * dialog says what will change (matches `says`) and offers Confirm and
 * Cancel. Returns the dialog still open: nothing is confirmed or cancelled.
 */
async function openRoomChangeDialog(console_, button, says) {
  await console_.getByRole('button', { name: button, exact: true }).click();
  const dialog = console_.getByRole('dialog');
  await dialog.waitFor();
  assert.match((await dialog.textContent()) ?? '', says, `the "${button}" dialog says what will change`);
  await dialog.getByRole('button', { name: 'Confirm' }).waitFor();
  await dialog.getByRole('button', { name: 'Cancel' }).waitFor();
  return dialog;
}

/** Every PATCH of a room the console sends. */
function recordRoomChanges(page) {
  const patches = [];
  page.on('request', (request) => {
    if (request.method() === 'PATCH' && /\/room$/.test(new URL(request.url()).pathname)) patches.push(request.postDataJSON());
  });
  return patches;
}

/**
 * A fan waiting first in line for `concertId` (one ACTIVE at a time, taken
 * by a fan through the API), and the operator's console on that concert.
 */
async function fanWaitingBehindOne(concertId, { fanUserId, aheadUserId }) {
  const { api } = env.server;
  const [{ title }] = (await api.concerts()).filter((c) => c.concertId === concertId);
  await api.changeRoom(concertId, { maxActive: 1 });
  const ahead = await api.fan(aheadUserId);
  await ahead.join(concertId);
  await ahead.waitActive(concertId);

  const fan = await watchedContext(env.browser, env.server);
  const fanPage = await fan.newPage();
  await signInOnPage(fanPage, fanUserId);
  const marker = await markPage(fanPage);
  await joinOnPage(fanPage, title);
  await fanPage.locator('#wait[data-status="WAITING"]').waitFor();
  await waitFor(async () => ((await fanPage.locator('#position').textContent()) ?? '').trim() === '1', { message: 'the fan first in line' });
  return { title, ahead, fan, fanPage, marker };
}

test("with the Pause dialog open the room stays OPEN; once confirmed, a waiting fan's page shows PAUSED within 2 s; after Resume it shows WAITING again, and the fan is let in when the fan ahead leaves", { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const { title, ahead, fan, fanPage, marker } = await fanWaitingBehindOne(CONCERT, { fanUserId: 2001, aheadUserId: 1001 });
  await shoot(fanPage, NAME, 'wait');

  // The operator opens the console and chooses the concert.
  const operator = await watchedContext(env.browser, env.server);
  const console_ = await operator.newPage();
  const patches = recordRoomChanges(console_);
  await openConsole(console_, title, { beforeSignIn: (p) => shoot(p, NAME, 'console-sign-in') });
  await console_.locator('#room-state[data-state="OPEN"]').waitFor();
  await shoot(console_, NAME, 'console');

  // Pause, confirmed in the dialog.
  const pauseDialog = await openRoomChangeDialog(console_, 'Pause', /paus/i);
  await shoot(console_, NAME, 'console-pause-dialog');
  // Nothing has changed yet: the dialog only asks.
  assert.equal((await api.room(CONCERT)).state, 'OPEN', 'the room is still OPEN while the Pause dialog is open');
  assert.equal(await console_.locator('#room-state').getAttribute('data-state'), 'OPEN', "the console's #room-state still says OPEN behind the dialog");
  assert.equal(await fanPage.locator('#wait').getAttribute('data-status'), 'WAITING', "the fan's page still says WAITING");
  assert.deepEqual(patches, [], 'the console has sent no PATCH of the room before Confirm');
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
  assert.deepEqual(patches.map((p) => p?.state), ['PAUSED'], 'Confirm sent one PATCH of the room, to PAUSED');
  await console_.locator('#room-state[data-state="PAUSED"]').waitFor();
  assert.equal(await fanPage.locator('#notice').getAttribute('role'), 'status', '#notice is a status region');
  await shoot(fanPage, NAME, 'wait-paused');
  await shoot(console_, NAME, 'console-paused');

  // Resume, confirmed: the fan's page leaves PAUSED, and once the slot frees the fan is let in.
  const resumeDialog = await openRoomChangeDialog(console_, 'Resume', /resum|open/i);
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

test("cancelling the Pause dialog sends no room change: the room stays OPEN, in the console too, and the waiting fan's page stays WAITING", { timeout: 60_000 }, async () => {
  const { api } = env.server;
  const { title, fan, fanPage, marker } = await fanWaitingBehindOne(CANCEL_CONCERT, { fanUserId: 2002, aheadUserId: 1002 });

  const operator = await watchedContext(env.browser, env.server);
  const console_ = await operator.newPage();
  const patches = recordRoomChanges(console_);
  await openConsole(console_, title);
  await console_.locator('#room-state[data-state="OPEN"]').waitFor();

  const dialog = await openRoomChangeDialog(console_, 'Pause', /paus/i);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'hidden' });
  // The console reads its room every 2 s: after a fresh read it still says OPEN.
  await console_.waitForResponse((r) => r.request().method() === 'GET' && new URL(r.url()).pathname === `/api/v1/admin/concerts/${CANCEL_CONCERT}/room`);
  assert.equal(await console_.locator('#room-state').getAttribute('data-state'), 'OPEN', "the console's #room-state says OPEN after Cancel");
  assert.deepEqual(patches, [], 'the console sent no PATCH of the room');
  assert.equal((await api.room(CANCEL_CONCERT)).state, 'OPEN', 'the room is OPEN');
  assert.equal(await fanPage.locator('#wait').getAttribute('data-status'), 'WAITING', "the fan's page says WAITING");
  const statuses = new Set((await trailOf(fanPage)).map((e) => e.status).filter(Boolean));
  assert.deepEqual([...statuses], ['WAITING'], "the fan's page showed no status but WAITING");
  await assertSamePage(fanPage, marker, "fan's page");

  assertClean(fan.problems, { label: "fan's pages" });
  assertClean(operator.problems, { label: 'console' });
  await fan.context.close();
  await operator.context.close();
});
