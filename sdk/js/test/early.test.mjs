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

for (const format of ["binary", "json"]) {
  test(`${format}: leave() right after the join: what came before is handed over first, "left" is the last event`, { skip: skipReason }, async (t) => {
    const a = await connect("a", format);
    const b = await connect("b", format);
    mock.timers.enable({ apis: ["setTimeout"] });
    t.after(() => mock.timers.reset());
    const ra = await a.create("relay");
    const seen = [];
    ra.on("stateChange", () => seen.push("state"));
    ra.onJoin((p) => seen.push(`join ${p.sessionId}`));
    ra.on("left", (reason) => seen.push(`left ${reason}`));
    // b's join reaches a's room while its hand-over timer is held: it waits in the buffer.
    const rb = await b.joinById(ra.id);
    await rb.setProperties({ x: 1 }, { player: b.sessionId });
    // Until a's connection has read b's presence (and b's change) into the held buffer.
    for (let i = 0; i < 10000 && !(ra.early && ra.early.length >= 2); i++) await new Promise((r) => setImmediate(r));
    assert.ok(ra.early && ra.early.length >= 2, "a's room holds b's presence and change");
    await ra.leave();
    assert.deepEqual(seen, ["state", `join ${b.sessionId}`, "left left"]);
    mock.timers.tick(10);  // the held hand-over timer runs now: it must find nothing to deliver
    mock.timers.reset();
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen, ["state", `join ${b.sessionId}`, "left left"], "nothing after \"left\"");
    await a.close();
    await b.close();
  });
}
