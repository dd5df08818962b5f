// The race behind a flake of lobby.test.mjs's properties test (under load): a Room buffers what
// comes right behind room_joined until a timer (setTimeout 0, "after the caller's await added
// its listeners") hands it over. On loopback a whole join + properties_set round trip can finish
// before that timer runs, and setProperties' own answer then sat in the buffer: the promise
// resolved while room.playerProperties() was still {} and "properties" had not fired.
// Here the timer is held (node:test mock timers) so the race happens every time, not by luck.
import { test, before, after, mock } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client } from "../dist/esm/index.js";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

let server;
before(async () => {
  if (!skipReason) server = await startCraftd();
});
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

async function connect(name, format) {
  const c = new Client(server.url, { name, format, WebSocket, reconnect: { enabled: false } });
  await c.connect();
  return c;
}

for (const format of ["binary", "json"]) {
  test(`${format}: setProperties right after the join resolves with the change applied, before the join timer ran`, { skip: skipReason }, async (t) => {
    const a = await connect("a", format);
    const b = await connect("b", format);
    // From here setTimeout callbacks wait for mock.timers.tick (never called): the new rooms'
    // hand-over timers have not run when the answers arrive.
    mock.timers.enable({ apis: ["setTimeout"] });
    t.after(() => mock.timers.reset());
    const ra = await a.create("relay");
    const rb = await b.joinById(ra.id);
    const events = [];
    rb.on("properties", (c) => events.push(c.version));
    const seenByA = [];
    ra.onJoin((p) => seenByA.push(`join ${p.sessionId}`));
    ra.on("properties", (c) => seenByA.push(`properties ${c.player} v${c.version}`));
    const change = await rb.setProperties({ ready: true }, { player: b.sessionId });
    assert.deepEqual(rb.playerProperties(), { ready: true }, "the writer's room has its own change when setProperties resolves");
    assert.equal(rb.propertiesVersion, change.version);
    assert.deepEqual(events, [change.version], "\"properties\" fired before setProperties resolved");
    // a's room: b's join (presence) and b's change came while a was idle; its own write
    // next hands them over first, in order, so a sees b before b's properties and its own.
    const mine = await ra.setProperties({ ready: false }, { player: a.sessionId, expect: { ready: null } });
    assert.equal(mine.version, change.version + 1);
    assert.deepEqual(ra.playerProperties(), { ready: false });
    assert.deepEqual(ra.playerProperties(b.sessionId), { ready: true });
    assert.equal(ra.propertiesVersion, mine.version);
    assert.deepEqual(seenByA, [`join ${b.sessionId}`, `properties ${b.sessionId} v${change.version}`, `properties ${a.sessionId} v${mine.version}`]);
    mock.timers.reset();
    await a.close();
    await b.close();
  });
}
