// The interpolation and prediction helpers, with hand-computed expected values.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Predictor, SnapshotInterpolator } from "../dist/esm/index.js";

const lerp = (a, b, t) => ({ x: a.x + (b.x - a.x) * t });

test("interpolates between the two snapshots around now - delay", () => {
  const s = new SnapshotInterpolator({ delayMs: 100, lerp });
  s.push(1000, { x: 0 });
  s.push(1050, { x: 10 });
  s.push(1100, { x: 30 });
  assert.deepEqual(s.sample(1100), { x: 0 });    // render 1000: exactly the first
  assert.deepEqual(s.sample(1125), { x: 5 });    // render 1025: halfway 1000 -> 1050
  assert.deepEqual(s.sample(1190), { x: 26 });   // render 1090: 80% of 1050 -> 1100
});

test("before the oldest snapshot it holds the oldest", () => {
  const s = new SnapshotInterpolator({ delayMs: 100, lerp });
  s.push(1000, { x: 7 });
  s.push(1050, { x: 9 });
  assert.deepEqual(s.sample(900), { x: 7 });
  assert.equal(new SnapshotInterpolator({ lerp }).sample(5), undefined);
});

test("extrapolates past the newest for a bounded time, then holds", () => {
  const s = new SnapshotInterpolator({ delayMs: 100, maxExtrapolateMs: 50, lerp });
  s.push(1000, { x: 0 });
  s.push(1050, { x: 10 });
  assert.deepEqual(s.sample(1175), { x: 15 });   // render 1075: 25 ms past -> t = 1.5
  assert.deepEqual(s.sample(1200), { x: 20 });   // render 1100: 50 ms past -> t = 2
  assert.deepEqual(s.sample(1400), { x: 20 });   // capped at 50 ms
});

test("out-of-order snapshots are placed in time order", () => {
  const s = new SnapshotInterpolator({ delayMs: 0, lerp });
  s.push(1100, { x: 100 });
  s.push(1000, { x: 0 });
  assert.deepEqual(s.sample(1050), { x: 50 });
  assert.equal(s.size, 2);
});

test("prediction replays unacknowledged inputs on the authoritative state", () => {
  const p = new Predictor({ apply: (s, i) => ({ x: s.x + i.dx }), initial: { x: 0 } });
  assert.deepEqual(p.applyLocal({ dx: 1 }), { seq: 1, state: { x: 1 } });
  assert.deepEqual(p.applyLocal({ dx: 2 }), { seq: 2, state: { x: 3 } });
  assert.deepEqual(p.applyLocal({ dx: 4 }), { seq: 3, state: { x: 7 } });
  assert.equal(p.pending(), 3);
  // The server applied seq 1 but clamped the player at 0.5: replay 2 and 3 on top.
  assert.deepEqual(p.reconcile({ x: 0.5 }, 1), { x: 6.5 });
  assert.equal(p.pending(), 2);
  assert.deepEqual(p.reconcile({ x: 7 }, 3), { x: 7 });
  assert.equal(p.pending(), 0);
  assert.deepEqual(p.state(), { x: 7 });
});
