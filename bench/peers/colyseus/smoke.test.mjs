// Smoke test of the Colyseus peer (not in CI's suite: it needs bench/setup's npm ci).
//   node --test bench/peers/colyseus/smoke.test.mjs
// Starts server.mjs on a free loopback port, joins one @colyseus/sdk client to a "scene" room
// with 90 bots and the quarter-arena interest radius, and checks that patches arrive, that the
// view holds the client's own player plus only the bots inside the radius, and that entities move.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";

delete globalThis.WebSocket;
const { Client } = await import("@colyseus/sdk");
const DIR = path.dirname(fileURLToPath(import.meta.url));

test("the scene room sends patches, filtered by the interest radius", { timeout: 10000 }, async () => {
  const server = spawn(process.execPath, [path.join(DIR, "server.mjs"), "--port", "0"], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  try {
    const first = (await lines.next()).value;
    const port = Number(/^listening (\d+)$/.exec(first)[1]);
    const client = new Client(`ws://127.0.0.1:${port}`);
    const radius = 195.4;
    const room = await client.create("scene", { bots: 90, radius, players: 10 });
    let patches = 0;
    room.onStateChange(() => { patches++; });
    const own = (90).toString(36); // ids are base 36 in creation order: 90 bots, then the player
    let before = null;
    await new Promise((resolve) => {
      const t = setInterval(() => {
        if (!before && patches >= 1) before = new Map([...room.state.entities].map(([id, e]) => [id, `${e.x},${e.y}`]));
        if (patches >= 15) { clearInterval(t); resolve(); }
      }, 20);
    });
    const me = room.state.entities.get(own);
    assert.ok(me, "the client's own player is in its view");
    const n = room.state.entities.size;
    assert.ok(n >= 1 && n < 91, `view holds ${n} of 91 entities`);
    for (const [id, e] of room.state.entities) {
      const d = Math.hypot(e.x - me.x, e.y - me.y);
      // one tick of movement (5 px each) may separate the interest test from the patch
      assert.ok(d <= radius + 15, `entity ${id} at ${d.toFixed(1)} px is outside the radius`);
    }
    const moved = [...room.state.entities].filter(([id, e]) => before.has(id) && before.get(id) !== `${e.x},${e.y}`);
    assert.ok(moved.length > 0, "entities move from patch to patch");
    await room.leave();
  } finally {
    server.kill("SIGTERM");
  }
});
