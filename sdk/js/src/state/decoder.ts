// Decoding state_snapshot data (docs/protocol.md §4.20.1-§4.20.3) into frames: the state as
// of a snapshot tick, id -> component mask -> values. A snapshot is a delta against one of the
// client's frames (its baseline) or full; the result is kept as a frame of its own, so a later
// snapshot may name it as its baseline. The client keeps the newest `baseline_window` frames.
//
// Frames share what did not change: an entity's state (EntityFrame) and a component's values
// are never modified once made, so a new frame starts as a shallow copy of its baseline's Map
// and replaces only the entities a snapshot touches. Comparing two frames (to fire change
// callbacks) skips entities that are the same object in both.
//
// Snapshot data is hostile input: every read is bounds-checked (BitReader), every count is
// checked against the bits left before looping, every value against its range; nothing
// throws. A snapshot breaking any rule is "corrupt"; one whose baseline the client no longer
// has is "undecodable". Both are dropped (no frame, no ack).
import { BitReader } from "./bits.js";
import type { ComponentInfo, FieldInfo, FieldValue, StateSchemaInfo, Vec2, Vec3 } from "./schema.js";

/** One entity in one frame: its component mask and, for each component in the mask, its field values. */
export interface EntityFrame {
  readonly mask: number;
  /** values[c]: component c's field values in schema order (undefined when c is not in the mask). */
  readonly values: ReadonlyArray<ReadonlyArray<FieldValue> | undefined>;
}
/** The client's view as of one tick: network id -> entity. */
export type Frame = ReadonlyMap<number, EntityFrame>;

/** Why a snapshot was not applied. */
export type DropReason = "corrupt" | "undecodable" | "duplicate" | "stale" | "no schema";

export type DecodeResult =
  | { ok: true; tick: number; frame: Frame }
  | { ok: false; reason: DropReason; tick?: number; detail: string };

const MAX_ID = 4294967295;
const textDecoder = new TextDecoder();  // not fatal: bad UTF-8 becomes U+FFFD, never an exception

class Corrupt {
  constructor(readonly detail: string) {}
}

export class SnapshotDecoder {
  /** Frames by tick; `ticks` holds their ticks in increasing order. */
  private readonly frames = new Map<number, Frame>();
  private readonly ticks: number[] = [];

  constructor(readonly schema: StateSchemaInfo) {}

  /** The frame of a tick, if kept. */
  frame(tick: number): Frame | undefined {
    return this.frames.get(tick);
  }
  /** Ticks of the frames kept, oldest first. */
  keptTicks(): readonly number[] {
    return this.ticks;
  }
  /** Forget every frame (a new session: the server starts again with a full snapshot). */
  reset(): void {
    this.frames.clear();
    this.ticks.length = 0;
  }

  /** Decodes one snapshot and keeps its frame. Never throws. */
  decode(data: Uint8Array): DecodeResult {
    const r = new BitReader(data);
    const tick = r.u(32);
    const ago = r.v(7);
    if (r.overrun || ago < 0) return { ok: false, reason: "corrupt", detail: "truncated or bad header" };
    if (ago > tick) return { ok: false, reason: "corrupt", tick, detail: `baseline_ago ${ago} past tick ${tick}` };
    if (this.frames.has(tick)) return { ok: false, reason: "duplicate", tick, detail: `tick ${tick} already decoded` };
    const window = this.schema.baselineWindow;
    if (this.ticks.length >= window && tick < this.ticks[0]) {
      return { ok: false, reason: "stale", tick, detail: `tick ${tick} is older than every frame kept` };
    }
    let baseline: Frame;
    if (ago === 0) {
      baseline = new Map();
    } else {
      const b = this.frames.get(tick - ago);
      if (!b) return { ok: false, reason: "undecodable", tick, detail: `baseline ${tick - ago} is not kept` };
      baseline = b;
    }
    // Delta widths (§4.20.3): only in a delta, and only when its first bit says so.
    let widths: Uint8Array | undefined;
    if (ago > 0 && r.u(1) === 1) {
      widths = new Uint8Array(this.schema.deltaFields);
      for (let i = 0; i < widths.length; i++) widths[i] = r.u(5);
      if (r.overrun) return { ok: false, reason: "corrupt", tick, detail: "truncated delta widths" };
    }
    const out = this.apply(r, baseline, ago === 0, widths);
    if (out instanceof Corrupt) return { ok: false, reason: "corrupt", tick, detail: out.detail };
    this.keep(tick, out);
    return { ok: true, tick, frame: out };
  }

