// A room's replicated state on the client (docs/protocol.md §4.20): the newest decoded view as
// plain objects ({ id, <component>: { <field>: value } }) with add / remove / change callbacks,
// acks for the snapshots decoded, and an interpolation buffer driven by server tick time.
//
// Interpolation renders remote entities a little in the past, between the two decoded frames
// around `render time = newest server time - delay`, so motion stays smooth despite jitter and
// loss (Glenn Fiedler, "Snapshot Interpolation", gafferongames.com). Server time is the
// snapshot tick / tick_rate_hz; the client maps it to its own clock from arrival times: the
// smallest (arrival - tick time) over recent snapshots is the fastest path seen, and render
// time follows it with a slowly adjusted offset (at most 5 % of elapsed time), so render time
// never jumps or runs backwards on jitter. The render tick (fractional) is what a game sends
// with a shot for lag compensation: the server rewinds to what the shooter saw.
import { SnapshotDecoder, type DropReason, type EntityFrame, type Frame } from "./decoder.js";
import { type FieldInfo, type FieldValue, type StateSchemaInfo, type StateSchemaInit, checkSchema } from "./schema.js";

/** Field values of one component, by field name. */
export type ComponentValues = Record<string, FieldValue>;
/** The components of a room's entities, by name (for typing; e.g. { pos: { x: number; y: number } }). */
export type ComponentMap = Record<string, ComponentValues>;
/**
 * A replicated entity: its network id (1 to 2^32-1, never reused in a room) and each component
 * it has, as a plain object of field values. The same object for the entity's whole life.
 */
export type Entity<C extends ComponentMap = ComponentMap> = { readonly id: number } & { [K in keyof C]?: C[K] };

/** A snapshot (or schema) dropped: "corrupt", "undecodable" (its baseline is not kept), "stale", "duplicate", "no schema", "bad schema". */
export interface StateDrop {
  reason: DropReason | "bad schema";
  /** The snapshot's tick, when it could be read. */
  tick?: number;
  detail: string;
}

/** How a field moves between two frames: "linear" (numbers and vectors, default), "wrap" (an angle: the range is one turn), "step" (the older frame's value; always for integers, booleans, enumerations, text). */
export type InterpolationMode = "linear" | "wrap" | "step";

export interface ReplicatedOptions {
  /** How far behind the newest server time to render, ms. Default 100. */
  delayMs?: number;
  /** Past the newest frame, keep moving linearly for at most this long (ms), then hold. Default 100. */
  maxExtrapolateMs?: number;
  /** Decoded frames kept for interpolation. Default 32. */
  historySize?: number;
  /** Per "component.field": how it interpolates (default "linear" for numbers and vectors). */
  interpolation?: Record<string, InterpolationMode>;
  /**
   * Wait at most this long (ms) for an outgoing room_data to carry an ack before sending a
   * state_ack on its own. Default: half the snapshot interval, at most 50.
   */
  ackDelayMs?: number;
  /** The local clock in ms, for arrival times and the default of interpolated(now). Default performance.now. */
  now?: () => number;
}

/** What interpolated() returns: the fractional render tick and the entities as they were then. */
export interface InterpolatedState<C extends ComponentMap = ComponentMap> {
  /** The server tick being shown (fractional); send it with a shot for lag compensation. */
  tick: number;
  /** Entities at the render tick (fresh objects; those created after it are not there yet). */
  entities: Map<number, Entity<C>>;
}

/** Counters for a debug overlay or a benchmark. */
export interface ReplicatedStats {
  decoded: number;
  dropped: number;
  /** Snapshot data bytes received. */
  bytes: number;
}

type ChangeHandler<C extends ComponentMap> = (entity: Entity<C>, component: string, field: string, value: FieldValue | undefined, old: FieldValue | undefined) => void;
type FieldHandler<C extends ComponentMap> = (value: FieldValue | undefined, old: FieldValue | undefined, entity: Entity<C>) => void;

class Handlers<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();
  add(f: (...args: A) => void): () => void {
    this.set.add(f);
    return () => this.set.delete(f);
  }
  get size(): number {
    return this.set.size;
  }
  emit(...args: A): void {
    if (this.set.size === 0) return;
    for (const f of [...this.set]) call(f, args);  // a copy: a handler may (un)subscribe
  }
}
// A throwing callback must not break the decoding around it (the state stays consistent and
// the other callbacks run): its exception is re-thrown on its own, as EventTarget does.
function call<A extends unknown[]>(f: (...args: A) => void, args: A): void {
  try {
    f(...args);
  } catch (e) {
    queueMicrotask(() => {
      throw e;
    });
  }
}

