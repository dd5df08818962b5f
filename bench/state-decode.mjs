#!/usr/bin/env node
// state-decode: the JS SDK's client-side cost of replicated state (docs/protocol.md §4.20), per
// snapshot, on issue 13's scene shapes, with the JSON snapshot a room broadcasts today
// (movement2d-style: every entity's {id, x, y, heading} every tick, JSON.parse) side by side in
// the same run. CPU time from process.cpuUsage (user + system): the median of 5 runs after 3
// warmup runs.
//
//   (cd sdk/js && npm run build) && node bench/state-decode.mjs [--snapshots 4000] [--seed 1]
//
// Scenes (20 Hz, positions as two floats 0-800 / 0-600 at 0.01, heading -3.2..3.2 at 0.001):
//   players-10   10 entities, all moving every tick (a random walk), all in view
//   bots-100     100 entities moving; the client's interest is a quarter of the arena (a radius
//                around its own entity), so ~25 in view with creates and removes as they cross
// Per scene: bytes per snapshot (delta against the previous tick, as a client acking every
// snapshot gets), µs per snapshot for ReplicatedState.receive (decode + view update, no
// callbacks; then with onChange counting every field), µs for interpolated() per render
// frame, and µs per JSON.parse of the same entities. Snapshots come from the spec-written
// reference encoder of sdk/js/test/state_reference.mjs (the wire format, not craftd's encoder).
import { ReplicatedState } from "../sdk/js/dist/esm/index.js";
import { T, encodeSnapshot, quantize, rng } from "../sdk/js/test/state_reference.mjs";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const SNAPSHOTS = Number(args.snapshots ?? 4000);
const seed = Number(args.seed ?? 1);

const schema = {
  tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 32,
  components: [{ name: "pos", fields: [
    { name: "x", type: T.number, min: 0, max: 800, precision: 0.01, count: 0 },
    { name: "y", type: T.number, min: 0, max: 600, precision: 0.01, count: 0 },
    { name: "heading", type: T.number, min: -3.2, max: 3.2, precision: 0.001, count: 0 },
  ] }],
};
const [fx, fy, fh] = schema.components[0].fields;

function scene(count, radius) {
  const r = rng(seed);
  const ents = Array.from({ length: count }, (_, i) => ({ id: i + 1, x: r() * 800, y: r() * 600, h: r() * 6.4 - 3.2 }));
  const frames = [];
  const json = [];
  const viewSizes = [];
  let prev = null;
  for (let t = 1; t <= SNAPSHOTS; t++) {
    for (const e of ents) {
      e.h = Math.max(-3.2, Math.min(3.2, e.h + (r() - 0.5) * 0.3));
      e.x = Math.max(0, Math.min(800, e.x + Math.cos(e.h) * 5));
      e.y = Math.max(0, Math.min(600, e.y + Math.sin(e.h) * 5));
      if (e.x <= 0 || e.x >= 800 || e.y <= 0 || e.y >= 600) e.h = r() * 6.4 - 3.2;
    }
    const me = ents[0];
    const view = new Map();
    for (const e of ents) {
      if (radius && e !== me && (e.x - me.x) ** 2 + (e.y - me.y) ** 2 > radius * radius) continue;
      view.set(e.id, { mask: 1, values: [[quantize(fx, e.x), quantize(fy, e.y), quantize(fh, e.h)]] });
    }
    viewSizes.push(view.size);
    frames.push(encodeSnapshot(schema, t, view, prev, t - 1).data);
    json.push(new TextEncoder().encode(JSON.stringify({ tick: t, players: [...view.keys()].map((id) => {
      const e = ents[id - 1];
      return { id, x: +e.x.toFixed(2), y: +e.y.toFixed(2), heading: +e.h.toFixed(3) };
    }) })));
    prev = view;
  }
  return { frames, json, viewSizes };
}

function cpuUs(fn) {
  const a = process.cpuUsage();
  fn();
  const b = process.cpuUsage(a);
  return b.user + b.system;
}

// Radius covering a quarter of the 800 x 600 arena: pi r^2 = 120,000.
const scenes = [["players-10", 10, 0], ["bots-100", 100, Math.sqrt((800 * 600) / 4 / Math.PI)]];
console.log(`state-decode: ${SNAPSHOTS} snapshots per scene, seed ${seed}, node ${process.version}`);
console.log("scene        in view  B/snapshot  JSON B  receive µs  +onChange µs  interpolated µs  JSON.parse µs");
for (const [name, count, radius] of scenes) {
  const { frames, json, viewSizes } = scene(count, radius);
  const bytes = frames.slice(1).reduce((s, f) => s + f.length, 0) / (frames.length - 1);
  const jsonBytes = json.reduce((s, f) => s + f.length, 0) / json.length;
  const run = (withChange) => {
    const s = new ReplicatedState({ now: () => 0 });
    s.setSchema(schema);
    let changes = 0;
    if (withChange) s.onChange(() => changes++);
    let inView = 0;
    const us = cpuUs(() => {
      for (let i = 0; i < frames.length; i++) s.receive(frames[i], i * 50);
    });
    inView = viewSizes.reduce((a, b) => a + b, 0) / viewSizes.length;
    return { us: us / frames.length, s, inView, changes };
  };
  // Warm up (the JIT), then the median of 5 runs of each.
  for (let i = 0; i < 3; i++) run(i === 1);
  const median = (withChange) => {
    const runs = Array.from({ length: 5 }, () => run(withChange)).sort((a, b) => a.us - b.us);
    return runs[2];
  };
  const plain = median(false);
  const counted = median(true);
  const s = plain.s;
  const renders = 2000;
  const lerpUs = cpuUs(() => {
    for (let i = 0; i < renders; i++) s.interpolated((frames.length - 8) * 50 + i * 0.1);
  }) / renders;
  const dec = new TextDecoder();
  for (const j of json) JSON.parse(dec.decode(j));  // warmup
  const parseUs = cpuUs(() => { for (const j of json) JSON.parse(dec.decode(j)); }) / json.length;
  console.log(`${name.padEnd(12)} ${plain.inView.toFixed(1).padStart(7)}  ${bytes.toFixed(1).padStart(10)}  ${jsonBytes.toFixed(0).padStart(6)}  ${plain.us.toFixed(2).padStart(10)}  ${counted.us.toFixed(2).padStart(12)}  ${lerpUs.toFixed(2).padStart(15)}  ${parseUs.toFixed(2).padStart(13)}`);
}
