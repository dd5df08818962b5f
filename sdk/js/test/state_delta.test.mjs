// Delta widths (docs/protocol.md §4.20.3): a changed integer, number or vector may come as a
// zigzagged difference from the baseline's value. Snapshots from the reference encoder in
// state_reference.mjs (written from the spec), decoded by the SDK.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ReplicatedState } from "../dist/esm/index.js";
import { BitWriter, T, encodeSnapshot, plainEntities, plainView, rng, steps, valueBits } from "./state_reference.mjs";

// Every delta-coded type, with negative minimums, a clamped last step and a full 32-bit range;
// plus types that are never delta-coded in between (they shift the delta indices: none here).
const schema = {
  roomId: "R", tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8,
  components: [
    { name: "body", fields: [
      { name: "hp", type: T.integer, min: -5, max: 100, precision: 1, count: 0 },        // delta 0
      { name: "alive", type: T.boolean, min: 0, max: 1, precision: 1, count: 0 },
      { name: "heading", type: T.number, min: -3.2, max: 3.2, precision: 0.01, count: 0 }, // delta 1
      { name: "team", type: T.enumeration, min: 0, max: 2, precision: 1, count: 3 },
    ] },
    { name: "motion", fields: [
      { name: "at", type: T.vec2, min: -10, max: 10, precision: 0.25, count: 0 },        // delta 2
      { name: "v", type: T.vec3, min: 0, max: 1, precision: 0.3, count: 0 },             // delta 3 (last step clamped)
      { name: "u32", type: T.integer, min: 0, max: 4294967295, precision: 1, count: 0 }, // delta 4
    ] },
  ],
};
const fields = schema.components.flatMap((c) => c.fields);
const deltaFields = fields.filter((f) => [T.integer, T.number, T.vec2, T.vec3].includes(f.type));

function stateWith() {
  const s = new ReplicatedState({ now: () => 0 });
  assert.equal(s.setSchema(schema), true);
  const drops = [];
  s.onDrop((d) => drops.push(d));
  return { s, drops };
}

// A wire value near `w`: mostly small steps (the differences), sometimes anywhere (fallbacks).
function walk(random, f, w) {
  const top = steps(f) ?? 0;
  const max = f.type === T.integer ? f.max - f.min : top;
  if (random() < 0.15) return Math.floor(random() * (max + 1));
  const d = random.int(9) - 4;
  return Math.min(max, Math.max(0, w + d));
}
function randomValue(random, f, old) {
  switch (f.type) {
    case T.vec2: return [0, 1].map((k) => walk(random, f, old ? old[k] : 0));
    case T.vec3: return [0, 1, 2].map((k) => walk(random, f, old ? old[k] : 0));
    case T.boolean: return random.int(2);
    case T.enumeration: return random.int(f.count);
    default: return walk(random, f, old ?? 0);
  }
}

test("random runs with random delta widths decode to the encoder's view (differences, fallbacks, every type)", () => {
  const random = rng(13);
  for (let run = 0; run < 30; run++) {
    const { s, drops } = stateWith();
    let view = new Map();
    for (let id = 1; id <= 6; id++) {
      view.set(id, { mask: 0b11, values: schema.components.map((c) => c.fields.map((f) => randomValue(random, f, undefined))) });
    }
    let prev = null, prevTick = 0;
    for (let tick = 1; tick <= 25; tick++) {
      const next = new Map();
      for (const [id, e] of view) {
        next.set(id, { mask: e.mask, values: e.values.map((vals, c) => vals && vals.map((v, i) => (random() < 0.6 ? randomValue(random, schema.components[c].fields[i], v) : v))) });
      }
      // Widths 0 (absolute), 1-4 (small: many fall back), up to 31.
      const widths = deltaFields.map(() => [0, 1, 2, 3, 4, 8, 31][random.int(7)]);
      const { data } = encodeSnapshot(schema, tick, next, prev, prevTick, { deltaWidths: prev && random() < 0.8 ? widths : null });
      assert.equal(s.receive(data), true, JSON.stringify(drops));
      assert.deepEqual(plainEntities(s.entities), plainView(schema, next), `run ${run} tick ${tick}`);
      prev = next, prevTick = tick, view = next;
    }
  }
});

// One entity of a one-field schema, then a delta whose difference is hand-made.
test("a difference landing outside the range is corrupt; one landing on either end is not", () => {
  const one = (f) => ({ roomId: "R", tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8, components: [{ name: "c", fields: [f] }] });
  const cases = [
    { name: "i", type: T.integer, min: 10, max: 14, precision: 1, count: 0 },
    { name: "n", type: T.number, min: -1, max: 1, precision: 0.5, count: 0 },
  ];
  for (const f of cases) {
    const sch = one(f);
    const top = f.type === T.integer ? f.max - f.min : steps(f);
    for (const [from, diff, ok] of [[0, -1, false], [top, 1, false], [1, -1, true], [top - 1, 1, true], [0, top, true], [0, top + 1, false]]) {
      const s = new ReplicatedState({ now: () => 0 });
      assert.equal(s.setSchema(sch), true);
      const full = new BitWriter();
      full.u(32, 5); full.v(7, 0); full.v(7, 0); full.v(7, 1); full.v(3, 0); full.u(1, 1); full.u(valueBits(f), from); full.v(7, 0);
      assert.equal(s.receive(full.finish()), true);
      const before = plainEntities(s.entities);
      const d = new BitWriter();
      d.u(32, 6); d.v(7, 1); d.u(1, 1); d.u(5, 6);  // width 6
      d.v(7, 0); d.v(7, 0); d.v(7, 1); d.v(3, 0); d.u(1, 0); d.u(1, 1); d.u(1, 1);
      d.u(1, 1); d.u(6, diff >= 0 ? 2 * diff : -2 * diff - 1);
      assert.equal(s.receive(d.finish()), ok, `${f.name} ${from} ${diff}`);
      if (!ok) assert.deepEqual(plainEntities(s.entities), before);
      else assert.deepEqual(plainEntities(s.entities), plainView(sch, new Map([[1, { mask: 1, values: [[from + diff]] }]])));
    }
  }
});

test("delta widths cut short, or present without a baseline, are corrupt", () => {
  const { s, drops } = stateWith();
  const full = encodeSnapshot(schema, 5, new Map([[1, { mask: 1, values: [[0, 1, 0, 0], undefined] }]])).data;
  assert.equal(s.receive(full), true);
  const w = new BitWriter();
  w.u(32, 6); w.v(7, 1); w.u(1, 1); w.u(5, 3); w.u(5, 3);  // 2 of 5 widths, then the end
  assert.equal(s.receive(w.finish()), false);
  assert.equal(drops.at(-1).reason, "corrupt");
  // A full snapshot has no widths: a set bit there is read as the removed count.
  const f = new BitWriter();
  f.u(32, 7); f.v(7, 0); f.u(1, 1); f.v(7, 0); f.v(7, 0); f.v(7, 0);
  assert.equal(s.receive(f.finish()), false);
});
