// Replicated state in the JS SDK (docs/protocol.md §4.20): the worked examples byte for byte,
// every type's decoding, callbacks, acks, interpolation by server tick, and corrupt or
// undecodable snapshots dropped without an exception. Snapshots come from the reference encoder
// in state_reference.mjs, written from the spec.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReplicatedState, Predictor } from "../dist/esm/index.js";
import { BitWriter, T, encodeSnapshot, maskOf, plainEntities, plainView, quantize, rng } from "./state_reference.mjs";

const hex = (s) => Uint8Array.from(Buffer.from(s.replace(/ /g, ""), "hex"));
const posSchema = {
  roomId: "R1", tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8,
  components: [{ name: "pos", fields: [
    { name: "x", type: T.number, min: 0, max: 800, precision: 0.1, count: 0 },
    { name: "y", type: T.number, min: 0, max: 600, precision: 0.1, count: 0 },
  ] }],
};
function stateWith(schema, options = {}) {
  const s = new ReplicatedState({ now: () => 0, ...options });
  assert.equal(s.setSchema(schema), true);
  const drops = [];
  s.onDrop((d) => drops.push(d));
  return { s, drops };
}

test("§4.20.3's worked examples: 12 and 11 bytes, decoded to (12.3, 45.6) then x = 13 (a difference of +7)", () => {
  // Assembled by hand from the example's list of primitives, then checked as bytes.
  const full = new BitWriter();
  full.u(32, 40); full.v(7, 0); full.v(7, 0); full.v(7, 1); full.v(3, 0); full.u(1, 1); full.u(13, 123); full.u(13, 456); full.v(7, 0);
  assert.equal(full.bits, 95);
  assert.deepEqual(full.finish(), hex("28000000 00 00 01 700f200700"));
  const delta = new BitWriter();
  delta.u(32, 41); delta.v(7, 1); delta.u(1, 1); delta.u(5, 4); delta.u(5, 0);  // delta widths x 4, y 0
  delta.v(7, 0); delta.v(7, 0); delta.v(7, 1); delta.v(3, 0);
  delta.u(1, 0); delta.u(1, 1); delta.u(1, 1); delta.u(1, 1); delta.u(4, 14); delta.u(1, 0);  // x: +7, zigzag 14
  assert.equal(delta.bits, 88);
  assert.deepEqual(delta.finish(), hex("29000000 01 09 00 00 08 00 77"));
  // The same change sent absolute (no delta widths): 85 bits, 11 bytes too.
  const absolute = new BitWriter();
  absolute.u(32, 41); absolute.v(7, 1); absolute.u(1, 0); absolute.v(7, 0); absolute.v(7, 0); absolute.v(7, 1); absolute.v(3, 0);
  absolute.u(1, 0); absolute.u(1, 1); absolute.u(1, 1); absolute.u(13, 130); absolute.u(1, 0);
  assert.equal(absolute.bits, 86);

  // The reference encoder makes the same bytes.
  const v40 = new Map([[1, { mask: 1, values: [[123, 456]] }]]);
  const v41 = new Map([[1, { mask: 1, values: [[130, 456]] }]]);
  assert.deepEqual(encodeSnapshot(posSchema, 40, v40).data, hex("28000000000001700f200700"));
  assert.deepEqual(encodeSnapshot(posSchema, 41, v41, v40, 40, { deltaWidths: [4, 0] }).data, hex("2900000001090000080077"));
  assert.deepEqual(encodeSnapshot(posSchema, 41, v41, v40, 40).data, absolute.finish());

  const { s, drops } = stateWith(posSchema);
  assert.equal(s.receive(hex("28000000000001700f200700")), true);
  assert.equal(s.tick, 40);
  assert.deepEqual(plainEntities(s.entities), [{ id: 1, pos: { x: 0 + 123 * 0.1, y: 0 + 456 * 0.1 } }]);
  assert.ok(Math.abs(s.entities.get(1).pos.x - 12.3) < 1e-9 && Math.abs(s.entities.get(1).pos.y - 45.6) < 1e-9);
  assert.equal(s.receive(hex("2900000001090000080077")), true);
  assert.equal(s.tick, 41);
  assert.deepEqual(plainEntities(s.entities), [{ id: 1, pos: { x: 130 * 0.1, y: 456 * 0.1 } }]);
  assert.equal(s.entities.get(1).pos.x, 13);
  assert.deepEqual(drops, []);
});

