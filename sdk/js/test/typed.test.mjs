// Typed rooms (ops<Ops>() and codecs) and error codes at run time; the compile-time side is
// tests/jssdk (a strict TypeScript project against the packed package).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, CraftError, codecs, isServerErrorCode, ops } from "../dist/esm/index.js";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

const skip = skipReason;
let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

const connect = async (name, format = "binary") => {
  const c = new Client(server.url, { name, format, WebSocket, reconnect: { enabled: false } });
  await c.connect();
  return c;
};
const next = (subscribe) => new Promise((resolve) => { const off = subscribe((...args) => { off(); resolve(args); }); });

test("error codes the server sends map to their names; unknown ones read as INTERNAL", () => {
  assert.equal(CraftError.fromServer(6, "x").code, "ROOM_NOT_FOUND");
  assert.equal(CraftError.fromServer("VERSION_CONFLICT", "x", 0, 409).code, "VERSION_CONFLICT");
  const unknown = CraftError.fromServer(999, "from a newer server");
  assert.equal(unknown.code, "INTERNAL");
  assert.match(unknown.message, /unknown code 999/);
  assert.equal(CraftError.fromServer("SHINY_NEW_CODE", "x").code, "INTERNAL");
  // Inherited and reverse-mapped enum keys are not names.
  for (const notName of ["toString", "constructor", "6", "__proto__"]) assert.equal(isServerErrorCode(notName), false, notName);
  assert.equal(isServerErrorCode("ROOM_FULL"), true);
});

for (const format of ["binary", "json"]) {
  test(`a typed chat room (${format}): send text, receive decoded lines`, { skip }, async () => {
    const ann = await connect("ann", format);
    const bob = await connect("bob", format);
    const a = await ann.create("chat", undefined, { ops: ops() });
    const b = await bob.joinById(a.id, undefined, { ops: ops() });
    const got = next((cb) => b.onMessage(1, cb));
    const raw = next((cb) => b.onMessage("*", cb));
    a.send(1, "hello typed");
    const [line, sender, op] = await got;
    assert.equal(line.text, "hello typed");
    assert.equal(line.name, "ann");
    assert.equal(sender, ann.sessionId);
    assert.equal(op, 1);
    const [bytes, , rawOp] = await raw;  // "*" still gets the bytes
    assert.ok(bytes instanceof Uint8Array);
    assert.equal(JSON.parse(new TextDecoder().decode(bytes)).text, "hello typed");
    assert.equal(rawOp, 1);
    await ann.close();
    await bob.close();
  });
}

test("per-op codecs: bytes and text pass through; a decode that throws reaches no handler and emits BAD_MESSAGE", { skip }, async () => {
  const ann = await connect("ann");
  const bob = await connect("bob");
  const roomOps = ops({ 2: codecs.bytes(), 3: codecs.text(), 4: { decode: () => { throw new Error("not a move"); } } });
  const a = await ann.create("relay", undefined, { ops: roomOps });
  const b = await bob.joinById(a.id, undefined, { ops: roomOps });
  const bytes = next((cb) => b.onMessage(2, cb));
  a.send(2, new Uint8Array([7, 8, 9]));
  assert.deepEqual([...(await bytes)[0]], [7, 8, 9]);
  const text = next((cb) => b.onMessage(3, cb));
  a.send(3, "plain \u00e9");
  assert.equal((await text)[0], "plain \u00e9");

  let handled = 0;
  b.onMessage(4, () => handled++);
  const refused = next((cb) => bob.on("error", cb));
  const raw = next((cb) => b.onMessage("*", (d, s, op) => op === 4 && cb(d)));
  a.send(4, { x: 1 });
  const [err] = await refused;
  assert.ok(err instanceof CraftError);
  assert.equal(err.code, "BAD_MESSAGE");
  assert.match(err.message, /op 4: not a move/);
  await raw;
  assert.equal(handled, 0);

  // A default-codec op: objects go as JSON and come back parsed.
  const obj = next((cb) => b.onMessage(5, cb));
  a.send(5, { hp: 3, tags: ["a"] });
  assert.deepEqual((await obj)[0], { hp: 3, tags: ["a"] });
  await ann.close();
  await bob.close();
});

test("an untyped room still hands handlers the bytes", { skip }, async () => {
  const c = await connect("raw");
  const room = await c.create("relay");
  const got = next((cb) => room.onMessage(9, cb));
  const other = await connect("raw2");
  const r2 = await other.joinById(room.id);
  r2.send(9, { a: 1 });
  const [data] = await got;
  assert.ok(data instanceof Uint8Array);
  await c.close();
  await other.close();
});
