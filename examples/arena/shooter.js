// The client half of an `arena` shooter room (arena_room.cpp; wire format in README.md): what
// the page knows about the game, without the page's DOM. Others come from the room's replicated
// state, drawn interpolated at the SDK's render tick; your player is predicted (the SDK's
// Predictor, replayed on top of each snapshot from the replicated last_input); shots carry the
// render tick so the server tests them against what you saw (lag compensation).
import { Predictor } from "/sdk/craft.js";
import { KEYS, heldDirection } from "/movement2d/view.js";

/** Client -> server: 20 bytes, README "Wire format". */
export const INPUT_OP = 1;
/** Server -> client: one JSON event (kill, hit, round). */
export const EVENT_OP = 2;
export const INPUT_BYTES = 20;
const FIRE_BIT = 1;

/** The keys that move, and their direction: movement2d's. */
export { KEYS };

/** op 1: u32 seq, i8 dx, i8 dy, u8 buttons, u8 reserved, f32 aim, f64 render_tick (little-endian). */
export function encodeInput({ seq, dx, dy, fire, aim, renderTick }) {
  const bytes = new Uint8Array(INPUT_BYTES);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, seq >>> 0, true);
  v.setInt8(4, dx);
  v.setInt8(5, dy);
  v.setUint8(6, fire ? FIRE_BIT : 0);
  v.setUint8(7, 0);
  v.setFloat32(8, Number.isFinite(aim) ? aim : 0, true);
  v.setFloat64(12, Number.isFinite(renderTick) ? renderTick : 0, true);
  return bytes;
}

// The room's rules the page needs to predict and draw: the join state carries them; these
// are the room's values (arena_rules.hpp, README "Rules") for a join state without them.
const RULES = { speed: 220, radius: 16, range: 1000, fireIntervalTicks: 8 };

/** The first point where the ray from (x, y) along (dx, dy) enters the rectangle [rx, ry, rw, rh], as a distance; Infinity if none (slab test). */
export function rayRect(x, y, dx, dy, [rx, ry, rw, rh]) {
  let near = 0, far = Infinity;
  for (const [o, d, lo, hi] of [[x, dx, rx, rx + rw], [y, dy, ry, ry + rh]]) {
    if (Math.abs(d) < 1e-12) {
      if (o < lo || o > hi) return Infinity;
      continue;
    }
    let t1 = (lo - o) / d, t2 = (hi - o) / d;
    if (t1 > t2) [t1, t2] = [t2, t1];
    near = Math.max(near, t1);
    far = Math.min(far, t2);
    if (near > far) return Infinity;
  }
  return near;
}

/** Distance along the ray (unit dx, dy) to a circle, Infinity if it misses. */
export function rayCircle(x, y, dx, dy, cx, cy, r) {
  const fx = cx - x, fy = cy - y;
  const along = fx * dx + fy * dy;
  const d2 = fx * fx + fy * fy - along * along;
  if (along < 0 || d2 > r * r) return Infinity;
  return Math.max(0, along - Math.sqrt(r * r - d2));
}

/** Is the segment a-b clear of every wall? */
export function lineOfSight(walls, a, b) {
  const len = Math.hypot(b.x - a.x, b.y - a.y);
  if (len === 0) return true;
  const dx = (b.x - a.x) / len, dy = (b.y - a.y) / len;
  return walls.every((w) => rayRect(a.x, a.y, dx, dy, w) >= len);
}

// Entities are keyed by network id; the room names players by their own id (the "player.id"
// field: join state "you", events), so the page keys everything by that.
const player = (e) => e?.player;
const sortScores = (rows) => rows.sort((a, b) => b.kills - a.kills || a.deaths - b.deaths || String(a.name).localeCompare(String(b.name)) || a.id - b.id);

