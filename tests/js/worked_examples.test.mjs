// docs/protocol.md §7, read from the page itself and played against a real craftd ($CRAFTD):
// the documented request bytes are sent as they are printed, and craftd's reply bytes are
// compared with the printed ones. Only what the page says varies is substituted: the room id
// (random) and the server clock (serverTimeUs). Session ids are made to match the page by
// connecting in order to a fresh server (ids count accepted connections from 1).
// Not played: §7.5's targets and disconnect lines (encoding examples, no claim about a reply).
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { skipReason, startCraftd } from "./lib/craftd.mjs";
import { decodeEnvelope } from "./lib/proto.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const doc = fs.readFileSync(path.resolve(here, "../../docs/protocol.md"), "utf8");
const opts = { skip: skipReason, timeout: 30000 };

// --- the page --------------------------------------------------------------------------------
function section(title) {
  const start = doc.indexOf(`### ${title}`);
  assert.ok(start >= 0, `docs/protocol.md has no "### ${title}"`);
  const end = doc.indexOf("\n## ", start + 1);
  const next = doc.indexOf("\n### ", start + 1);
  return doc.slice(start, Math.min(...[end, next].filter((i) => i > 0)));
}
const hex = (s) => Buffer.from(s.replace(/\s+/g, ""), "hex");
function grab(text, re, what) {
  const m = re.exec(text);
  assert.ok(m, `docs/protocol.md: cannot find ${what}`);
  return m[1];
}
// The hex bytes at the start of each line of a code block (the rest of a line explains them).
function codeBlockBytes(text) {
  const block = grab(text, /```\n([\s\S]*?)```/, "a code block");
  const bytes = [];
  for (const line of block.split("\n")) {
    const m = /^\s*((?:[0-9a-f]{2} )*[0-9a-f]{2})(?: {2,}|$)/.exec(line);
    if (m) bytes.push(m[1]);
  }
  return hex(bytes.join(" "));
}
const DOC_ROOM = "Ab3dE5gH9jK1";
// Replaces every occurrence of the page's room id (as bytes) with the real one.
function withRoom(bytes, room, docRoom = DOC_ROOM) {
  assert.equal(Buffer.byteLength(room), docRoom.length, "room ids are 12 characters (§4.4)");
  return Buffer.from(bytes.toString("latin1").split(docRoom).join(room), "latin1");
}

// --- raw sockets, so the bytes on the wire can be compared --------------------------------------
class Wire {
  constructor(socket, parse) {
    this.socket = socket;
    this.parse = parse;
    this.buffer = Buffer.alloc(0);
    this.items = [];
    this.waiters = new Set();
    this.ended = false;
    socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      for (let item; (item = this.parse(this)); ) this.items.push(item);
      this.wake();
    });
    socket.on("close", () => { this.ended = true; this.wake(); });
    socket.on("error", () => {});
  }
  wake() { for (const w of [...this.waiters]) w(); }
  // The next item (frame or TCP message) matching pred, removed from the queue.
  next(pred = () => true, what = "a frame", timeoutMs = 5000) {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        const i = this.items.findIndex(pred);
        if (i < 0 && !this.ended) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        if (i < 0) reject(new Error(`connection closed while waiting for ${what}`));
        else resolve(this.items.splice(i, 1)[0]);
      };
      timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} in ${timeoutMs} ms; got ${this.items.map((x) => x.raw.toString("hex")).join(", ")}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }
  write(bytes) { this.socket.write(bytes); }
  end() { this.socket.end(); }
}

async function connected(port) {
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve, reject) => { socket.once("connect", resolve); socket.once("error", reject); });
  return socket;
}

// A length-prefixed TCP connection (§1.3): items are {raw, envelope}.
async function tcp(port) {
  return new Wire(await connected(port), (w) => {
    if (w.buffer.length < 4 || w.buffer.length < 4 + w.buffer.readUInt32BE(0)) return null;
    const raw = w.buffer.subarray(0, 4 + w.buffer.readUInt32BE(0));
    w.buffer = w.buffer.subarray(raw.length);
    return { raw, envelope: decodeEnvelope(raw.subarray(4)) };
  });
}

