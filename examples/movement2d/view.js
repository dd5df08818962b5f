// The client half of a movement2d room (movement2d_room.cpp), shared by the pages that play in
// one: examples/movement2d and examples/arena. Your square moves at once (prediction, replayed
// on each snapshot from the last input the server applied); the others are drawn 100 ms in the
// past between two snapshots (interpolation). The room sends replicated state by default
// (room.replicated: bit-packed deltas, README.md "Replicated state"), which the SDK decodes and
// interpolates on server tick time; a room created with {"state": "json"} sends JSON snapshots
// instead (applySnapshot), and the view draws either. The page owns the room, the connection
// and the keyboard; this module owns the picture: the join state, snapshots, inputs and drawing.
import { Predictor, SnapshotInterpolator } from "/sdk/craft.js";

/** The keys that move, and their direction. */
export const KEYS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1],
                      a: [-1, 0], d: [1, 0], w: [0, -1], s: [0, 1], A: [-1, 0], D: [1, 0], W: [0, -1], S: [0, 1] };

/** The direction the held keys (a Set of KEYS names) ask for: dx and dy each -1, 0 or 1. */
export function heldDirection(held) {
  let dx = 0, dy = 0;
  for (const k of held) {
    if (!KEYS[k]) continue;
    dx += KEYS[k][0];
    dy += KEYS[k][1];
  }
  return { dx: Math.sign(dx), dy: Math.sign(dy) };
}
/** The room's input op: uint32 seq (little-endian), int8 dx, int8 dy (movement2d/README.md). */
export const INPUT_OP = 1;

const lerp = (a, b, t) => ({ x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t });