export class ShooterGame {
  /**
   * room: the SDK room (its replicated state is the game); joinState: the decoded join state
   * ({ you, world, walls, tickRate, round, ... }). now: the page's clock in ms (performance.now).
   */
  constructor(room, joinState, { now = () => performance.now() } = {}) {
    this.room = room;
    this.state = room.replicated;
    this.now = now;
    this.killFeed = [];     // [{ killer, victim, killerName, victimName, tick, at }], oldest first
    this.hits = [];         // hit events seen (ours, and shots at us): [{ shooter, target, tick, hp }]
    this.tracers = [];      // [{ x1, y1, x2, y2, at, mine }]
    this.shotsFired = 0;    // fire inputs sent while the local cooldown allowed a shot
    this.shotEvents = 0;    // "shot" events of others drawn as tracers
    this.shotsConfirmed = 0;  // "shot" events of ours: the shots the room fired
    this.roundOver = null;  // the "over" event's scores while the round-over overlay shows
    this.scores = new Map();  // id -> { id, name, kills, deaths, bot, inView }: see scoreboard()
    this.listeners = { kill: [], hit: [], round: [] };
    this.entityOf = new Map();  // player id -> network id, from the newest view
    this.state.configure({ interpolation: { "player.aim": "wrap" } });
    this.start(joinState);
    this.unsubscribe = [
      this.state.onSnapshot(() => this.onSnapshot()),
      room.onMessage(EVENT_OP, (data) => this.onEvent(data)),
    ];
  }

  /** A (new) join state: a new session for this room, so a new predictor and picture. */
  start(js) {
    this.you = Number(js.you);
    this.world = { w: Number(js.world?.w) || 1600, h: Number(js.world?.h) || 1200 };
    this.walls = Array.isArray(js.walls) ? js.walls.filter((w) => Array.isArray(w) && w.length === 4 && w.every(Number.isFinite)) : [];
    this.tickRate = Number(js.tickRate) || 30;
    this.rules = { ...RULES };
    for (const k of Object.keys(RULES)) if (Number.isFinite(js[k])) this.rules[k] = js[k];
    this.round = { phase: "playing", endsAtTick: 0, round: 1, ...(js.round ?? {}) };
    this.roundOver = this.round.phase === "over" ? { scores: [] } : null;
    this.predictor = null;
    this.inputs = 0;         // inputs sent this session: the room applies one a tick
    this.correction = 0;     // the largest jump a reconcile gave our predicted position
    this.wasAlive = false;
    this.nextShot = 0;       // the input count from which the room lets us fire again
    this.onSnapshot();
  }

  dispose() {
    for (const f of this.unsubscribe) f();
  }

  /** Our player in the newest view. */
  self() {
    return player(this.state.entities.get(this.entityOf.get(this.you)));
  }
  get alive() {
    return !!this.self()?.alive;
  }

  onSnapshot() {
    this.entityOf.clear();
    for (const [id, e] of this.state.entities) if (player(e)) this.entityOf.set(player(e).id, id);
    const me = this.self();
    if (me) {
      const at = { x: me.pos.x, y: me.pos.y };
      // One predictor per session: its seqs must keep increasing across deaths (the room
      // ignores an input seq it has passed). Dead, we send nothing; the respawn is a reconcile.
      if (!this.predictor) this.predictor = new Predictor({ apply: (s, i) => this.step(s, i), initial: at });
      const before = this.predictor.state();
      const after = this.predictor.reconcile(at, me.last_input);
      // How far a snapshot moved our predicted circle: 0 while the prediction is right (a
      // respawn is a jump, not an error).
      if (before && me.alive && this.wasAlive) this.correction = Math.max(this.correction, Math.hypot(after.x - before.x, after.y - before.y));
      this.wasAlive = me.alive;
    }
    for (const row of this.scores.values()) row.inView = false;
    for (const e of this.state.entities.values()) {
      const p = player(e);
      if (p) this.scores.set(p.id, { id: p.id, name: p.name, kills: p.kills, deaths: p.deaths, bot: !!p.bot, inView: true });
    }
  }