const defaultNow = () => performance.now();
const CLOCK_SAMPLES = 32;
const CLOCK_SNAP_MS = 1000;
const CLOCK_SLEW = 0.05;

/**
 * A room's replicated state (room.replicated). Also usable on its own: setSchema(state_schema),
 * then receive(state_snapshot.data) for each snapshot, sending the ticks onAck reports.
 * Threads: the page's (or Node's) event loop; callbacks run inside receive().
 */
export class ReplicatedState<C extends ComponentMap = ComponentMap> {
  /** The checked state_schema (undefined until it arrives). */
  schema: StateSchemaInfo | undefined;
  /** The newest view: network id -> entity. Updated before callbacks fire. */
  readonly entities = new Map<number, Entity<C>>();
  /** The tick of the newest view (0: none yet). */
  tick = 0;
  readonly stats: ReplicatedStats = { decoded: 0, dropped: 0, bytes: 0 };

  private decoder: SnapshotDecoder | undefined;
  private view: Frame = new Map();
  private hasView = false;
  /** Decoded frames for interpolation, oldest first. */
  private history: { tick: number; frame: Frame }[] = [];
  private clockSamples: number[] = [];
  private offset: number | undefined;
  private lastArrival = 0;
  private opts: Required<Omit<ReplicatedOptions, "ackDelayMs" | "interpolation">> & { ackDelayMs?: number };
  private modes = new Map<string, InterpolationMode>();
  /** modes by component and field index for the current schema (worked out once, not per frame). */
  private modeIndex: InterpolationMode[][] = [];
  private readonly added = new Handlers<[Entity<C>]>();
  private readonly removed = new Handlers<[Entity<C>]>();
  private readonly changed = new Handlers<Parameters<ChangeHandler<C>>>();
  private readonly snapshots = new Handlers<[number]>();
  private readonly drops = new Handlers<[StateDrop]>();
  private readonly acks = new Handlers<[number]>();
  private readonly perEntity = new Map<number, Handlers<Parameters<ChangeHandler<C>>>>();
  private readonly perField = new Map<string, Handlers<Parameters<FieldHandler<C>>>>();

  constructor(options: ReplicatedOptions = {}) {
    this.opts = { delayMs: 100, maxExtrapolateMs: 100, historySize: 32, now: defaultNow };
    this.configure(options);
  }

  /** Changes options (see ReplicatedOptions); those not given keep their value. */
  configure(options: ReplicatedOptions): void {
    const { interpolation, ...rest } = options;
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (this.opts as Record<string, unknown>)[k] = v;
    for (const [k, v] of Object.entries(interpolation ?? {})) this.modes.set(k, v);
    this.indexModes();
  }

  /** How long an ack waits for an outgoing room_data to ride on (ms); see ReplicatedOptions.ackDelayMs. */
  get ackDelayMs(): number {
    if (this.opts.ackDelayMs !== undefined) return this.opts.ackDelayMs;
    const s = this.schema;
    return s ? Math.min(50, (500 * s.sendIntervalTicks) / s.tickRateHz) : 50;
  }

  /** A new entity is in the view (all its components are set). Returns an unsubscribe. */
  onAdd(cb: (entity: Entity<C>) => void): () => void {
    return this.added.add(cb);
  }
  /** An entity left the view (destroyed, or out of this client's interest); its object keeps its last values. */
  onRemove(cb: (entity: Entity<C>) => void): () => void {
    return this.removed.add(cb);
  }
  /**
   * A field of an entity changed (already applied to the entity). A component added to an
   * entity fires once per field with old undefined; a component removed, with value undefined.
   */
  onChange(cb: ChangeHandler<C>): () => void {
    return this.changed.add(cb);
  }
  /**
   * One entity's changes: listen(id, cb) gets every change of that entity as onChange does;
   * listen(id, component, field, cb) gets (value, old, entity) for one field. The listener
   * goes when the entity is removed. Returns an unsubscribe.
   */
  listen(entity: number | Entity<C>, cb: ChangeHandler<C>): () => void;
  listen(entity: number | Entity<C>, component: string, field: string, cb: FieldHandler<C>): () => void;
  listen(entity: number | Entity<C>, a: string | ChangeHandler<C>, field?: string, cb?: FieldHandler<C>): () => void {
    const id = typeof entity === "number" ? entity : entity.id;
    if (typeof a === "function") {
      let h = this.perEntity.get(id);
      if (!h) this.perEntity.set(id, (h = new Handlers()));
      return h.add(a);
    }
    const key = `${id}\u0000${a}\u0000${field}`;
    let h = this.perField.get(key);
    if (!h) this.perField.set(key, (h = new Handlers()));
    return h.add(cb!);
  }
  /** A snapshot became the view (after its add / remove / change callbacks), with its tick. */
  onSnapshot(cb: (tick: number) => void): () => void {
    return this.snapshots.add(cb);
  }
  /** A snapshot (or the schema) could not be used and was dropped without an ack. */
  onDrop(cb: (drop: StateDrop) => void): () => void {
    return this.drops.add(cb);
  }
  /** The tick to acknowledge (state_ack), once per snapshot that became the view; the Room sends it. */
  onAck(cb: (tick: number) => void): () => void {
    return this.acks.add(cb);
  }

