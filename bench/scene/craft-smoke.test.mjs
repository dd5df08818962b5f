// Smoke test of craft's side of the issue-13 scene (not in CI's suite: it needs the
// craft-scene-server binary and sdk/js/dist):
//   cmake --build build --target craft-scene-server && (cd sdk/js && npm run build)
//   node --test bench/scene/craft-smoke.test.mjs
// Starts craft-scene-server on a free loopback port (CRAFT_SCENE_SERVER overrides the path),
// joins one JS SDK client to a "scene" room with 90 bots and the quarter-arena interest radius,
// and checks that snapshots arrive and decode, that the view holds the client's own player plus
// only the entities inside the radius, that entities move and headings turn, that inputs are
// accepted (no error back) and that the server acks are taken (deltas, not full snapshots).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "../../sdk/js/dist/esm/index.js";
import WebSocket from "../../sdk/js/node_modules/ws/wrapper.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const BIN = process.env.CRAFT_SCENE_SERVER || path.join(ROOT, "build/bench/craft-scene-server");

test("the scene room replicates its entities, filtered by the interest radius", { timeout: 20000 }, async () => {
  const server = spawn(BIN, ["--listen", "127.0.0.1", "--http-port", "0", "--tcp-port", "0", "--log-level", "warn"],
    { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  try {
    let port = 0;
    while (!port) {  // the server's log lines come first
      const { value, done } = await lines.next();
      assert.ok(!done, "craft-scene-server exited before listening");
      port = Number(/^listening (\d+)$/.exec(value)?.[1] ?? 0);
    }
    const client = new Client(`ws://127.0.0.1:${port}/ws`, { WebSocket, reconnect: { enabled: false } });
    const errors = [];
    client.on("error", (e) => errors.push(e));
    await client.connect();
    const radius = 195.4;
    const room = await client.create("scene", { bots: 90, radius, players: 10 });
    const state = room.replicated;
    let snapshots = 0;
    let before = null;
    state.onSnapshot(() => {
      snapshots++;
      room.send(1, new Uint8Array([3])); // an input each snapshot: turn +3 steps; the ack rides on it
      if (snapshots === 2) before = new Map([...state.entities].map(([id, e]) => [id, `${e.body.x},${e.body.y},${e.body.heading}`]));
    });
    await new Promise((resolve) => { const t = setInterval(() => { if (snapshots >= 20) { clearInterval(t); resolve(); } }, 20); });

    assert.deepEqual(state.schema.components.map((c) => [c.name, c.fields.map((f) => f.name)]), [["body", ["x", "y", "heading"]]]);
    // The player is the 91st entity created; net ids are given in order of first snapshot, so find
    // it as the entity at the centre of the view: every other one lies within the radius of it.
    const all = [...state.entities.values()];
    assert.ok(all.length >= 1 && all.length < 91, `view holds ${all.length} of 91 entities`);
    const centre = all.find((me) => all.every((e) => Math.hypot(e.body.x - me.body.x, e.body.y - me.body.y) <= radius + 15));
    assert.ok(centre, "one entity (the client's own player) has every other within the radius");
    for (const e of all) {
      assert.ok(e.body.x >= 0 && e.body.x <= 800 && e.body.y >= 0 && e.body.y <= 600, `entity ${e.id} inside the arena`);
      assert.ok(Number.isInteger(e.body.heading) && e.body.heading >= 0 && e.body.heading <= 255);
      // x, y travel in steps of 1/64 px
      assert.equal(Math.round(e.body.x * 64) / 64, e.body.x);
    }
    const moved = all.filter((e) => before.has(e.id) && before.get(e.id) !== `${e.body.x},${e.body.y},${e.body.heading}`);
    assert.ok(moved.length > 0, "entities move from snapshot to snapshot");
    assert.equal(state.stats.dropped ?? 0, 0, "no snapshot dropped");
    assert.deepEqual(errors, [], "inputs accepted");
    // Acked: after the first snapshot (full: no baseline yet) the server sent deltas only.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const count = (name) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, "m").exec(metrics)?.[1]);
    const snaps = count("craft_replication_snapshots_total"), full = count("craft_replication_full_snapshots_total");
    assert.ok(snaps >= 20, `${snaps} snapshots sent`);
    assert.ok(full >= 1 && full <= 3, `${full} full snapshots of ${snaps}: the acks took`);
    await room.leave();
    client.close();
  } finally {
    server.kill("SIGTERM");
  }
});