const allTypes = {
  tickRateHz: 30, sendIntervalTicks: 2, baselineWindow: 4,
  components: [
    { name: "body", fields: [
      { name: "hp", type: T.integer, min: -5, max: 100, precision: 1, count: 0 },
      { name: "heading", type: T.number, min: -3.2, max: 3.2, precision: 0.01, count: 0 },
      { name: "alive", type: T.boolean, min: 0, max: 1, precision: 1, count: 0 },
      { name: "team", type: T.enumeration, min: 0, max: 2, precision: 1, count: 3 },
      { name: "name", type: T.text, min: 0, max: 0, precision: 1, count: 12 },
    ] },
    { name: "motion", fields: [
      { name: "at", type: T.vec2, min: -10, max: 10, precision: 0.25, count: 0 },
      { name: "v", type: T.vec3, min: 0, max: 1, precision: 0.3, count: 0 },  // steps round(3.33) = 3: 0.9 max on the wire, at most 1
    ] },
    { name: "big", fields: [
      { name: "u32", type: T.integer, min: 0, max: 4294967295, precision: 1, count: 0 },
      { name: "one", type: T.enumeration, min: 0, max: 0, precision: 1, count: 1 },  // 0 bits
    ] },
  ],
};

test("every field type decodes as §4.20.2 says (ranges, quantization, 32-bit values, UTF-8)", () => {
  const f = (c, i) => allTypes.components[c].fields[i];
  const view = new Map([
    [3, { mask: 0b011, values: [
      [quantize(f(0, 0), 100), quantize(f(0, 1), -3.14159), 1, 2, "żółw🐢"],
      [quantize(f(1, 0), { x: -10, y: 9.9 }), quantize(f(1, 1), { x: 1, y: 0.5, z: 0 })],
    ] }],
    [70000, { mask: 0b101, values: [[quantize(f(0, 0), -5), quantize(f(0, 1), 3.2), 0, 0, ""], undefined, [4294967295, 0]] }],
  ]);
  const { s, drops } = stateWith(allTypes);
  assert.equal(s.receive(encodeSnapshot(allTypes, 1000, view).data), true, JSON.stringify(drops));
  assert.deepEqual(plainEntities(s.entities), plainView(allTypes, view));
  const e3 = s.entities.get(3);
  assert.equal(e3.body.hp, 100);
  assert.equal(e3.body.heading, -3.2 + 6 * 0.01);  // round(-3.14159 + 3.2) / 0.01 = 6 steps
  assert.equal(e3.body.alive, true);
  assert.equal(e3.body.team, 2);
  assert.equal(e3.body.name, "żółw🐢");
  assert.deepEqual(e3.motion.at, { x: -10, y: -10 + 80 * 0.25 });  // 9.9: round(19.9 / 0.25) = 80 steps
  assert.deepEqual(e3.motion.v, { x: 0 + 3 * 0.3, y: 0 + 2 * 0.3, z: 0 });  // exactly the formula: 0.8999999999999999
  assert.equal(s.entities.get(70000).big.u32, 4294967295);
  assert.equal(s.entities.get(70000).motion, undefined);
});

test("a number is min + q · precision, at most max (the last step may pass max)", () => {
  const schema = { tickRateHz: 10, sendIntervalTicks: 1, baselineWindow: 2, components: [{ name: "c", fields: [
    { name: "n", type: T.number, min: 0, max: 1, precision: 0.4, count: 0 },  // steps round(2.5) = 3: 1.2 -> 1
  ] }] };
  const { s } = stateWith(schema);
  assert.equal(s.receive(encodeSnapshot(schema, 5, new Map([[1, { mask: 1, values: [[3]] }], [2, { mask: 1, values: [[2]] }]])).data), true);
  assert.equal(s.entities.get(1).c.n, 1);
  assert.equal(s.entities.get(2).c.n, 0.8);
});

