// A reference encoder for replicated-state snapshots, written from docs/protocol.md §4.20 alone
// (not from the SDK's decoder), for the state tests. No tests here (node --test runs it as an
// empty file). Values are kept as wire values: integer w = value - min, number q (steps),
// boolean 0/1, enumeration index, text a string, vec2/vec3 an array of q per axis.

export const T = { integer: 1, number: 2, boolean: 3, enumeration: 4, text: 5, vec2: 6, vec3: 7 };

export function bitwidth(n) {
  let b = 0;
  while (n >= 1) { n = Math.floor(n / 2); b++; }
  return b;
}

export class BitWriter {
  constructor() { this.bytes = []; this.pos = 0; }
  /** u(n): n bits of value, least significant first. */
  u(n, value) {
    for (let i = 0; i < n; i++) {
      if (this.pos % 8 === 0) this.bytes.push(0);
      if (Math.floor(value / 2 ** i) % 2 === 1) this.bytes[this.bytes.length - 1] |= 1 << (this.pos % 8);
      this.pos++;
    }
  }
  /** v(k): groups of k bits, each followed by a "more" bit. */
  v(k, value) {
    do {
      const g = value % 2 ** k;
      value = Math.floor(value / 2 ** k);
      this.u(k, g);
      this.u(1, value > 0 ? 1 : 0);
    } while (value > 0);
  }
  get bits() { return this.pos; }
  finish() { return Uint8Array.from(this.bytes); }
}

/** Steps of a number / vector field: round((max - min) / precision). */
export const steps = (f) => Math.round((f.max - f.min) / f.precision);

/** Bits of one value of a field (one axis of a vector). */
export function valueBits(f) {
  switch (f.type) {
    case T.integer: return bitwidth(f.max - f.min);
    case T.number: case T.vec2: case T.vec3: return bitwidth(steps(f));
    case T.boolean: return 1;
    case T.enumeration: return bitwidth(f.count - 1);
    default: return 8;
  }
}

/** The wire value of a real value (clamped, quantized), as a server would send it. */
export function quantize(f, value) {
  const q = (x) => Math.round((Math.min(Math.max(x, f.min), f.max) - f.min) / f.precision);
  switch (f.type) {
    case T.integer: return Math.min(Math.max(value, f.min), f.max) - f.min;
    case T.number: return q(value);
    case T.boolean: return value ? 1 : 0;
    case T.enumeration: return value;
    case T.text: return value;
    case T.vec2: return [q(value.x), q(value.y)];
    case T.vec3: return [q(value.x), q(value.y), q(value.z)];
  }
}

/** What a client should decode from a wire value (§4.20.2's "decoded" column). */
export function dequantize(f, w) {
  const d = (q) => Math.min(f.min + q * f.precision, f.max);
  switch (f.type) {
    case T.integer: return f.min + w;
    case T.number: return d(w);
    case T.boolean: return w === 1;
    case T.enumeration: return w;
    case T.text: return w;
    case T.vec2: return { x: d(w[0]), y: d(w[1]) };
    case T.vec3: return { x: d(w[0]), y: d(w[1]), z: d(w[2]) };
  }
}

const utf8 = new TextEncoder();

export function writeValue(w, f, value) {
  const bits = valueBits(f);
  if (f.type === T.text) {
    const bytes = utf8.encode(value);
    w.v(7, bytes.length);
    for (const b of bytes) w.u(8, b);
  } else if (f.type === T.vec2 || f.type === T.vec3) {
    for (const q of value) w.u(bits, q);
  } else {
    w.u(bits, value);
  }
}

export const sameValue = (a, b) => (Array.isArray(a) ? a.every((x, i) => x === b[i]) : a === b);

/**
 * An entity as the encoder sees it: { mask, values: [component index] -> [wire values] }.
 * A view: Map id -> entity.
 */
export function maskOf(values) {
  let m = 0;
  values.forEach((v, c) => { if (v) m += 2 ** c; });
  return m;
}

function writeComponent(w, comp, values) {
  comp.fields.forEach((f, i) => writeValue(w, f, values[i]));
}

function writeGaps(w, ids, each) {
  let prev = 0;
  for (const id of ids) {
    w.v(3, id - prev - 1);
    prev = id;
    each?.(id);
  }
}

/**
 * Encodes `view` as a delta against `baseline` (a view, or null: full), at tick with baseline
 * tick baselineTick. defer(id) true leaves that entity's update out (a byte budget: it stays
 * at its baseline values). Returns { data, sent }: sent is the view the client will have.
 */
