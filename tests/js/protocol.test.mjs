// The protocol as docs/protocol.md describes it, checked from JavaScript against a real craftd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startCraftd } from "./lib/craftd.mjs";
import { Client, CraftError, connectAs } from "./lib/client.mjs";
import { decodeEnvelope, encodeEnvelope } from "./lib/proto.mjs";

const skip = process.env.CRAFTD ? false : "set CRAFTD to run against a real craftd";
let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => {
  if (!server) return;
  const { code } = await server.stop();
  assert.equal(code, 0, "craftd exits 0 on SIGTERM");
});

const b64 = (s) => Buffer.from(s).toString("base64");
const text = (data) => Buffer.from(data ?? "", "base64").toString("utf8");
const roomData = (m) => m.roomData;

test("the worked hex example encodes exactly as documented", { skip }, () => {
  const bytes = encodeEnvelope({ cid: 2, roomJoinOrCreate: { type: "relay" } });
  assert.equal(bytes.toString("hex"), "080242070a0572656c6179");
  const tcp = encodeEnvelope({ roomData: { roomId: "Ab3dE5gH9jK1", op: 1, data: b64("hi") } });
  assert.equal(tcp.toString("hex"), "62140a0c4162336445356748396a4b3110011a026869");
  assert.deepEqual(decodeEnvelope(tcp), { roomData: { roomId: "Ab3dE5gH9jK1", op: 1, data: b64("hi") } });
});

test("two JSON clients exchange room_data in a relay room, with presence", { skip }, async () => {
  const ann = await connectAs(server.url, "ann");
  const bob = await connectAs(server.url, "bob");
  const joinedA = await ann.joinOrCreate("relay");
  const joinedB = await bob.joinOrCreate("relay");
  assert.equal(joinedB.roomId, joinedA.roomId);
  assert.deepEqual(joinedB.members.map((p) => p.name).sort(), ["ann", "bob"]);
  const presence = await ann.waitFor((m) => m.presence);
  assert.deepEqual(presence.presence.joins, [{ sessionId: bob.sessionId, name: "bob" }]);

  ann.send(joinedA.roomId, 3, "\u0000binary\u00ff");
  const got = roomData(await bob.waitFor(roomData));
  assert.equal(got.op, 3);
  assert.equal(got.sender, ann.sessionId);
  assert.equal(Buffer.from(got.data, "base64").toString(), "\u0000binary\u00ff");

  const carl = await connectAs(server.url, "carl");
  await carl.join(joinedA.roomId);
  bob.send(joinedA.roomId, 4, "for carl only", [carl.sessionId]);
  assert.equal(text(roomData(await carl.waitFor(roomData)).data), "for carl only");
  await assert.rejects(ann.waitFor(roomData, 300));

  const rooms = await ann.list("relay");
  const mine = rooms.find((r) => r.roomId === joinedA.roomId);
  assert.equal(mine.clients, 3);

  await bob.leave(joinedA.roomId);
  const left = await ann.waitFor((m) => m.presence?.leaves);
  assert.equal(left.presence.leaves[0].name, "bob");
  for (const c of [ann, bob, carl]) await c.close();
});

test("a chat room delivers its history to a late joiner", { skip }, async () => {
  const ann = await connectAs(server.url, "ann");
  const room = await ann.create("chat");
  for (const t of ["hello", "is anyone here?"]) {
    ann.send(room.roomId, 1, t);
    const echo = JSON.parse(text(roomData(await ann.waitFor(roomData)).data));
    assert.equal(echo.text, t);
    assert.equal(echo.name, "ann");
  }
  const zoe = await connectAs(server.url, "zoe");
  const joined = await zoe.join(room.roomId);
  const history = JSON.parse(text(joined.state)).history;
  assert.deepEqual(history.map((h) => [h.name, h.text, h.sender]),
    [["ann", "hello", ann.sessionId], ["ann", "is anyone here?", ann.sessionId]]);
  await ann.close();
  await zoe.close();
});

test("errors carry the exact code and the request's cid", { skip }, async () => {
  const c = await new Client(server.url).connect();
  await assert.rejects(c.joinOrCreate("relay"), (e) => e instanceof CraftError && e.code === "NOT_AUTHENTICATED");
  await c.hello("erin");
  await assert.rejects(c.join("noSuchRoom"), (e) => e.code === "ROOM_NOT_FOUND");
  await assert.rejects(c.create("no-such-type"), (e) => e.code === "UNKNOWN_ROOM_TYPE");
  await assert.rejects(c.request({ roomData: { roomId: "noSuchRoom", op: 1 } }), (e) => e.code === "NOT_IN_ROOM" && e.cid > 0);
  c.sendRaw("{ this is not json");
  const bad = await c.waitFor((m) => m.error);
  assert.equal(bad.error.code, "BAD_REQUEST");
  assert.equal(bad.cid, undefined, "cid 0 is omitted in JSON");
  const pong = await c.ping();  // still connected
  assert.ok(Number(pong.serverTimeUs) > 0);
  await c.close();
});

test("invalid UTF-8 in a text frame closes 1007; the room keeps working", { skip }, async () => {
  const a = await connectAs(server.url, "a");
  const room = await a.create("relay");
  const b = await connectAs(server.url, "b");
  await b.join(room.roomId);
  const victim = await connectAs(server.url, "victim");
  await victim.join(room.roomId);
  // ws refuses to send invalid UTF-8 as text, so write the frame ourselves.
  const payload = Buffer.from([0x7b, 0xc3, 0x28, 0x7d]);
  const mask = Buffer.from([1, 2, 3, 4]);
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask,
    Buffer.from(payload.map((x, i) => x ^ mask[i % 4]))]);
  victim.ws._socket.write(frame);
  assert.equal(await victim.closed, 1007);
  assert.equal(victim.disconnect.code, 1007);
  a.send(room.roomId, 1, "after");
  assert.equal(text(roomData(await b.waitFor(roomData)).data), "after");
  await a.close();
  await b.close();
});

test("an oversized message closes 1009", { skip }, async () => {
  const small = await startCraftd(["--limits.max-message-size", "1024"]);
  try {
    const c = await connectAs(small.url, "big");
    c.sendRaw(Buffer.alloc(2000));
    assert.equal(await c.closed, 1009);
  } finally {
    assert.equal((await small.stop()).code, 0);
  }
});

test("a binary (protobuf) client and a JSON client share a relay room", { skip }, async () => {
  const json = await connectAs(server.url, "json");
  const binary = await connectAs(server.url, "binary", { format: "binary" });
  const room = await json.create("relay");
  const joined = await binary.join(room.roomId);
  assert.equal(joined.members.length, 2);
  binary.send(room.roomId, 9, "from protobuf");
  const got = roomData(await json.waitFor(roomData));
  assert.equal(text(got.data), "from protobuf");
  assert.equal(got.sender, binary.sessionId);
  json.send(room.roomId, 10, "from json");
  const back = roomData(await binary.waitFor(roomData));
  assert.equal(text(back.data), "from json");
  assert.equal(back.sender, json.sessionId);
  await json.close();
  await binary.close();
});

test("a raw WebSocket without hello is closed 4000 after the handshake timeout", { skip }, async () => {
  const quick = await startCraftd(["--limits.handshake-timeout-ms", "300"]);
  try {
    const ws = new WebSocket(quick.url);
    const code = await new Promise((resolve) => ws.on("close", resolve));
    assert.equal(code, 4000);
  } finally {
    await quick.stop();
  }
});
