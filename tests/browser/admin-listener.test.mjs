// The console on a listener of its own (`server.admin_listen`): it is served
// there with the admin API it calls, and finds the concerts and the room
// there, where the fan API and the public catalog are not served.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, watchedContext, assertClean, openConsole, freePort, shoot,
} from './harness.mjs';

const NAME = 'admin-listener';

let server;
let browser;
let admin;

before(async () => {
  const port = await freePort();
  admin = { url: `http://127.0.0.1:${port}`, origin: `http://127.0.0.1:${port}` };
  server = await startServer(NAME, { env: { BOXOFFICE__SERVER__ADMIN_LISTEN: `127.0.0.1:${port}` } });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('on an admin listener of its own the console lists every concert and shows the chosen room, and the public listener has no console', { timeout: 60_000 }, async () => {
  const operator = await watchedContext(browser, admin);
  const page = await operator.newPage();
  await openConsole(page, 'Jazz at the Harbor');
  await page.locator('#room-state[data-state="OPEN"]').waitFor();
  assert.equal(await page.getByLabel('Concert').locator('option').count(), 3);
  await page.locator('#invariants[data-ok="true"]').waitFor();
  await shoot(page, NAME, 'console');

  assert.equal((await fetch(`${server.url}/admin`)).status, 404);
  assert.equal((await fetch(`${admin.url}/api/v1/concerts`)).status, 404);
  await operator.context.close();
  assertClean(operator.problems, { label: 'console on the admin listener' });
});