// Two components for callback tests: pos (x, y) and tag (text).
const twoSchema = {
  tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8,
  components: [
    { name: "pos", fields: [
      { name: "x", type: T.number, min: 0, max: 100, precision: 0.5, count: 0 },
      { name: "y", type: T.number, min: 0, max: 100, precision: 0.5, count: 0 },
    ] },
    { name: "tag", fields: [{ name: "label", type: T.text, min: 0, max: 0, precision: 1, count: 8 }] },
  ],
};
const ent = (pos, tag) => ({ mask: maskOf([pos, tag]), values: [pos, tag] });

test("onAdd / onRemove / onChange / listen fire per entity and per field, after the view is updated", () => {
  const { s, drops } = stateWith(twoSchema);
  const log = [];
  s.onAdd((e) => log.push(`add ${e.id} ${JSON.stringify(e)} size ${s.entities.size}`));
  s.onRemove((e) => log.push(`remove ${e.id} has ${s.entities.has(e.id)}`));
  s.onChange((e, c, f, v, o) => log.push(`change ${e.id} ${c}.${f} ${JSON.stringify(o)} -> ${JSON.stringify(v)} now ${JSON.stringify(e[c]?.[f])}`));
  s.onSnapshot((t) => log.push(`snapshot ${t}`));
  const v1 = new Map([[1, ent([2, 4], undefined)], [2, ent([10, 10], ["a"])]]);
  s.receive(encodeSnapshot(twoSchema, 10, v1).data);
  assert.deepEqual(log.splice(0), [
    'add 1 {"id":1,"pos":{"x":1,"y":2}} size 2',
    'add 2 {"id":2,"pos":{"x":5,"y":5},"tag":{"label":"a"}} size 2',
    "snapshot 10",
  ]);
  const e1 = s.entities.get(1);
  const perEntity = [];
  const perField = [];
  s.listen(e1, (e, c, f, v) => perEntity.push(`${c}.${f}=${JSON.stringify(v)}`));
  s.listen(1, "pos", "y", (v, old, e) => perField.push([v, old, e === e1]));
  s.listen(2, "pos", "x", (v) => perField.push(["entity 2", v]));
  // 1 moves in y and gains a tag; 2 is removed; 3 is created.
  const v2 = new Map([[1, ent([2, 6], ["hi"])], [3, ent([0, 0], undefined)]]);
  s.receive(encodeSnapshot(twoSchema, 11, v2, v1, 10).data);
  assert.deepEqual(log.splice(0), [
    "remove 2 has false",
    'add 3 {"id":3,"pos":{"x":0,"y":0}} size 2',
    "change 1 pos.y 2 -> 3 now 3",
    'change 1 tag.label undefined -> "hi" now "hi"',
    "snapshot 11",
  ]);
  assert.equal(s.entities.get(1), e1, "an entity keeps its object");
  assert.deepEqual(perEntity, ["pos.y=3", 'tag.label="hi"']);
  assert.deepEqual(perField, [[3, 2, true]]);
  // 1 loses its tag: a change with value undefined; entity 2's listener went with it.
  const v3 = new Map([[1, ent([2, 6], undefined)], [3, ent([0, 0], undefined)]]);
  s.receive(encodeSnapshot(twoSchema, 12, v3, v2, 11).data);
  assert.deepEqual(log.splice(0), ['change 1 tag.label "hi" -> undefined now undefined', "snapshot 12"]);
  assert.deepEqual(plainEntities(s.entities), plainView(twoSchema, v3));
  assert.deepEqual(drops, []);
});

