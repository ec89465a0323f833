// The pages' plain messages against docs/API.md's "Error codes" table: no
// browser, only the shared module the pages load (assets/api.js), imported
// here as it is served (Node >= 20.19 reads its ES module syntax without a
// package.json saying so).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './harness.mjs';
import { describeError } from '../../crates/http/web/assets/api.js';

/** The `| `CODE` | status | ... |` rows under "## Error codes" in docs/API.md. */
function documentedCodes() {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'docs', 'API.md'), 'utf8');
  const start = text.indexOf('\n## Error codes\n');
  assert.ok(start >= 0, 'docs/API.md has a "## Error codes" section');
  const next = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, next < 0 ? undefined : next);
  return [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \| (\d{3}) \|/gm)].map(([, code, status]) => ({ code, status: Number(status) }));
}

test("assets/api.js has its own message for every code in docs/API.md's Error codes table", () => {
  const codes = documentedCodes();
  // The table is long; a handful would mean the parse lost it.
  assert.ok(codes.length >= 40, `parsed ${codes.length} codes from the table`);
  assert.ok(codes.some(({ code }) => code === 'SEAT_ALREADY_HELD'), 'SEAT_ALREADY_HELD is among the parsed codes');
  // An unknown code gets the fallback message: a code with no message of its own would too.
  const fallback = describeError({ code: 'NO_SUCH_CODE_ANYWHERE' });
  assert.equal(fallback, describeError({ code: 'UNEXPECTED_RESPONSE' }), 'an unknown code is given the UNEXPECTED_RESPONSE message');
  const missing = [];
  for (const { code } of codes) {
    const message = describeError({ code }, { seat: 7 });
    if (typeof message !== 'string' || message.trim() === '' || message === fallback || message.includes(code)) missing.push(code);
  }
  assert.deepEqual(missing, [], 'codes without a plain message of their own (empty, the fallback, or naming the code)');
});

test('the messages the contract spells out read as it says, with the seat number and Retry-After filled in', () => {
  assert.equal(describeError({ code: 'SEAT_ALREADY_HELD' }, { seat: 12 }), 'Someone else has just taken seat 12. Pick another seat.');
  assert.equal(describeError({ code: 'SOLD_OUT' }), 'This concert is sold out.');
  assert.equal(describeError({ code: 'HOLD_EXPIRED' }), 'Your hold has ended and the seat went back on sale.');
  assert.equal(describeError({ code: 'INSUFFICIENT_BALANCE' }), 'Your balance does not cover the price. Top up first.');
  assert.equal(describeError({ code: 'RATE_LIMITED', retryAfter: 4 }), 'Too many requests. Wait 4 s and try again.');
});