  // The room's movement for one input (arena_rules.cpp step() and collide()): normalized
  // direction at the speed limit for one tick, the circle kept inside the world, then pushed
  // out of each wall in turn. Must match the room's, or every snapshot corrects the prediction.
  step(s, { dx, dy }) {
    const len = Math.hypot(dx, dy);
    if (len === 0) return s;
    const d = (this.rules.speed / this.tickRate) / len;
    const r = this.rules.radius;
    let x = Math.min(this.world.w - r, Math.max(r, s.x + dx * d));
    let y = Math.min(this.world.h - r, Math.max(r, s.y + dy * d));
    for (const [wx, wy, ww, wh] of this.walls) {
      // Push the circle out of the wall along the shortest way.
      const cx = Math.min(Math.max(x, wx), wx + ww), cy = Math.min(Math.max(y, wy), wy + wh);
      const ox = x - cx, oy = y - cy, dist = Math.hypot(ox, oy);
      if (dist >= r) continue;
      if (dist > 0) {
        x = cx + (ox / dist) * r;
        y = cy + (oy / dist) * r;
      } else {
        // The centre is inside: out through the nearest side.
        const exits = [[x - wx, -1, 0], [wx + ww - x, 1, 0], [y - wy, 0, -1], [wy + wh - y, 0, 1]].sort((a, b) => a[0] - b[0]);
        const [, ex, ey] = exits[0];
        if (ex) x = ex < 0 ? wx - r : wx + ww + r;
        else y = ey < 0 ? wy - r : wy + wh + r;
      }
    }
    return { x, y };
  }

  /**
   * One tick of input: held movement keys (a Set of KEYS names), the fire button, the aim
   * (radians). Applied now (prediction) and returned as op 1's bytes; null while dead or
   * before our entity arrived.
   */
  input(held, fire, aim) {
    // Dead, the room acknowledges inputs without playing them: send none.
    if (!this.predictor || !this.alive) return null;
    const { dx, dy } = heldDirection(held);
    const { seq, state } = this.predictor.applyLocal({ dx, dy });
    const renderTick = this.state.renderTick() ?? this.state.tick;
    // The room fires at most once per fireIntervalTicks of its ticks, one input a tick: the
    // same count over our inputs says when our shot is a shot (for the tracer).
    if (fire && this.round.phase === "playing" && this.inputs >= this.nextShot) {
      this.nextShot = this.inputs + this.rules.fireIntervalTicks;
      this.shotsFired++;
      this.localTracer(state, aim);
    }
    this.inputs++;
    return encodeInput({ seq, dx, dy, fire, aim, renderTick });
  }

  // Our shot at once, as we see it: from us along the aim to the first wall or player drawn,
  // or the range. The server decides the hit (the "hit" event).
  localTracer(from, aim) {
    const dx = Math.cos(aim), dy = Math.sin(aim);
    let end = this.rules.range;
    for (const w of this.walls) end = Math.min(end, rayRect(from.x, from.y, dx, dy, w));
    // The world's edge stops a shot too.
    if (dx > 0) end = Math.min(end, (this.world.w - from.x) / dx);
    if (dx < 0) end = Math.min(end, -from.x / dx);
    if (dy > 0) end = Math.min(end, (this.world.h - from.y) / dy);
    if (dy < 0) end = Math.min(end, -from.y / dy);
    for (const [id, p] of Object.entries(this.positions())) {
      if (Number(id) !== this.you && p.alive) end = Math.min(end, rayCircle(from.x, from.y, dx, dy, p.x, p.y, this.rules.radius));
    }
    this.tracers.push({ x1: from.x, y1: from.y, x2: from.x + dx * end, y2: from.y + dy * end, at: this.now(), mine: true });
  }

  /** Every player as drawn now: the others interpolated at the render tick, us predicted. player id -> { x, y, aim, hp, alive, name, bot, kills, deaths }. */
  positions(nowMs = this.now()) {
    const out = {};
    for (const e of this.state.interpolated(nowMs).entities.values()) {
      const p = player(e);
      if (p) out[p.id] = { x: p.pos.x, y: p.pos.y, aim: p.aim, hp: p.hp, alive: !!p.alive, name: p.name, bot: !!p.bot, kills: p.kills, deaths: p.deaths };
    }
    const me = this.self();
    if (me) {
      const at = this.predictor?.state() ?? me.pos;
      out[this.you] = { x: at.x, y: at.y, aim: me.aim, hp: me.hp, alive: !!me.alive, name: me.name, bot: false, kills: me.kills, deaths: me.deaths };
    }
    return out;
  }