test("a throwing callback does not break decoding: the state is consistent and the other callbacks run", async () => {
  const { s } = stateWith(twoSchema);
  const seen = [];
  s.onAdd(() => { throw new Error("game bug"); });
  s.onAdd((e) => seen.push(e.id));
  // The exception comes back on its own (as EventTarget does); the runner's own handler would
  // fail the file, so it is set aside while this one catches it.
  const runner = process.listeners("uncaughtException");
  process.removeAllListeners("uncaughtException");
  const thrown = new Promise((resolve) => process.once("uncaughtException", (e) => {
    for (const l of runner) process.on("uncaughtException", l);
    resolve(e);
  }));
  assert.equal(s.receive(encodeSnapshot(twoSchema, 1, new Map([[5, ent([1, 1], undefined)]])).data), true);
  assert.deepEqual(seen, [5]);
  assert.equal(s.entities.size, 1);
  assert.equal((await thrown).message, "game bug");
});

test("acks: once per snapshot that becomes the view; a late older snapshot is decoded and kept but neither shown nor acked", () => {
  const { s, drops } = stateWith(twoSchema);
  const acks = [];
  s.onAck((t) => acks.push(t));
  const v = (x) => new Map([[1, ent([x, 0], undefined)]]);
  const s10 = encodeSnapshot(twoSchema, 10, v(1)).data;
  const s11 = encodeSnapshot(twoSchema, 11, v(2), v(1), 10).data;
  const s12 = encodeSnapshot(twoSchema, 12, v(3), v(1), 10).data;
  s.receive(s10);
  s.receive(s12);   // 11 is late
  assert.equal(s.entities.get(1).pos.x, 1.5);
  assert.equal(s.receive(s11), true);
  assert.equal(s.tick, 12);
  assert.equal(s.entities.get(1).pos.x, 1.5, "the view stays at 12");
  assert.deepEqual(acks, [10, 12]);
  // 11 is a frame now: a snapshot against it decodes.
  assert.equal(s.receive(encodeSnapshot(twoSchema, 13, v(4), v(2), 11).data), true);
  assert.equal(s.entities.get(1).pos.x, 2);
  // The same snapshot again: a duplicate, dropped, no second ack.
  assert.equal(s.receive(encodeSnapshot(twoSchema, 13, v(4), v(2), 11).data), false);
  assert.deepEqual(acks, [10, 12, 13]);
  assert.deepEqual(drops.map((d) => d.reason), ["duplicate"]);
});

test("a baseline the client no longer has: undecodable, dropped, not acked; the next full snapshot recovers", () => {
  const { s, drops } = stateWith({ ...twoSchema, baselineWindow: 3 });
  const acks = [];
  s.onAck((t) => acks.push(t));
  const v = (x) => new Map([[1, ent([x, 0], undefined)]]);
  s.receive(encodeSnapshot(twoSchema, 1, v(1)).data);
  for (let t = 2; t <= 4; t++) s.receive(encodeSnapshot(twoSchema, t, v(t), v(t - 1), t - 1).data);
  // Frames kept: 2, 3, 4. Tick 1 is gone.
  assert.equal(s.receive(encodeSnapshot(twoSchema, 5, v(5), v(1), 1).data), false);
  assert.deepEqual(drops.map((d) => [d.reason, d.tick]), [["undecodable", 5]]);
  assert.equal(s.tick, 4);
  assert.equal(s.entities.get(1).pos.x, 2);
  assert.equal(s.receive(encodeSnapshot(twoSchema, 6, v(6)).data), true);
  assert.equal(s.entities.get(1).pos.x, 3);
  assert.deepEqual(acks, [1, 2, 3, 4, 6]);
  // Older than every frame kept with the window full: stale.
  assert.equal(s.receive(encodeSnapshot(twoSchema, 2, v(9)).data), false);
  assert.equal(drops.at(-1).reason, "stale");
});

