// Asking for a queue token, through the bot gate when the concert has one:
// a SHA-256 proof of work solved in the browser (docs/API.md, "The bot
// gate"). Leaving the view stops the solving, and no token is asked for.

import { ApiError } from "../api.js";
import { setBusy } from "./page.js";
import { asFan } from "./session.js";

// A refused answer to the bot gate brings a fresh challenge; a few rounds
// cover one that expired while it was being solved.
const MAX_PROOF_OF_WORK_ROUNDS = 3;
// Digests are started this many at a time so they run side by side
// instead of one await after another.
const PROOF_OF_WORK_BATCH = 256;
// The digests' answers crowd out the page's other tasks (a click on a
// link, a timer); the solve steps aside this often so the fan can leave.
const YIELD_EVERY_MS = 50;

/**
 * POST /queue/tokens, solving the bot gate's challenge first when the
 * concert has one. Asking for the challenge up front, rather than waiting
 * to be refused, keeps a gated join free of failed requests. Throws the
 * scope's abort reason once the scope has ended.
 */
export async function requestToken(scope, concertId) {
  let challenge = await asFan("POST", "/api/v1/queue/challenges", { body: { concertId } });
  for (let round = 1; ; round += 1) {
    scope.signal.throwIfAborted();
    try {
      const body = challenge.required ? { concertId, proofOfWork: await proofOfWork(scope, challenge) } : { concertId };
      scope.signal.throwIfAborted();
      return await asFan("POST", "/api/v1/queue/tokens", { body });
    } catch (error) {
      // A refused answer (too late, used, harder now) brings a fresh challenge.
      if (!error.challenge?.required || round >= MAX_PROOF_OF_WORK_ROUNDS) throw error;
      challenge = error.challenge;
    }
  }
}

async function proofOfWork(scope, challenge) {
  setBusy("Checking your browser…");
  return { challenge: challenge.challenge, nonce: await solveChallenge(scope.signal, challenge) };
}

/**
 * A nonce whose SHA-256 of `challenge + ":" + nonce` starts with
 * `difficultyBits` zero bits. Lets the page run and checks `signal`
 * between batches.
 */
async function solveChallenge(signal, { challenge, difficultyBits }) {
  if (!globalThis.crypto?.subtle) {
    throw new ApiError({ code: "BROWSER_CHECK_UNSUPPORTED", status: 0, message: "" });
  }
  const encoder = new TextEncoder();
  let yieldedAt = performance.now();
  for (let start = 0; ; start += PROOF_OF_WORK_BATCH) {
    if (performance.now() - yieldedAt >= YIELD_EVERY_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      yieldedAt = performance.now();
    }
    signal.throwIfAborted();
    const nonces = Array.from({ length: PROOF_OF_WORK_BATCH }, (_, i) => String(start + i));
    const digests = await Promise.all(
      nonces.map((nonce) => crypto.subtle.digest("SHA-256", encoder.encode(`${challenge}:${nonce}`))),
    );
    const found = digests.findIndex((digest) => leadingZeroBits(new Uint8Array(digest)) >= difficultyBits);
    if (found >= 0) return nonces[found];
  }
}

function leadingZeroBits(bytes) {
  let bits = 0;
  for (const byte of bytes) {
    if (byte !== 0) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}