export class MovementView {
  /** canvas: where draw() paints (its 2D context). */
  constructor(canvas) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.setup = null;      // the join state: { world: {w, h}, speed, size, tickRate, state, snapshot }
    this.predictor = null;  // our square
    // Everyone else, by session id: { name, dropped, and where they are: interpolator (JSON
    // snapshots) or net, their entity in room.replicated }.
    this.others = new Map();
    this.selfId = "";
    this.replicated = null;    // room.replicated, when the room replicates its state
    this.unsubscribe = [];
    this.left = new Set();     // session ids that left: not drawn though a snapshot may still hold them
    this.droppedIds = new Set();  // session ids whose drop the page heard of (presence) before a snapshot says so
    /** Snapshots applied since the page loaded: JSON (op 0) and replicated (decoded by the SDK). */
    this.snapshots = { json: 0, replicated: 0 };
    /** Called after each snapshot with every player in it: [{ id, name, dropped }], yours included. */
    this.onPlayers = null;
    this.half = 10;
    this.dt = 1 / 30;
  }

  /** Ticks per second of the room (30 until a join state says otherwise). */
  get tickRate() {
    return this.setup?.tickRate ?? 30;
  }

  /**
   * A join state (decoded room.state): a new picture; nobody from an earlier room or session
   * stays. replicated: the room's room.replicated; read when the join state says the room
   * replicates ("state": "replicated"), else the page passes JSON snapshots to applySnapshot.
   */
  start(joinState, selfId, replicated = null) {
    this.stop();
    this.setup = joinState;
    this.half = (joinState.size ?? 20) / 2;
    this.dt = 1 / joinState.tickRate;
    this.selfId = String(selfId);
    const mine = joinState.snapshot.players.find((p) => p.id === this.selfId);
    const { w, h } = joinState.world;
    this.predictor = new Predictor({ apply: (s, i) => this.step(s, i), initial: { x: mine?.x ?? w / 2, y: mine?.y ?? h / 2 } });
    if (joinState.state === "replicated" && replicated) {
      // The next decoded snapshot is this join's: the view may still hold an earlier session's.
      this.replicated = replicated;
      this.unsubscribe.push(replicated.onSnapshot(() => this.applyReplicated()));
    } else {
      this.applyJson(joinState.snapshot);
    }
  }

  /** Out of the room: nothing to draw. */
  stop() {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.replicated = null;
    this.setup = null;
    this.predictor = null;
    this.others.clear();
    this.left.clear();
    this.droppedIds.clear();
  }

  // The same arithmetic as the room's step(): normalized direction, speed limit, and the whole
  // square kept inside the world.
  step(state, input) {
    const len = Math.hypot(input.dx, input.dy);
    if (len === 0) return state;
    const x = state.x + (input.dx / len) * this.setup.speed * this.dt;
    const y = state.y + (input.dy / len) * this.setup.speed * this.dt;
    const { w, h } = this.setup.world;
    const half = this.half;
    return { x: Math.min(w - half, Math.max(half, x)), y: Math.min(h - half, Math.max(half, y)) };
  }

  /**
   * A JSON snapshot ({t, players: [{id, name, x, y, seq, dropped}]}, a room with {"state":
   * "json"}): ours reconciles the prediction, the others are interpolated; a player not in it
   * is gone. isDropped: ids the page knows to be reconnecting (presence "drop") before a
   * snapshot says so (markDropped does the same). selfId: kept for callers; start() set it.
   */
  applySnapshot(snap, selfId, isDropped = () => false) {
    if (!this.predictor) return;
    this.snapshots.json++;
    this.applyJson(snap, isDropped);
  }

  applyJson(snap, isDropped = () => false) {
    const seen = new Set();
    for (const p of snap.players) {
      seen.add(p.id);
      if (p.id === this.selfId) {
        this.predictor.reconcile({ x: p.x, y: p.y }, p.seq);
        continue;
      }
      if (this.left.has(p.id)) continue;
      let o = this.others.get(p.id);
      if (!o) this.others.set(p.id, (o = { name: p.name, interpolator: new SnapshotInterpolator({ delayMs: 100, lerp }) }));
      o.dropped = !!p.dropped || isDropped(p.id) || this.droppedIds.has(p.id);
      o.interpolator.push(snap.t, { x: p.x, y: p.y });
    }
    this.settle(seen, snap.players.map((p) => ({ id: p.id, name: p.name, dropped: !!p.dropped })));
  }

  /**
   * The SDK decoded a snapshot into room.replicated (newest view): every player is an entity
   * with "pos" {x, y} and "player" {id, seq, dropped, name}. Ours reconciles the prediction
   * from (pos, seq); the others are drawn from replicated.interpolated() (server tick time).
   */
  applyReplicated() {
    if (!this.predictor || !this.replicated) return;
    this.snapshots.replicated++;
    const seen = new Set();
    const players = [];
    for (const e of this.replicated.entities.values()) {
      const p = e.player;
      if (!p || !e.pos) continue;
      const id = String(p.id);
      seen.add(id);
      players.push({ id, name: p.name, dropped: p.dropped });
      if (id === this.selfId) {
        this.predictor.reconcile({ x: e.pos.x, y: e.pos.y }, p.seq);
        continue;
      }
      if (this.left.has(id)) continue;
      let o = this.others.get(id);
      if (!o) this.others.set(id, (o = {}));
      o.name = p.name;
      o.net = e.id;
      o.dropped = p.dropped || this.droppedIds.has(id);
    }
    this.settle(seen, players);
  }

  // After a snapshot: players not in it are gone; a leaver stays hidden until no snapshot has it.
  settle(seen, players) {
    for (const id of this.others.keys()) if (!seen.has(id)) this.others.delete(id);
    for (const id of this.left) if (!seen.has(id)) this.left.delete(id);
    if (this.onPlayers) this.onPlayers(players.filter((p) => !this.left.has(p.id)));
  }

  /** A player left: gone now, not at the next snapshot. */
  forget(id) {
    this.others.delete(id);
    this.droppedIds.delete(id);
    // A replicated view drops the entity with the next snapshot; until then it is not drawn.
    if (this.replicated) this.left.add(id);
  }
  /** A player's connection dropped (true) or came back (false). */
  markDropped(id, dropped) {
    if (dropped) this.droppedIds.add(id);
    else this.droppedIds.delete(id);
    const o = this.others.get(id);
    if (o) o.dropped = dropped;
  }

  /**
   * One tick of input from the held keys (a Set of KEYS names): applied now (prediction) and
   * returned as the bytes to send on INPUT_OP; null when no key moves the square.
   */
  input(held) {
    if (!this.predictor) return null;
    const { dx, dy } = heldDirection(held);
    if (dx === 0 && dy === 0) return null;
    const { seq } = this.predictor.applyLocal({ dx, dy });
    const bytes = new Uint8Array(6);
    new DataView(bytes.buffer).setUint32(0, seq, true);
    bytes[4] = dx & 0xff;
    bytes[5] = dy & 0xff;
    return bytes;
  }

  /**
   * Where each other player is drawn now: session id -> {x, y}. now: the server's clock
   * (client.serverNow()) for JSON snapshots; replicated state keeps its own clock from the
   * snapshots' ticks (ReplicatedState.interpolated()).
   */
  othersAt(now) {
    const out = new Map();
    let frame = null;
    for (const [id, o] of this.others) {
      let p;
      if (o.interpolator) {
        p = o.interpolator.sample(now);
      } else {
        frame ??= this.replicated?.interpolated().entities;
        const pos = frame?.get(o.net)?.pos;
        if (pos) p = { x: pos.x, y: pos.y };
      }
      if (p) out.set(id, p);
    }
    return out;
  }

  /** Where each player is drawn now (now: the server's clock, client.serverNow()): id -> {x, y}. */
  positions(selfId, now) {
    const out = {};
    if (this.predictor) out[selfId] = this.predictor.state();
    for (const [id, p] of this.othersAt(now)) out[id] = p;
    return out;
  }

  /**
   * Paints a frame. live: our connection is up (else everything is grey: the picture is no
   * longer live); you: the label of our square, or null to draw no square of ours.
   */
  draw(now, { live = true, you = null } = {}) {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "12px system-ui";
    if (!this.setup) return;
    for (const [id, p] of this.othersAt(now)) {
      const o = this.others.get(id);
      // Grey: that player's connection dropped, or ours did.
      this.square(p, o.dropped || !live ? "#b8bec6" : "#d9534f", o.dropped ? `${o.name} (reconnecting…)` : o.name);
    }
    if (you !== null && this.predictor) this.square(this.predictor.state(), live ? "#2f6fb3" : "#b8bec6", you);
  }

  square(p, color, label) {
    const { ctx, canvas, half } = this;
    ctx.fillStyle = color;
    ctx.fillRect(p.x - half, p.y - half, 2 * half, 2 * half);
    ctx.fillStyle = "#333";
    ctx.textAlign = "center";
    const above = p.y - half - 4;
    ctx.fillText(label, Math.min(Math.max(p.x, 40), canvas.width - 40), above > 12 ? above : p.y + half + 13);
  }
}