test("a snapshot before state_schema, or with a schema this client cannot use, is dropped and reported", () => {
  const s = new ReplicatedState();
  const drops = [];
  s.onDrop((d) => drops.push(d.reason));
  assert.equal(s.receive(hex("28000000000001700f200700")), false);
  const bad = (patch) => ({ ...posSchema, components: [{ name: "pos", fields: [{ ...posSchema.components[0].fields[0], ...patch }] }] });
  for (const schema of [
    bad({ precision: 0 }), bad({ min: 5, max: 1 }), bad({ type: 9 }), bad({ type: T.integer, min: 0, max: 2 ** 32 }),
    bad({ type: T.enumeration, count: 0 }), bad({ max: 1e12, precision: 1e-3 }), { ...posSchema, tickRateHz: 0 },
    { ...posSchema, components: Array.from({ length: 33 }, (_, i) => ({ name: `c${i}`, fields: [] })) },
    { ...posSchema, components: [{ name: "id", fields: [] }] },
    { ...posSchema, components: [{ name: "a", fields: [] }, { name: "a", fields: [] }] },
  ]) assert.equal(s.setSchema(schema), false, JSON.stringify(schema).slice(0, 200));
  assert.deepEqual(drops, ["no schema", ...Array(10).fill("bad schema")]);
  assert.equal(s.receive(hex("28000000000001700f200700")), false);
  assert.equal(drops.at(-1), "no schema");
});

// Hand-built snapshots breaking one rule each (pos schema: C = 1, x and y 13 bits).
function build(parts) {
  const w = new BitWriter();
  for (const [kind, a, b] of parts) kind === "u" ? w.u(a, b) : w.v(a, b);
  return w.finish();
}
// A delta (ago > 0) says whether delta widths follow: here never.
const header = (tick, ago) => [["u", 32, tick], ["v", 7, ago], ...(ago > 0 ? [["u", 1, 0]] : [])];
const one = (gap, x = 1, y = 1) => [["v", 3, gap], ["u", 1, 1], ["u", 13, x], ["u", 13, y]];

test("corrupt snapshots (rule by rule) are dropped without an exception and leave the view as it was", () => {
  const { s, drops } = stateWith(posSchema);
  const good = build([...header(100, 0), ["v", 7, 0], ["v", 7, 2], ...one(0), ...one(3), ["v", 7, 0]]);  // ids 1 and 5
  assert.equal(s.receive(good), true);
  const view = plainEntities(s.entities);
  const cases = {
    "removed id not in the baseline": [...header(101, 1), ["v", 7, 1], ["v", 3, 1], ["v", 7, 0], ["v", 7, 0]],
    "created id already in the baseline": [...header(101, 1), ["v", 7, 0], ["v", 7, 1], ...one(4), ["v", 7, 0]],
    "updated id not in the baseline": [...header(101, 1), ["v", 7, 0], ["v", 7, 0], ["v", 7, 1], ["v", 3, 2], ["u", 1, 0], ["u", 1, 0]],
    "a number past its steps": [...header(101, 1), ["v", 7, 0], ["v", 7, 1], ...one(6, 8001), ["v", 7, 0]],
    "a full snapshot with removals": [...header(101, 0), ["v", 7, 1], ["v", 3, 0], ["v", 7, 0], ["v", 7, 0]],
    "baseline_ago past the tick": [...header(3, 4), ["v", 7, 0], ["v", 7, 0], ["v", 7, 0]],
    "an id past 2^32 - 1": [...header(101, 1), ["v", 7, 0], ["v", 7, 2], ...one(0), ...one(4294967295), ["v", 7, 0]],
    "a count of 2^32 - 1": [...header(101, 1), ["v", 7, 4294967295]],
    "trailing byte": [...header(101, 1), ["v", 7, 0], ["v", 7, 0], ["v", 7, 0], ["u", 8, 0]],
    "set padding bit": [...header(101, 1), ["v", 7, 0], ["v", 7, 0], ["v", 7, 0], ["u", 3, 4]],
  };
  for (const [name, parts] of Object.entries(cases)) {
    drops.length = 0;
    assert.equal(s.receive(build(parts)), false, name);
    assert.deepEqual(drops.map((d) => d.reason), ["corrupt"], name);
    assert.deepEqual(plainEntities(s.entities), view, name);
    assert.equal(s.tick, 100, name);
  }
  // A v() of too many groups, or past 2^32 - 1: 6 groups of 7 bits, 5 groups with the top set.
  const bytes = (...b) => b.map((x) => ["u", 8, x]);
  const longV = build([...header(101, 1), ...bytes(0x80, 0x80, 0x80, 0x80, 0x80, 0x00)]);
  const bigV = build([...header(101, 1), ...bytes(0xff, 0xff, 0xff, 0xff, 0x7f)]);
  for (const data of [longV, bigV, new Uint8Array(), new Uint8Array([1, 2, 3])]) assert.equal(s.receive(data), false);
  // A gap of 12 groups of 3 bits (at most 11).
  const w = new BitWriter();
  w.u(32, 101); w.v(7, 1); w.u(1, 0); w.v(7, 1);
  for (let i = 0; i < 12; i++) { w.u(3, 0); w.u(1, 1); }
  assert.equal(s.receive(w.finish()), false);
  // Still fine afterwards.
  assert.equal(s.receive(build([...header(101, 1), ["v", 7, 1], ["v", 3, 0], ["v", 7, 0], ["v", 7, 0]])), true);
  assert.deepEqual([...s.entities.keys()], [5]);
});