  private keep(tick: number, frame: Frame): void {
    this.frames.set(tick, frame);
    let i = this.ticks.length;
    while (i > 0 && this.ticks[i - 1] > tick) i--;
    this.ticks.splice(i, 0, tick);
    while (this.ticks.length > this.schema.baselineWindow) this.frames.delete(this.ticks.shift()!);
  }

  private apply(r: BitReader, baseline: Frame, full: boolean, widths: Uint8Array | undefined): Frame | Corrupt {
    const comps = this.schema.components;
    const C = comps.length;
    const frame = new Map(baseline);

    const removed = r.v(7);
    if (removed < 0 || removed * 4 > r.remaining) return new Corrupt("bad removed count");
    let id = 0;
    for (let i = 0; i < removed; i++) {
      id = nextId(r, id);
      if (id < 0) return new Corrupt("bad removed id");
      if (!baseline.has(id)) return new Corrupt(`removed id ${id} is not in the baseline`);
      frame.delete(id);
    }

    const created = r.v(7);
    if (created < 0 || created * (4 + C) > r.remaining) return new Corrupt("bad created count");
    id = 0;
    for (let i = 0; i < created; i++) {
      id = nextId(r, id);
      if (id < 0) return new Corrupt("bad created id");
      if (baseline.has(id)) return new Corrupt(`created id ${id} is in the baseline`);
      const mask = r.u(C);
      const values: (ReadonlyArray<FieldValue> | undefined)[] = new Array(C);
      for (let c = 0; c < C; c++) {
        if ((mask >>> c) & 1) {
          const v = readComponent(r, comps[c]);
          if (v instanceof Corrupt) return v;
          values[c] = v;
        }
      }
      if (r.overrun) return new Corrupt("truncated");
      frame.set(id, { mask, values });
    }

    const updated = r.v(7);
    if (updated < 0 || updated * 5 > r.remaining) return new Corrupt("bad updated count");
    if (full && (removed > 0 || updated > 0)) return new Corrupt("a full snapshot with removals or updates");
    id = 0;
    for (let i = 0; i < updated; i++) {
      id = nextId(r, id);
      if (id < 0) return new Corrupt("bad updated id");
      const old = frame.get(id);
      if (!old || !baseline.has(id)) return new Corrupt(`updated id ${id} is not in the baseline`);
      const mask = r.u(1) ? r.u(C) : old.mask;
      const values: (ReadonlyArray<FieldValue> | undefined)[] = new Array(C);
      for (let c = 0; c < C; c++) {
        if (!((mask >>> c) & 1)) continue;
        const before = (old.mask >>> c) & 1 ? old.values[c] : undefined;
        if (!before) {
          const v = readComponent(r, comps[c]);
          if (v instanceof Corrupt) return v;
          values[c] = v;
        } else if (r.u(1)) {
          const fields = comps[c].fields;
          const v = before.slice();
          for (let f = 0; f < fields.length; f++) {
            if (!r.u(1)) continue;
            const fi = fields[f];
            const width = widths !== undefined && fi.deltaIndex >= 0 ? widths[fi.deltaIndex] : 0;
            const x = width > 0 && r.u(1) === 1 ? readDelta(r, fi, width, v[f]) : readValue(r, fi);
            if (x instanceof Corrupt) return x;
            v[f] = x;
          }
          values[c] = v;
        } else {
          values[c] = before;
        }
      }
      if (r.overrun) return new Corrupt("truncated");
      frame.set(id, { mask, values });
    }
    if (r.overrun) return new Corrupt("truncated");
    if (!r.atPaddedEnd()) return new Corrupt("bytes or set bits after the end");
    return frame;
  }
}

/** The next id of a gap-coded list: previous + gap + 1 (the first: gap + 1). -1: corrupt. */
function nextId(r: BitReader, previous: number): number {
  const gap = r.v(3);
  if (gap < 0) return -1;
  const id = previous + gap + 1;
  return id > MAX_ID ? -1 : id;
}