// A WebSocket connection by hand (§1.2): items are the server's frames {raw, opcode, payload}.
async function websocket(port) {
  const socket = await connected(port);
  socket.write("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  let upgraded = false;
  const wire = new Wire(socket, (w) => {
    if (!upgraded) {
      const end = w.buffer.indexOf("\r\n\r\n");
      if (end < 0) return null;
      assert.match(w.buffer.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
      w.buffer = w.buffer.subarray(end + 4);
      upgraded = true;
    }
    if (w.buffer.length < 2) return null;
    assert.equal(w.buffer[1] & 0x80, 0, "server frames are never masked");
    let length = w.buffer[1] & 0x7f, head = 2;
    if (length === 126) { if (w.buffer.length < 4) return null; length = w.buffer.readUInt16BE(2); head = 4; }
    if (length === 127) { if (w.buffer.length < 10) return null; length = Number(w.buffer.readBigUInt64BE(2)); head = 10; }
    if (w.buffer.length < head + length) return null;
    const raw = w.buffer.subarray(0, head + length);
    w.buffer = w.buffer.subarray(raw.length);
    return { raw, fin: (raw[0] & 0x80) !== 0, opcode: raw[0] & 0x0f, payload: raw.subarray(head) };
  });
  wire.send = (opcode, payload, key = [0x11, 0x22, 0x33, 0x44]) => {
    const body = Buffer.from(payload);
    assert.ok(body.length < 126, "short frames only");
    wire.write(Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | body.length, ...key]),
                              Buffer.from(body.map((x, i) => x ^ key[i % 4]))]));
  };
  return wire;
}
const isBinary = (f) => f.opcode === 2;
const isText = (f) => f.opcode === 1;
const envelopeOf = (f) => (f.opcode === 2 ? decodeEnvelope(f.payload) : JSON.parse(f.payload.toString()));

// Makes a fresh server's next session id `id` by saying hello on TCP until then.
async function fillSessionsUpTo(server, id, fillers) {
  for (let want = 1; want < id; ++want) {
    const t = await tcp(server.tcp);
    t.write(Buffer.from([0, 0, 0, 4, 0x12, 0x02, 0x08, 0x01]));  // hello {protocol_version: 1}
    const welcome = (await t.next(() => true, "a welcome")).envelope.welcome;
    assert.equal(welcome?.sessionId, String(want), "session ids count connections from 1");
    fillers.push(t);
  }
}

test("§7.1-7.5 bytes: craftd answers and relays exactly the documented bytes", opts, async () => {
  const server = await startCraftd();
  const fillers = [];
  try {
    await fillSessionsUpTo(server, 7, fillers);
    // Session 7, "ann", on WebSocket: §7.5's hello, then §7.1's frame byte for byte.
    const ann = await websocket(server.http);
    const hello = hex(grab(section("7.5 more bytes"), /hello \{protocol_version: 1, name: "ann"\}, cid 1\s+([0-9a-f ]+?)\s*\n/, "§7.5's hello"));
    ann.send(2, hello);
    const welcome = envelopeOf(await ann.next(isBinary, "ann's welcome"));
    assert.deepEqual([welcome.cid, welcome.welcome.sessionId, welcome.welcome.protocolVersion], [1, "7", 1]);

    const joinFrame = hex(grab(section("7.1"), /The whole frame:\s*`([0-9a-f ]+)`/, "§7.1's whole frame"));
    assert.equal(joinFrame.length, 17, "§7.1: 17 bytes on the wire");
    ann.write(joinFrame);
    const joined = await ann.next(isBinary, "room_joined");
    const room = envelopeOf(joined).roomJoined?.roomId;
    assert.match(room ?? "", /^[A-Za-z0-9]{12}$/, `a room_joined: ${joined.raw.toString("hex")}`);
    const documented = withRoom(hex(grab(section("7.2"), /Whole frame: `([^`]+)`/, "§7.2's whole frame")), room);
    assert.equal(joined.raw.toString("hex"), documented.toString("hex"), "§7.2: the room_joined frame, byte for byte");

    // Session 8 on TCP and session 9 on JSON WebSocket join the room.
    const bob = await tcp(server.tcp);
    bob.write(Buffer.from([0, 0, 0, 9, 0x12, 0x07, 0x08, 0x01, 0x1a, 0x03, ...Buffer.from("bob")]));
    assert.equal((await bob.next(() => true, "bob's welcome")).envelope.welcome.sessionId, "8");
    const carol = await websocket(server.http);
    carol.send(1, JSON.stringify({ cid: 1, hello: { protocolVersion: 1, name: "carol" } }));
    assert.equal(envelopeOf(await carol.next(isText, "carol's welcome")).welcome.sessionId, "9");
    const joinBy = (id) => Buffer.from(JSON.stringify({ cid: 2, roomJoin: { roomId: id } }));
    carol.send(1, joinBy(room));
    assert.equal(envelopeOf(await carol.next(isText, "carol's room_joined")).roomJoined.roomId, room);
    const join = Buffer.concat([Buffer.from([0x08, 0x02, 0x3a, 0x0e, 0x0a, 0x0c]), Buffer.from(room)]);
    bob.write(Buffer.concat([Buffer.from([0, 0, 0, join.length]), join]));
    assert.equal((await bob.next((m) => m.envelope.roomJoined, "bob's room_joined")).envelope.roomJoined.roomId, room);

    // §7.3: the TCP room_data, sent by session 7 (its envelope, over ann's WebSocket);
    // bob (TCP) gets the documented stamped bytes, carol (JSON) §7.4's delivered text.
    const s73 = section("7.3");
    const tcpSend = withRoom(codeBlockBytes(s73), room);
    assert.equal(tcpSend.readUInt32BE(0), tcpSend.length - 4, "§7.3: the length prefix counts the envelope");
    const stamped = withRoom(hex("00 00 00 18" + grab(s73, /`00 00 00 18` then `([^`]+)`/, "§7.3's stamped bytes")), room);
    ann.send(2, tcpSend.subarray(4));
    const atBob = await bob.next((m) => m.envelope.roomData, "room_data at bob");
    assert.equal(atBob.raw.toString("hex"), stamped.toString("hex"), "§7.3: what the other members receive over TCP");
    const [, delivered] = [...section("7.4").matchAll(/```json\n(.*)\n```/g)].map((m) => m[1]);
    const atCarol = await carol.next((f) => isText(f) && f.payload.includes("roomData"), "room_data at carol");
    assert.equal(atCarol.payload.toString(), withRoom(Buffer.from(delivered), room).toString(), "§7.4: as a JSON session receives it");

    // §7.3 sent as printed over TCP by session 8: ann gets the same stamped with sender 8.
    bob.write(tcpSend);
    const fromBob = await ann.next((f) => isBinary(f) && envelopeOf(f).roomData, "room_data at ann");
    assert.equal(fromBob.raw.toString("hex"), "82" + "18" + stamped.subarray(4, -1).toString("hex") + "08");

    // §7.4 sent as printed (59 bytes of JSON: second byte 80 | 59 = bb) by session 9.
    const [sent] = [...section("7.4").matchAll(/```json\n(.*)\n```/g)].map((m) => m[1]);
    const text = withRoom(Buffer.from(sent), room);
    assert.equal(text.length, 59, "§7.4: the JSON is 59 bytes");
    carol.send(1, text);
    const fromCarol = await bob.next((m) => m.envelope.roomData, "carol's room_data at bob");
    assert.equal(fromCarol.raw.toString("hex"), stamped.subarray(0, -1).toString("hex") + "09", "stamped with sender 9");
    for (const w of [ann, bob, carol, ...fillers]) w.end();
  } finally {
    await server.stop();
  }
});