test("every value past its range is corrupt: integer, enumeration, text length", () => {
  const schema = { tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 4, components: [{ name: "c", fields: [
    { name: "i", type: T.integer, min: 10, max: 14, precision: 1, count: 0 },   // 3 bits, w <= 4
    { name: "e", type: T.enumeration, min: 0, max: 4, precision: 1, count: 5 },  // 3 bits, < 5
    { name: "t", type: T.text, min: 0, max: 0, precision: 1, count: 2 },
  ] }] };
  const snap = (i, e, len) => {
    const w = new BitWriter();
    w.u(32, 7); w.v(7, 0); w.v(7, 0); w.v(7, 1); w.v(3, 0); w.u(1, 1); w.u(3, i); w.u(3, e); w.v(7, len);
    for (let k = 0; k < len; k++) w.u(8, 65);
    w.v(7, 0);
    return w.finish();
  };
  const { s, drops } = stateWith(schema);
  for (const data of [snap(5, 0, 0), snap(0, 5, 0), snap(0, 0, 3)]) assert.equal(s.receive(data), false);
  assert.deepEqual(drops.map((d) => d.reason), ["corrupt", "corrupt", "corrupt"]);
  assert.equal(s.receive(snap(4, 4, 2)), true);
  assert.deepEqual(plainEntities(s.entities), [{ id: 1, c: { i: 14, e: 4, t: "AA" } }]);
});

test("random bytes, every truncation and every single bit flip of valid snapshots never throw; truncations are all dropped", () => {
  const random = rng(7);
  for (let i = 0; i < 3000; i++) {
    const { s } = stateWith(allTypes);
    const data = Uint8Array.from({ length: random.int(40) }, () => random.int(256));
    s.receive(data);  // must not throw
    // A wrong snapshot that happens to decode is possible (random bytes); a dropped one changes nothing.
  }
  const f = (c, i) => allTypes.components[c].fields[i];
  const v1 = new Map([[3, { mask: 0b011, values: [[5, 10, 1, 1, "abc"], [[1, 2], [0, 1, 2]]] }], [9, { mask: 0b100, values: [undefined, undefined, [77, 0]] }]]);
  const v2 = new Map([[3, { mask: 0b111, values: [[6, 10, 0, 1, "abcd"], [[1, 3], [0, 1, 2]], [1, 0]] }], [12, { mask: 0b001, values: [[0, 0, 0, 0, ""]] }]]);
  assert.ok(f(0, 0));
  const full = encodeSnapshot(allTypes, 50, v1).data;
  const delta = encodeSnapshot(allTypes, 52, v2, v1, 50).data;
  for (const data of [full, delta]) {
    for (let n = 0; n < data.length; n++) {
      const { s, drops } = stateWith(allTypes);
      if (data === delta) s.receive(full);
      const before = plainEntities(s.entities);
      assert.equal(s.receive(data.subarray(0, n)), false, `truncated to ${n}`);
      assert.equal(drops.at(-1).reason, "corrupt");
      assert.deepEqual(plainEntities(s.entities), before);
    }
    for (let bit = 0; bit < data.length * 8; bit++) {
      const { s } = stateWith(allTypes);
      if (data === delta) s.receive(full);
      const flipped = Uint8Array.from(data);
      flipped[bit >> 3] ^= 1 << (bit & 7);
      const before = plainEntities(s.entities);
      if (!s.receive(flipped)) assert.deepEqual(plainEntities(s.entities), before);
    }
  }
});

