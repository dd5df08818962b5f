// room.replicated against a real craftd: movement2d with {"state": "replicated"} (its README,
// "Replicated state"): every player is an entity (pos x/y, player id/seq/dropped/name), decoded
// by the SDK; inputs move your square for everyone; the SDK's acks reach the server, which
// then sends small deltas instead of full snapshots; interpolation and the render tick run on
// the room's tick time.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, decodeJson } from "../dist/esm/index.js";
import { readFileSync } from "node:fs";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

// The tree's movement2d must have its replicated mode (sync-host's work; the skip goes once
// both are in the same tree, and from then on this runs whenever CRAFTD is set).
const room = readFileSync(new URL("../../../examples/movement2d/movement2d_room.cpp", import.meta.url), "utf8");
const skip = skipReason || (!room.includes("replicate_state") && "this tree's movement2d has no {\"state\": \"replicated\"} option yet");
let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

const connect = async (name, format) => {
  const c = new Client(server.url, { name, format, WebSocket, reconnect: { enabled: false } });
  await c.connect();
  return c;
};
const until = async (what, cond, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};
const input = (seq, dx, dy) => {
  const b = new Uint8Array(6);
  new DataView(b.buffer).setUint32(0, seq, true);
  b[4] = dx & 0xff;
  b[5] = dy & 0xff;
  return b;
};
const byPlayer = (state, sessionId) => [...state.entities.values()].find((e) => String(e.player?.id) === sessionId);

for (const format of ["binary", "json"]) {
  test(`${format}: movement2d on replicated state: entities, inputs, acks and interpolation through craftd`, { skip, timeout: 30000 }, async () => {
    const ann = await connect("ann", format);
    const bob = await connect("bob", format);
    try {
      const ra = await ann.create("movement2d", { state: "replicated", tickRate: 20 });
      const rb = await bob.joinById(ra.id);
      const drops = [];
      for (const r of [ra, rb]) r.replicated.onDrop((d) => drops.push(d));
      await until("both players in both views", () => ra.replicated.entities.size === 2 && rb.replicated.entities.size === 2);
      const schema = ra.replicated.schema;
      assert.equal(schema.tickRateHz, 20);
      assert.deepEqual(schema.components.map((c) => c.name), ["pos", "player"]);
      const annSeenByBob = byPlayer(rb.replicated, ann.sessionId);
      assert.equal(annSeenByBob.player.name, "ann");
      const x0 = annSeenByBob.pos.x;
      const moves = [];
      rb.replicated.listen(annSeenByBob, "pos", "x", (x) => moves.push(x));
      // Five inputs to the right: the acks ride on them.
      for (let seq = 1; seq <= 5; seq++) {
        ra.send(1, input(seq, 1, 0));
        await new Promise((r) => setTimeout(r, 60));
      }
      await until("ann's seq 5 applied", () => byPlayer(ra.replicated, ann.sessionId)?.player.seq === 5);
      await until("bob sees ann moved", () => byPlayer(rb.replicated, ann.sessionId).pos.x > x0);
      assert.ok(moves.length > 0 && moves.every((x, i) => x > (i ? moves[i - 1] : x0)), `x only grew: ${moves}`);
      // Acked: an idle second of snapshots is deltas with nothing in them (a few bytes each),
      // not full snapshots of both players (which would be 20+ bytes).
      const before = { ...rb.replicated.stats };
      await new Promise((r) => setTimeout(r, 1000));
      const n = rb.replicated.stats.decoded - before.decoded;
      const bytes = (rb.replicated.stats.bytes - before.bytes) / n;
      assert.ok(n >= 10, `${n} snapshots in a second at 20 Hz`);
      assert.ok(bytes < 12, `idle snapshots are empty deltas: ${bytes} bytes each`);
      console.log(`# ${format}: idle snapshots ${bytes.toFixed(1)} B each, ${n} in a second`);
      // Interpolation on the room's tick time: the render tick is about 100 ms (2 ticks) behind.
      // The median over a second of samples: one sample depends on when the newest snapshot
      // happened to arrive, which a loaded machine delays (a late one leaves it less than 1 behind).
      const samples = [];
      for (let i = 0; i < 20; i++) {
        samples.push(rb.replicated.tick - rb.replicated.renderTick());
        await new Promise((r) => setTimeout(r, 50));
      }
      samples.sort((p, q) => p - q);
      const behind = samples[10];
      assert.ok(behind > 0.5 && behind < 6, `render tick ${behind} ticks behind the newest (median; samples ${samples.map((x) => x.toFixed(2))})`);
      const { entities } = rb.replicated.interpolated();
      assert.equal(entities.size, 2);
      assert.deepEqual(drops, []);
      // Not JSON snapshots: op 0 carries nothing in this mode (the join state still does).
      assert.ok(decodeJson(ra.state).world);
    } finally {
      await ann.close();
      await bob.close();
    }
  });
}