  /**
   * Takes a room's state_schema. False (and an onDrop "bad schema") when this client cannot
   * decode with it; snapshots are then dropped. A schema with other components than the
   * current one empties the view first (onRemove for each entity).
   */
  setSchema(init: StateSchemaInit): boolean {
    const schema = checkSchema(init);
    if (typeof schema === "string") {
      this.decoder = undefined;
      this.drops.emit({ reason: "bad schema", detail: schema });
      return false;
    }
    const same = this.schema !== undefined && JSON.stringify(this.schema.components) === JSON.stringify(schema.components);
    if (!same) this.show(new Map(), this.tick);
    this.schema = schema;
    this.indexModes();
    this.decoder = new SnapshotDecoder(schema);
    this.history = [];
    // The next snapshot becomes the view whatever its tick (a new session starts over).
    this.hasView = false;
    return true;
  }

  /**
   * Decodes one state_snapshot's data received at arrivalMs (local clock). True when it was
   * decoded (and, when newer than the view, shown); false when dropped (onDrop says why).
   * Never throws on bad data.
   */
  receive(data: Uint8Array, arrivalMs: number = this.opts.now()): boolean {
    this.stats.bytes += data.length;
    if (!this.decoder || !this.schema) return this.drop({ reason: "no schema", detail: "a snapshot before state_schema" });
    const result = this.decoder.decode(data);
    if (!result.ok) return this.drop({ reason: result.reason, tick: result.tick, detail: result.detail });
    this.stats.decoded++;
    const { tick, frame } = result;
    this.remember(tick, frame, arrivalMs);
    if (!this.hasView || tick > this.tick) {
      this.hasView = true;
      this.acks.emit(tick);
      this.show(frame, tick);
      this.snapshots.emit(tick);
    }
    return true;
  }

  /** The server tick being rendered at local time nowMs (fractional), undefined before any snapshot. */
  renderTick(nowMs: number = this.opts.now()): number | undefined {
    if (this.offset === undefined || !this.schema) return undefined;
    return ((nowMs - this.offset - this.opts.delayMs) * this.schema.tickRateHz) / 1000;
  }

  /**
   * The entities as of the render tick at local time nowMs: numbers and vectors interpolated
   * between the two decoded frames around it (extrapolated for at most maxExtrapolateMs past
   * the newest, then held), other fields from the older frame.
   */
  interpolated(nowMs: number = this.opts.now()): InterpolatedState<C> {
    const entities = new Map<number, Entity<C>>();
    const tick = this.renderTick(nowMs);
    const h = this.history;
    const schema = this.schema;
    if (tick === undefined || !schema || h.length === 0) return { tick: tick ?? 0, entities };
    let i = 0;
    while (i + 1 < h.length && h[i + 1].tick <= tick) i++;
    const a = h[i];
    let b = h[i + 1];
    let t = 0;
    if (tick <= a.tick) {
      b = undefined as never;  // before the oldest frame: hold it
    } else if (b) {
      t = (tick - a.tick) / (b.tick - a.tick);
    } else if (i > 0 && this.opts.maxExtrapolateMs > 0) {
      // Past the newest: continue the motion of the last two frames for a bounded time.
      const prev = h[i - 1];
      const maxTicks = (this.opts.maxExtrapolateMs * schema.tickRateHz) / 1000;
      t = 1 + Math.min(tick - a.tick, maxTicks) / (a.tick - prev.tick);
      return { tick, entities: this.blend(prev.frame, a.frame, t, entities, true) };
    }
    if (!b) {
      for (const [id, e] of a.frame) entities.set(id, this.toEntity(id, e));
      return { tick, entities };
    }
    return { tick, entities: this.blend(a.frame, b.frame, t, entities, false) };
  }