// Interpolation: pos x/y (0-100, 0.5), a step field and an angle.
const lerpSchema = {
  tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8,
  components: [
    { name: "pos", fields: [
      { name: "x", type: T.number, min: 0, max: 100, precision: 0.5, count: 0 },
      { name: "hp", type: T.integer, min: 0, max: 10, precision: 1, count: 0 },
      { name: "heading", type: T.number, min: -3.2, max: 3.2, precision: 0.1, count: 0 },
      { name: "at", type: T.vec2, min: 0, max: 100, precision: 1, count: 0 },
    ] },
  ],
};
const lf = lerpSchema.components[0].fields;
const lent = (x, hp, heading, at) => ({ mask: 1, values: [[quantize(lf[0], x), quantize(lf[1], hp), quantize(lf[2], heading), quantize(lf[3], at)]] });

test("interpolated(now): entities between the two frames around newest server time - delay, by tick time", () => {
  const { s } = stateWith(lerpSchema, { delayMs: 100, maxExtrapolateMs: 100, interpolation: { "pos.heading": "wrap" } });
  assert.equal(s.renderTick(0), undefined);
  assert.deepEqual(s.interpolated(0), { tick: 0, entities: new Map() });
  const f100 = new Map([[1, lent(0, 5, 3.1, { x: 0, y: 10 })], [2, lent(50, 1, 0, { x: 0, y: 0 })]]);
  const f101 = new Map([[1, lent(10, 4, -3.1, { x: 10, y: 10 })], [2, lent(50, 1, 0, { x: 0, y: 0 })]]);
  const f102 = new Map([[1, lent(20, 3, -3.0, { x: 20, y: 10 })], [3, lent(70, 9, 0, { x: 1, y: 1 })]]);
  // Ticks are 50 ms apart; each arrives 1000 + 50 k ms local time: local = server time - 4000.
  s.receive(encodeSnapshot(lerpSchema, 100, f100).data, 1000);
  s.receive(encodeSnapshot(lerpSchema, 101, f101, f100, 100).data, 1050);
  s.receive(encodeSnapshot(lerpSchema, 102, f102, f101, 101).data, 1100);
  const at = (now) => Object.fromEntries([...s.interpolated(now).entities].map(([id, e]) => [id, e.pos]));
  assert.equal(s.renderTick(1100), 100);           // 1100 + 4000 - 100 ms = 5000 ms = tick 100
  assert.deepEqual(at(1100), { 1: { x: 0, hp: 5, heading: quantize(lf[2], 3.1) * 0.1 - 3.2, at: { x: 0, y: 10 } }, 2: { x: 50, hp: 1, heading: 0 - 3.2 + 32 * 0.1, at: { x: 0, y: 0 } } });
  const mid = s.interpolated(1125);                 // tick 100.5
  assert.equal(mid.tick, 100.5);
  const e1 = mid.entities.get(1).pos;
  assert.equal(e1.x, 5);
  assert.equal(e1.hp, 5, "an integer steps: the older frame's value");
  assert.ok(Math.abs(Math.abs(e1.heading) - 3.2) < 1e-9, `an angle wraps the short way round (3.1 -> -3.1 passes ±3.2): ${e1.heading}`);
  assert.deepEqual(e1.at, { x: 5, y: 10 });
  const late = s.interpolated(1175);                // tick 101.5: 2 is still there (removed at 102), 3 is not yet
  assert.deepEqual([...late.entities.keys()].sort(), [1, 2]);
  assert.equal(late.entities.get(1).pos.x, 15);
  assert.deepEqual([...s.interpolated(1200).entities.keys()].sort(), [1, 3]);
  // Past the newest frame: extrapolated for at most 100 ms (2 ticks), then held.
  assert.equal(s.interpolated(1250).entities.get(1).pos.x, 30);
  assert.equal(s.interpolated(1400).entities.get(1).pos.x, 40);
  assert.equal(s.interpolated(1400).entities.get(3).pos.x, 70, "entities new in the newest frame hold");
  // The view itself (s.entities) is the newest frame, not delayed.
  assert.equal(s.entities.get(1).pos.x, 20);
});

