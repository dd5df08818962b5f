// The SDK against a real craftd (set CRAFTD to the binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, CraftError, decodeJson, decodeText } from "../dist/esm/index.js";
import { freePort, skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

const skip = skipReason;  // set CRAFTD to run against a real craftd; under CI=true its absence fails
let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

const connect = async (name, format = "binary", url = server.url) => {
  const c = new Client(url, { name, format, WebSocket, reconnect: { enabled: false } });
  await c.connect();
  return c;
};
const next = (subscribe) => new Promise((resolve) => { const off = subscribe((...args) => { off(); resolve(args); }); });

for (const format of ["binary", "json"]) {
  test(`two ${format} clients relay messages with sender and presence`, { skip }, async () => {
    const ann = await connect("ann", format);
    const bob = await connect("bob", format);
    const a = await ann.joinOrCreate("relay");
    const joined = next((cb) => a.onJoin(cb));
    const b = await bob.joinOrCreate("relay");
    assert.equal(b.id, a.id);
    assert.equal((await joined)[0].name, "bob");
    assert.deepEqual([...b.members.values()].map((p) => p.name).sort(), ["ann", "bob"]);

    const got = next((cb) => b.onMessage(7, cb));
    a.send(7, { hello: "world" });
    const [data, sender, op] = await got;
    assert.deepEqual(decodeJson(data), { hello: "world" });
    assert.equal(sender, ann.sessionId);
    assert.equal(op, 7);

    const left = next((cb) => a.onLeave(cb));
    await b.leave();
    assert.equal((await left)[0].sessionId, bob.sessionId);
    const rooms = await ann.listRooms("relay");
    assert.equal(rooms.find((r) => r.roomId === a.id).clients, 1);
    await ann.close();
    await bob.close();
  });
}

test("errors are CraftError with the protocol's code", { skip }, async () => {
  const c = await connect("err");
  await assert.rejects(c.joinById("nope"), (e) => e instanceof CraftError && e.code === "ROOM_NOT_FOUND");
  await assert.rejects(c.create("no-such-type"), (e) => e.code === "UNKNOWN_ROOM_TYPE");
  const { rttMs } = await c.ping();
  assert.ok(rttMs >= 0 && rttMs < 1000);
  assert.ok(Math.abs(c.serverNow() - Date.now()) < 1000, "same machine: offset near 0");
  await c.close();
});

test("chat history arrives as the room's state", { skip }, async () => {
  const ann = await connect("ann", "json");
  const room = await ann.create("chat");
  const echo = next((cb) => room.onMessage(1, cb));
  room.send(1, "first!");
  assert.equal(decodeJson((await echo)[0]).text, "first!");
  const zoe = await connect("zoe");
  const late = await zoe.joinById(room.id);
  const state = await next((cb) => late.onStateChange(cb));
  assert.deepEqual(decodeJson(state[0]).history.map((h) => [h.name, h.text]), [["ann", "first!"]]);
  assert.equal(decodeText(late.state).includes("first!"), true);
  await ann.close();
  await zoe.close();
});

test("movement2d with {state: \"json\"}: JSON snapshots arrive through onStateChange (op 0)", { skip }, async () => {
  const c = await connect("mover");
  // Replicated state is movement2d's default (room.replicated, state_craftd.test.mjs); JSON
  // snapshots are what a room created with {"state": "json"} sends.
  const room = await c.create("movement2d", { state: "json" });
  const first = decodeJson(room.state);
  assert.equal(first.world.w, 800);
  assert.equal(first.state, "json");
  const snapshots = [];
  const done = new Promise((resolve) => room.onStateChange((s) => {
    const json = decodeJson(s);
    if (json.players) snapshots.push(json);
    if (snapshots.length === 3) resolve();
  }));
  room.send(1, new Uint8Array([1, 0, 0, 0, 1, 0]));  // seq 1, dx 1, dy 0
  await done;
  const me = snapshots.at(-1).players.find((p) => p.id === c.sessionId);
  assert.equal(me.seq, 1);
  await c.close();
});


test("reconnects with backoff after the server restarts; a room that is gone is left", { skip, timeout: 30000 }, async () => {
  const port = await freePort();
  let first = await startCraftd(["--server.http-port", String(port)]);
  const c = new Client(`ws://127.0.0.1:${port}/ws`, { name: "phoenix", WebSocket,
    reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  const states = [];
  c.on("state", ({ state, previous }) => states.push(`${previous}>${state}`));
  await c.connect();
  const room = await c.joinOrCreate("relay");
  const leftRoom = next((cb) => room.onLeft(cb));
  const lost = next((cb) => c.on("roomsLost", cb));
  const disconnected = next((cb) => c.on("disconnect", cb));
  const dropped = next((cb) => c.on("dropped", cb));
  const reconnecting = next((cb) => c.on("reconnecting", cb));
  const reconnected = next((cb) => c.on("reconnected", cb));
  await first.stop();
  assert.equal((await disconnected)[0].code, 1001);
  assert.equal((await dropped)[0].code, 1001);
  assert.equal(c.state, "reconnecting");
  assert.ok((await reconnecting)[0].attempt >= 1);
  const second = await startCraftd(["--server.http-port", String(port)]);
  try {
    // The new server has no such room: it is left, with the reason, before "reconnected".
    const [reason] = await leftRoom;
    assert.match(reason, /^rejoin failed: ROOM_NOT_FOUND/);
    // And the client says so once for all its rooms, as it does for a lost cluster node.
    assert.deepEqual((await lost)[0], { url: c.url, roomIds: [room.id], reason });
    const [info] = await reconnected;
    assert.equal(info.sessionId, c.sessionId);
    assert.equal(c.state, "connected");
    assert.deepEqual(states, ["disconnected>connecting", "connecting>connected", "connected>reconnecting", "reconnecting>connected"]);
    // A close the server started with 1001 ended the session: no resume was tried.
    const metrics = await (await fetch(`${second.httpUrl}/metrics`)).text();
    assert.ok(metrics.split("\n").includes('craft_resume_failures_total{reason="unknown"} 0'), "no resume attempt");
    const again = await c.joinOrCreate("relay");
    assert.ok(again.id);
  } finally {
    await c.close();
    await second.stop();
  }
  assert.equal(c.state, "disconnected");
});