  /** @internal: a new session for this room; frames are gone, the view stays until the next snapshot. */
  reset(): void {
    this.decoder?.reset();
    this.history = [];
    this.hasView = false;
  }

  private indexModes(): void {
    this.modeIndex = (this.schema?.components ?? []).map((c) => c.fields.map((f) => this.modes.get(`${c.name}.${f.name}`) ?? "linear"));
  }

  private drop(d: StateDrop): false {
    this.stats.dropped++;
    this.drops.emit(d);
    return false;
  }

  private remember(tick: number, frame: Frame, arrivalMs: number): void {
    const h = this.history;
    let i = h.length;
    while (i > 0 && h[i - 1].tick > tick) i--;
    h.splice(i, 0, { tick, frame });
    if (h.length > this.opts.historySize) h.splice(0, h.length - this.opts.historySize);
    // Clock: the fastest of the recent snapshots sets the offset; the offset moves slowly.
    const sample = arrivalMs - (tick * 1000) / this.schema!.tickRateHz;
    this.clockSamples.push(sample);
    if (this.clockSamples.length > CLOCK_SAMPLES) this.clockSamples.shift();
    const target = Math.min(...this.clockSamples);
    if (this.offset === undefined || Math.abs(target - this.offset) > CLOCK_SNAP_MS) {
      this.offset = target;
      this.lastArrival = arrivalMs;
    } else {
      const step = CLOCK_SLEW * Math.max(0, arrivalMs - this.lastArrival);
      this.offset += Math.max(-step, Math.min(step, target - this.offset));
    }
    this.lastArrival = Math.max(this.lastArrival, arrivalMs);
  }

  /** Makes frame the view: updates entities, then fires remove, add and change callbacks. */
  private show(frame: Frame, tick: number): void {
    const before = this.view;
    this.view = frame;
    this.tick = tick;
    const comps = this.schema?.components ?? [];
    const gone: Entity<C>[] = [];
    const born: Entity<C>[] = [];
    const changes: [Entity<C>, string, string, FieldValue | undefined, FieldValue | undefined][] = [];
    // Nobody listens for changes (a game that renders interpolated() often does not): the
    // entities are still updated, but no change records (and no copies of old values) are made.
    const listened = this.changed.size > 0 || this.perEntity.size > 0 || this.perField.size > 0;
    for (const [id] of before) {
      if (frame.has(id)) continue;
      const e = this.entities.get(id);
      this.entities.delete(id);
      if (e) gone.push(e);
    }
    for (const [id, now] of frame) {
      const old = before.get(id);
      if (old === now) continue;
      const e = this.entities.get(id);
      if (!old || !e) {
        const fresh = this.toEntity(id, now);
        this.entities.set(id, fresh);
        born.push(fresh);
        continue;
      }
      const obj = e as Record<string, ComponentValues>;
      for (let c = 0; c < comps.length; c++) {
        const was = old.values[c];
        const is = now.values[c];
        if (was === is) continue;
        const { name, fields } = comps[c];
        if (!is) {
          delete obj[name];
          if (listened) for (let f = 0; f < fields.length; f++) changes.push([e, name, fields[f].name, undefined, was![f]]);
          continue;
        }
        let target = was ? obj[name] : undefined;
        if (!target) setOwn(obj, name, (target = {}));
        for (let f = 0; f < fields.length; f++) {
          const o = was ? was[f] : undefined;
          if (o !== undefined && equal(o, is[f])) continue;
          const v = copy(is[f]);
          setOwn(target, fields[f].name, v);
          if (listened) changes.push([e, name, fields[f].name, v, o === undefined ? undefined : copy(o)]);
        }
      }
    }
    for (const e of gone) {
      this.removed.emit(e);
      this.forget(e.id);
    }
    for (const e of born) this.added.emit(e);
    const anyEntity = this.perEntity.size > 0;
    const anyField = this.perField.size > 0;
    for (const [e, comp, field, value, old] of changes) {
      this.changed.emit(e, comp, field, value, old);
      if (anyEntity) this.perEntity.get(e.id)?.emit(e, comp, field, value, old);
      if (anyField) this.perField.get(`${e.id}\u0000${comp}\u0000${field}`)?.emit(value, old, e);
    }
  }