function readComponent(r: BitReader, c: ComponentInfo): FieldValue[] | Corrupt {
  const out: FieldValue[] = new Array(c.fields.length);
  for (let f = 0; f < c.fields.length; f++) {
    const v = readValue(r, c.fields[f]);
    if (v instanceof Corrupt) return v;
    out[f] = v;
  }
  return out;
}

/** One field value (§4.20.2's table), range-checked; numbers dequantized as min + q · precision, at most max. */
function readValue(r: BitReader, f: FieldInfo): FieldValue | Corrupt {
  switch (f.type) {
    case "integer": {
      const w = r.u(f.bits);
      if (w > f.steps) return new Corrupt(`${f.name}: ${w} past the range`);
      return f.min + w;
    }
    case "number":
      return readNumber(r, f);
    case "boolean":
      return r.u(1) === 1;
    case "enumeration": {
      const e = r.u(f.bits);
      if (e > f.steps) return new Corrupt(`${f.name}: ${e} is not below ${f.count}`);
      return e;
    }
    case "text": {
      const len = r.v(7);
      if (len < 0 || len > f.count) return new Corrupt(`${f.name}: text length past ${f.count}`);
      if (len * 8 > r.remaining) return new Corrupt("truncated");
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = r.u(8);
      return textDecoder.decode(bytes);
    }
    case "vec2": {
      const x = readNumber(r, f);
      if (x instanceof Corrupt) return x;
      const y = readNumber(r, f);
      if (y instanceof Corrupt) return y;
      return { x, y };
    }
    case "vec3": {
      const x = readNumber(r, f);
      if (x instanceof Corrupt) return x;
      const y = readNumber(r, f);
      if (y instanceof Corrupt) return y;
      const z = readNumber(r, f);
      if (z instanceof Corrupt) return z;
      return { x, y, z };
    }
  }
}

/**
 * A changed integer, number or vector as its baseline value plus, per axis, a zigzagged
 * difference of `width` bits in wire units (0, -1, 1, -2, ... for 0, 1, 2, 3, ...); the result
 * must stay in range. The baseline's wire value comes back from its decoded value exactly:
 * a number was min + q · precision (or max, which is q = steps).
 */
function readDelta(r: BitReader, f: FieldInfo, width: number, before: FieldValue): FieldValue | Corrupt {
  switch (f.type) {
    case "integer": {
      const w = (before as number) - f.min + unzigzag(r.u(width));
      if (!(w >= 0 && w <= f.steps)) return new Corrupt(`${f.name}: difference past the range`);
      return f.min + w;
    }
    case "number":
      return numberDelta(r, f, width, before as number);
    case "vec2": {
      const b = before as Vec2;
      const x = numberDelta(r, f, width, b.x);
      if (x instanceof Corrupt) return x;
      const y = numberDelta(r, f, width, b.y);
      if (y instanceof Corrupt) return y;
      return { x, y };
    }
    case "vec3": {
      const b = before as Vec3;
      const x = numberDelta(r, f, width, b.x);
      if (x instanceof Corrupt) return x;
      const y = numberDelta(r, f, width, b.y);
      if (y instanceof Corrupt) return y;
      const z = numberDelta(r, f, width, b.z);
      if (z instanceof Corrupt) return z;
      return { x, y, z };
    }
    default:
      return new Corrupt(`${f.name}: a difference for a ${f.type}`);  // never: deltaIndex is -1
  }
}

function numberDelta(r: BitReader, f: FieldInfo, width: number, before: number): number | Corrupt {
  const q = Math.round((before - f.min) / f.precision) + unzigzag(r.u(width));
  if (!(q >= 0 && q <= f.steps)) return new Corrupt(`${f.name}: difference past ${f.steps} steps`);
  return Math.min(f.min + q * f.precision, f.max);
}

/** 0, 1, 2, 3, 4 ... -> 0, -1, 1, -2, 2 ... (z below 2^31). */
function unzigzag(z: number): number {
  return z & 1 ? -((z >>> 1) + 1) : z >>> 1;
}

function readNumber(r: BitReader, f: FieldInfo): number | Corrupt {
  const q = r.u(f.bits);
  if (q > f.steps) return new Corrupt(`${f.name}: ${q} past ${f.steps} steps`);
  return Math.min(f.min + q * f.precision, f.max);
}