export function encodeSnapshot(schema, tick, view, baseline = null, baselineTick = 0, { defer = () => false, touchAll = false, deltaWidths = null } = {}) {
  const C = schema.components.length;
  const base = baseline ?? new Map();
  const w = new BitWriter();
  w.u(32, tick);
  w.v(7, baseline ? tick - baselineTick : 0);
  // Delta widths (§4.20.3): deltaWidths[k] for the k-th integer/number/vector field of the schema.
  const deltaIndex = new Map();
  schema.components.forEach((comp) => comp.fields.forEach((f) => {
    if ([T.integer, T.number, T.vec2, T.vec3].includes(f.type)) deltaIndex.set(f, deltaIndex.size);
  }));
  if (baseline) {
    w.u(1, deltaWidths ? 1 : 0);
    if (deltaWidths) for (let k = 0; k < deltaIndex.size; k++) w.u(5, deltaWidths[k] ?? 0);
  }
  const zigzag = (d) => (d >= 0 ? 2 * d : -2 * d - 1);
  const removed = [...base.keys()].filter((id) => !view.has(id)).sort((a, b) => a - b);
  const created = [...view.keys()].filter((id) => !base.has(id)).sort((a, b) => a - b);
  const sent = new Map(view);
  const updated = [];
  for (const id of [...view.keys()].filter((id) => base.has(id)).sort((a, b) => a - b)) {
    const now = view.get(id), old = base.get(id);
    const differs = now.mask !== old.mask || now.values.some((v, c) => v && old.values[c] && v.some((x, i) => !sameValue(x, old.values[c][i])));
    if ((!differs && !touchAll) || (differs && defer(id))) {
      sent.set(id, old);
      continue;
    }
    updated.push(id);
  }
  w.v(7, removed.length);
  writeGaps(w, removed);
  w.v(7, created.length);
  writeGaps(w, created, (id) => {
    const e = view.get(id);
    w.u(C, e.mask);
    schema.components.forEach((comp, c) => { if (e.values[c]) writeComponent(w, comp, e.values[c]); });
  });
  w.v(7, updated.length);
  writeGaps(w, updated, (id) => {
    const now = view.get(id), old = base.get(id);
    const maskChanged = now.mask !== old.mask;
    w.u(1, maskChanged ? 1 : 0);
    if (maskChanged) w.u(C, now.mask);
    schema.components.forEach((comp, c) => {
      if (!now.values[c]) return;
      if (!old.values[c]) return writeComponent(w, comp, now.values[c]);
      const changed = comp.fields.map((_, i) => !sameValue(now.values[c][i], old.values[c][i]));
      if (!changed.some(Boolean)) return w.u(1, 0);
      w.u(1, 1);
      comp.fields.forEach((f, i) => {
        w.u(1, changed[i] ? 1 : 0);
        if (!changed[i]) return;
        const width = deltaWidths && deltaIndex.has(f) ? deltaWidths[deltaIndex.get(f)] ?? 0 : 0;
        if (width > 0) {
          const axes = (v) => (Array.isArray(v) ? v : [v]);
          const a = axes(now.values[c][i]), b = axes(old.values[c][i]);
          const diffs = a.map((x, k) => zigzag(x - b[k]));
          const fits = diffs.every((z) => z < 2 ** width);
          w.u(1, fits ? 1 : 0);
          if (fits) return diffs.forEach((z) => w.u(width, z));
        }
        writeValue(w, f, now.values[c][i]);
      });
    });
  });
  return { data: w.finish(), sent, bits: w.bits };
}

/** A view as the plain objects the SDK shows: [{ id, <component>: { <field>: value } }] by id. */
export function plainView(schema, view) {
  return [...view.keys()].sort((a, b) => a - b).map((id) => {
    const e = { id };
    schema.components.forEach((comp, c) => {
      const vals = view.get(id).values[c];
      if (!vals) return;
      e[comp.name] = Object.fromEntries(comp.fields.map((f, i) => [f.name, dequantize(f, vals[i])]));
    });
    return e;
  });
}

/** The SDK's entities map in the same form. */
export function plainEntities(entities) {
  return [...entities.values()].sort((a, b) => a.id - b.id).map((e) => JSON.parse(JSON.stringify(e)));
}

/** A seeded PRNG (mulberry32): the same run for the same seed. */
export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  next.int = (n) => Math.floor(next() * n);
  next.pick = (xs) => xs[Math.floor(next() * xs.length)];
  return next;
}