  private forget(id: number): void {
    this.perEntity.delete(id);
    if (this.perField.size === 0) return;
    const prefix = `${id}\u0000`;
    for (const k of [...this.perField.keys()]) if (k.startsWith(prefix)) this.perField.delete(k);
  }

  private toEntity(id: number, e: EntityFrame): Entity<C> {
    const out: Record<string, unknown> = { id };
    const comps = this.schema?.components ?? [];
    for (let c = 0; c < comps.length; c++) {
      const values = e.values[c];
      if (!values) continue;
      const obj: ComponentValues = {};
      const fields = comps[c].fields;
      for (let f = 0; f < fields.length; f++) setOwn(obj, fields[f].name, copy(values[f]));
      setOwn(out, comps[c].name, obj);
    }
    return out as Entity<C>;
  }

  /**
   * The entities at t along frame a -> frame b: those of a when interpolating (t in [0, 1)),
   * those of b when extrapolating (t >= 1). Entities in both frames move; the others hold.
   */
  private blend(a: Frame, b: Frame, t: number, out: Map<number, Entity<C>>, extrapolating: boolean): Map<number, Entity<C>> {
    const comps = this.schema!.components;
    for (const [id, shownEntity] of extrapolating ? b : a) {
      const ea = a.get(id);
      const eb = b.get(id);
      if (!ea || !eb || ea === eb) {
        out.set(id, this.toEntity(id, shownEntity));
        continue;
      }
      const ent: Record<string, unknown> = { id };
      for (let c = 0; c < comps.length; c++) {
        const va = ea.values[c];
        const vb = eb.values[c];
        const shown = extrapolating ? vb : va;
        if (!shown) continue;
        const obj: ComponentValues = {};
        const fields = comps[c].fields;
        const modes = this.modeIndex[c];
        for (let f = 0; f < fields.length; f++) {
          const fi = fields[f];
          const mode = modes[f];
          const moves = va && vb && va !== vb && mode !== "step";
          setOwn(obj, fi.name, moves ? lerpValue(fi, mode, va[f], vb[f], t) : copy(shown[f]));
        }
        setOwn(ent, comps[c].name, obj);
      }
      out.set(id, ent as Entity<C>);
    }
    return out;
  }
}

function setOwn(obj: Record<string, unknown>, key: string, v: unknown): void {
  // Names come from the server's schema: "__proto__" must be a field, not the prototype. Only
  // that name needs defineProperty (which would make every object a slow dictionary).
  if (key === "__proto__") Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[key] = v;
}

function copy(v: FieldValue): FieldValue {
  return typeof v === "object" ? { ...v } : v;
}

function equal(a: FieldValue, b: FieldValue): boolean {
  if (typeof a !== "object" || typeof b !== "object") return a === b;
  return a.x === b.x && a.y === b.y && (a as { z?: number }).z === (b as { z?: number }).z;
}

function lerpNumber(f: FieldInfo, mode: InterpolationMode, a: number, b: number, t: number): number {
  let d = b - a;
  if (mode === "wrap") {
    const turn = f.max - f.min;
    if (turn > 0) {
      d = ((d % turn) + turn) % turn;
      if (d > turn / 2) d -= turn;
      let v = a + d * t;
      v = f.min + ((((v - f.min) % turn) + turn) % turn);
      return v;
    }
  }
  return Math.min(f.max, Math.max(f.min, a + d * t));
}

function lerpValue(f: FieldInfo, mode: InterpolationMode, a: FieldValue, b: FieldValue, t: number): FieldValue {
  if (f.type === "number") return lerpNumber(f, mode, a as number, b as number, t);
  if (f.type === "vec2" || f.type === "vec3") {
    const va = a as { x: number; y: number; z?: number };
    const vb = b as { x: number; y: number; z?: number };
    const out: { x: number; y: number; z?: number } = {
      x: lerpNumber(f, mode, va.x, vb.x, t),
      y: lerpNumber(f, mode, va.y, vb.y, t),
    };
    if (f.type === "vec3") out.z = lerpNumber(f, mode, va.z!, vb.z!, t);
    return out as FieldValue;
  }
  return copy(t < 1 ? a : b);  // step: the older frame's value (the newer one once extrapolating)
}