test("render time follows the fastest arrivals: jitter neither moves it back nor makes it jump", () => {
  const r = rng(3);
  const { s } = stateWith(lerpSchema, { delayMs: 100 });
  const v = new Map([[1, lent(0, 0, 0, { x: 0, y: 0 })]]);
  // Snapshot k (tick 1 + k) arrives at 10000 + 50 k ms + up to 100 ms of jitter (so some are
  // reordered); halfway the path gets 40 ms slower. Full snapshots: any order decodes.
  const arrivals = Array.from({ length: 400 }, (_, k) => ({ tick: 1 + k, time: 10000 + k * 50 + r() * 100 + (k >= 200 ? 40 : 0) }))
    .sort((a, b) => a.time - b.time);
  let last = -Infinity;
  let i = 0;
  let maxStep = 0;
  for (let now = 10000; now < 10000 + 400 * 50 + 200; now += 16) {  // a 60 Hz render loop
    while (i < arrivals.length && arrivals[i].time <= now) s.receive(encodeSnapshot(lerpSchema, arrivals[i].tick, v).data, arrivals[i++].time);
    const rt = s.renderTick(now);
    if (rt === undefined) continue;
    assert.ok(rt >= last, `render tick never goes back (${rt} after ${last})`);
    if (last > -Infinity) maxStep = Math.max(maxStep, rt - last);
    last = rt;
  }
  // 16 ms of render time is 0.32 ticks; a snapshot moves the clock by at most 5 % of the time
  // since the one before (here at most ~10 ms), never by a snapshot interval.
  assert.ok(maxStep <= (16 + 10) / 50, `no jump: largest step ${maxStep} ticks`);
  // At the end render time is the newest tick's time - delay - (the 40 ms slower path, partly caught up).
  const behindMs = (400 - s.renderTick(10000 + 399 * 50 + 40)) * 50;
  assert.ok(behindMs >= 100 && behindMs < 100 + 40 + 50, `render time is ${behindMs} ms behind the newest tick`);
});

test("Predictor for the local player: reconcile with the decoded entity and the input seq it carries", () => {
  const schema = { tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8, components: [
    { name: "pos", fields: [{ name: "x", type: T.number, min: 0, max: 100, precision: 0.5, count: 0 }] },
    { name: "input", fields: [{ name: "seq", type: T.integer, min: 0, max: 65535, precision: 1, count: 0 }] },
  ] };
  const { s } = stateWith(schema);
  const me = 7;
  const predictor = new Predictor({ apply: (p, input) => ({ x: p.x + input.dx }), initial: { x: 10 } });
  s.listen(me, (e) => predictor.reconcile({ ...e.pos }, e.input.seq));
  s.onAdd((e) => { if (e.id === me) predictor.reconcile({ ...e.pos }, e.input.seq); });
  for (let i = 0; i < 3; i++) predictor.applyLocal({ dx: 1 });
  assert.deepEqual(predictor.state(), { x: 13 });
  // The server applied input 1 (x 11), then 2 (x 12); inputs 3 stays pending on top.
  const v1 = new Map([[me, { mask: 3, values: [[22], [1]] }]]);
  const v2 = new Map([[me, { mask: 3, values: [[24], [2]] }]]);
  s.receive(encodeSnapshot(schema, 1, v1).data);
  assert.deepEqual(predictor.state(), { x: 13 });
  assert.equal(predictor.pending(), 2);
  s.receive(encodeSnapshot(schema, 2, v2, v1, 1).data);
  assert.deepEqual(predictor.state(), { x: 13 });
  assert.equal(predictor.pending(), 1);
});