test("§7.6: a JSON session, as craftd answers it, line for line", opts, async () => {
  const block = grab(section("7.6"), /```\n([\s\S]*?)```/, "§7.6's transcript");
  const server = await startCraftd();
  let stopping = null;  // server.stop(): resolves once craftd exited 0
  try {
    const ann = await websocket(server.http);  // session 1
    const bob = await websocket(server.http);  // session 2 (says hello when the page has it join)
    let docRoom = null, room = null;
    // What the page says varies: the room id, the server's clock, and which shard (an
    // event loop, "diagnostics only", omitted when 0) the connection landed on.
    const normalize = (s) => {
      if (docRoom && room) s = s.split(docRoom).join(room);
      return s.replace(/"serverTimeUs":"\d+"/g, '"serverTimeUs":"<now>"').replace(/,"shard":\d+/, "");
    };
    let lines = 0;
    for (const raw of block.split("\n")) {
      const line = raw.trim();
      if (line.startsWith("> ")) {
        ann.send(1, normalize(line.slice(2)));
      } else if (line.startsWith("< ")) {
        const want = line.slice(2);
        const frame = await ann.next(isText, `the answer ${want}`);
        const got = frame.payload.toString();
        if (!room && want.includes('"roomJoined"')) {
          docRoom = JSON.parse(want).roomJoined.roomId;
          room = JSON.parse(got).roomJoined?.roomId;
        }
        assert.equal(normalize(got), normalize(want), "docs/protocol.md §7.6");
        ++lines;
      } else if (line === "(bob joins from another connection)") {
        bob.send(1, JSON.stringify({ cid: 1, hello: { protocolVersion: 1, name: "bob" } }));
        assert.equal(envelopeOf(await bob.next(isText, "bob's welcome")).welcome.sessionId, "2");
        bob.send(1, JSON.stringify({ cid: 2, roomJoin: { roomId: room } }));
        await bob.next((f) => f.payload.includes("roomJoined"), "bob's room_joined");
      } else if (line === "(bob disconnects)") {
        bob.end();
      } else if (line === "(craftd gets SIGTERM)") {
        stopping = server.stop();
      } else if (line === "(then a close frame with code 1001)") {
        const close = await ann.next((f) => f.opcode === 8, "the close frame");
        assert.equal(close.payload.readUInt16BE(0), 1001);
        ann.end();
      } else if (line) {
        assert.fail(`a line of §7.6 this test does not know how to play: ${line}`);
      }
    }
    assert.ok(room && lines >= 10, `the transcript was played (${lines} answers)`);
    assert.ok(stopping, "the transcript ends with SIGTERM");
    await stopping;
  } finally {
    if (!stopping) await server.stop();
  }
});