  /**
   * The scoreboard, best first: every player in view with its replicated kills and deaths; a
   * player out of our interest keeps its last values plus the kills the feed reported since
   * (inView false); the round's final scores replace everything.
   */
  scoreboard() {
    return sortScores([...this.scores.values()].map((r) => ({ ...r })));
  }

  /** Seconds until the round ends (playing) or the next one starts (over), as drawn. */
  secondsLeft() {
    // Over: the "over" event says nextAtTick; a join state during the pause says endsAtTick.
    const end = this.round.phase === "playing" ? this.round.endsAtTick : this.round.nextAtTick ?? this.round.endsAtTick;
    if (!Number.isFinite(end) || !end) return 0;
    const t = this.state.renderTick() ?? this.state.tick;
    return Math.max(0, (end - t) / this.tickRate);
  }

  on(event, f) {
    this.listeners[event].push(f);
  }

  // op 2 events: JSON from the room; anything malformed is ignored (never trusted to be whole).
  onEvent(data) {
    let ev;
    try {
      ev = JSON.parse(new TextDecoder().decode(data));
    } catch {
      return;
    }
    if (!ev || typeof ev !== "object") return;
    const at = this.now();
    if (ev.t === "kill") {
      const k = { killer: Number(ev.killer), victim: Number(ev.victim), killerName: String(ev.killerName ?? ""), victimName: String(ev.victimName ?? ""), tick: Number(ev.tick), at };
      this.killFeed.push(k);
      if (this.killFeed.length > 100) this.killFeed.shift();
      // Out of view, the snapshots say nothing: count it here until they do again.
      const killer = this.scores.get(k.killer), victim = this.scores.get(k.victim);
      if (killer && !killer.inView) killer.kills++;
      if (victim && !victim.inView) victim.deaths++;
      for (const f of this.listeners.kill) f(k);
    } else if (ev.t === "shot") {
      // Another player's shot near us, as the server tested it: a tracer. Ours was drawn
      // when we fired.
      const xy = (v) => (Array.isArray(v) && v.length === 2 && v.every(Number.isFinite) ? v : null);
      const from = xy(ev.from), to = xy(ev.to);
      if (Number(ev.shooter) === this.you) {
        this.shotsConfirmed++;
      } else if (from && to) {
        this.shotEvents++;
        this.tracers.push({ x1: from[0], y1: from[1], x2: to[0], y2: to[1], at, mine: false });
      }
    } else if (ev.t === "hit") {
      const h = { shooter: Number(ev.shooter), target: Number(ev.target), tick: Number(ev.tick), hp: Number(ev.hp), at };
      this.hits.push(h);
      if (this.hits.length > 100) this.hits.shift();
      for (const f of this.listeners.hit) f(h);
    } else if (ev.t === "round") {
      const { t, scores: _, ...round } = ev;
      if (round.phase === "over") {
        const scores = Array.isArray(ev.scores) ? ev.scores.filter((s) => s && typeof s === "object") : [];
        this.roundOver = { round: round.round ?? this.round.round, scores: sortScores(scores.map((s) => ({ id: Number(s.id), name: String(s.name ?? ""), kills: Number(s.kills) || 0, deaths: Number(s.deaths) || 0, bot: !!s.bot }))) };
        this.scores = new Map(this.roundOver.scores.map((s) => [s.id, { ...s, inView: this.entityOf.has(s.id) }]));
        this.round = { ...this.round, ...round };
      } else if (round.phase === "playing") {
        this.round = { ...this.round, ...round };
        this.roundOver = null;
        for (const row of this.scores.values()) if (!row.inView) row.kills = row.deaths = 0;
      }
      for (const f of this.listeners.round) f(this.round, this.roundOver);
    }
  }
}
