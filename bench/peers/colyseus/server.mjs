// The issue-13 scene on Colyseus' schema state sync: the peer craft is measured against.
//
// Started, measured and stopped by bench/run-scene (never by hand in CI). Loopback only.
//
//   node server.mjs [--host 127.0.0.1] [--port 0]
//
// Prints one line `listening <port>` on stdout once the port is open. It then reads commands,
// one a line, on stdin and answers each with one JSON line on stdout:
//   stats   -> {"pid", "rooms", "clients", "ticks", "patches", "entities", "tickCpuUs"}
//              ticks = simulation ticks run so far, summed over rooms (monotonic, never reset);
//              patches = patch-rate ticks (state broadcasts), summed over rooms;
//              tickCpuUs = wall time spent inside the simulation callback (µs), summed.
// EOF on stdin (the harness died) or SIGTERM stops the server.
//
// The room type is "scene", created with options
//   { bots: 0|90, radius: 0|R, players: 10, typing: "f32"|"q16" }
// - every entity (player or bot) is {x, y, heading} in a MapSchema keyed by a short id;
//   typing "f32" (default): x, y float32 and heading uint8 (256 steps a turn) — the smallest
//   honest Colyseus typing for "positions as two floats plus a heading": Colyseus has no
//   quantized float type, float32 is its smallest float, and an angle fits one byte;
//   typing "q16": x, y as uint16 fixed point (1/64 px), an option to show what hand quantization
//   would buy a Colyseus developer (not the scene).
// - simulation at 20 Hz (setTimestep(cb, 50)), patches at 20 Hz (patchRate = 50);
// - every entity random-walks (see step() below): bots draw their turn on the server, players
//   send theirs as the input (20 Hz, a msgpack'd [turn] message, type 0); the last input
//   received is the player's turn on the next ticks;
// - radius > 0: interest management with Colyseus' StateView: the entity map is tagged
//   .view(), every client has its own StateView, and each tick every entity within `radius` of
//   the client's own player is view.add()ed and every one outside view.remove()d.
import http from "node:http";
import readline from "node:readline";
import { Server, Room } from "@colyseus/core";
import { WebSocketTransport } from "@colyseus/ws-transport";
import { schema, t, StateView } from "@colyseus/schema";

export const ARENA_W = 800;
export const ARENA_H = 600;
export const SPEED = 100; // px/s
export const TICK_MS = 50; // 20 Hz

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// Two typings of the same entity; the state's map field with and without the .view() tag.
const EntityF32 = schema({ x: t.float32(), y: t.float32(), heading: t.uint8() }, "EntityF32");
const EntityQ16 = schema({ x: t.uint16(), y: t.uint16(), heading: t.uint8() }, "EntityQ16");
const StateF32 = schema({ entities: t.map(EntityF32) }, "StateF32");
const StateF32View = schema({ entities: t.map(EntityF32).view() }, "StateF32View");
const StateQ16 = schema({ entities: t.map(EntityQ16) }, "StateQ16");
const StateQ16View = schema({ entities: t.map(EntityQ16).view() }, "StateQ16View");
const Q16 = 64; // q16: 1/64 px

const totals = { rooms: 0, clients: 0, ticks: 0, patches: 0, entities: 0, tickCpuUs: 0 };

// The random walk: every tick the heading (256 steps a turn) turns by a uniform integer in
// [-TURN_MAX, TURN_MAX]; bots draw it here, players send it as their input.
export const TURN_MAX = 10;
export function randomTurn() {
  return Math.floor(Math.random() * (2 * TURN_MAX + 1)) - TURN_MAX;
}

// One tick of movement, the same for bots and players: turn, step SPEED * dt along the heading,
// and bounce off the walls (the heading is mirrored), so every entity keeps moving instead of
// sliding along a wall or sitting in a corner.
export function step(s, dt) {
  let h = (s.h + s.turn + 256) & 255;
  const d = SPEED * dt;
  const a = h * (2 * Math.PI / 256);
  let x = s.x + Math.cos(a) * d;
  let y = s.y + Math.sin(a) * d;
  if (x < 0 || x > ARENA_W) { h = (128 - h + 256) & 255; x = x < 0 ? -x : 2 * ARENA_W - x; }
  if (y < 0 || y > ARENA_H) { h = (256 - h) & 255; y = y < 0 ? -y : 2 * ARENA_H - y; }
  s.h = h;
  s.x = x;
  s.y = y;
}

class SceneRoom extends Room {
  onCreate(options) {
    const o = options || {};
    this.bots = Math.max(0, Math.min(1000, Number(o.bots) | 0));
    this.radius = Math.max(0, Number(o.radius) || 0);
    this.q16 = o.typing === "q16";
    this.maxClients = Math.max(1, Math.min(100, Number(o.players) | 0 || 10));
    // Thousands of clients join at once on a busy 2-core machine: the default 15 s seat
    // reservation expires before some of them open their WebSocket. Only joining is affected.
    this.seatReservationTimeout = 120;
    const filtered = this.radius > 0;
    const State = this.q16 ? (filtered ? StateQ16View : StateQ16) : (filtered ? StateF32View : StateF32);
    this.Entity = this.q16 ? EntityQ16 : EntityF32;
    this.state = new State();
    this.sim = new Map(); // id -> {x, y, h, e (schema instance), client}
    this.nextId = 0;
    for (let i = 0; i < this.bots; i++) this.spawn(null);
    this.onMessage(0, (client, msg) => {
      // Hostile input: accept only [turn] with a number, clamped to a step of the walk.
      const s = client.userData;
      if (!s || !Array.isArray(msg) || typeof msg[0] !== "number" || !Number.isFinite(msg[0])) return;
      s.turn = Math.max(-TURN_MAX, Math.min(TURN_MAX, Math.trunc(msg[0])));
    });
    totals.rooms++;
    this.setTimestep(() => this.tick(), TICK_MS);
    this.patchRate = TICK_MS;
    // Count broadcasts: wrap the room's own patch step.
    const broadcast = this.broadcastPatch.bind(this);
    this.broadcastPatch = () => { totals.patches++; return broadcast(); };
  }

  spawn(client) {
    const id = (this.nextId++).toString(36);
    const s = { id, x: Math.random() * ARENA_W, y: Math.random() * ARENA_H, h: (Math.random() * 256) | 0, turn: 0, e: new this.Entity(), client };
    this.write(s);
    this.state.entities.set(id, s.e);
    this.sim.set(id, s);
    totals.entities++;
    return s;
  }

  write(s) {
    if (this.q16) {
      s.e.x = Math.round(s.x * Q16) & 0xffff;
      s.e.y = Math.round(s.y * Q16) & 0xffff;
    } else {
      s.e.x = s.x;
      s.e.y = s.y;
    }
    s.e.heading = s.h;
  }

  tick() {
    const t0 = process.hrtime.bigint();
    for (const s of this.sim.values()) {
      if (!s.client) s.turn = randomTurn();
      step(s, TICK_MS / 1000);
      this.write(s);
    }
    if (this.radius > 0) this.updateInterest();
    totals.ticks++;
    totals.tickCpuUs += Number(process.hrtime.bigint() - t0) / 1000;
  }

  updateInterest() {
    const r2 = this.radius * this.radius;
    for (const client of this.clients) {
      const me = client.userData;
      const view = client.view;
      if (!me || !view) continue;
      for (const s of this.sim.values()) {
        const dx = s.x - me.x, dy = s.y - me.y;
        const inside = dx * dx + dy * dy <= r2;
        const has = view.has(s.e);
        if (inside && !has) view.add(s.e);
        else if (!inside && has) view.remove(s.e);
      }
    }
  }

  onJoin(client) {
    client.userData = this.spawn(client);
    if (this.radius > 0) {
      client.view = new StateView();
      this.updateInterest();
    }
    totals.clients++;
  }

  onLeave(client) {
    const s = client.userData;
    if (s) {
      this.state.entities.delete(s.id);
      this.sim.delete(s.id);
      totals.entities--;
    }
    totals.clients--;
  }

  onDispose() {
    totals.entities -= this.sim.size;
    totals.rooms--;
  }
}

async function main() {
  const host = arg("host", "127.0.0.1");
  const port = Number(arg("port", "0"));
  const httpServer = http.createServer();
  const server = new Server({
    greet: false,
    gracefullyShutdown: false,
    transport: new WebSocketTransport({ server: httpServer }),
  });
  server.define("scene", SceneRoom);
  await server.listen(port, host);
  process.stdout.write(`listening ${httpServer.address().port}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 2000).unref();
    try { await server.gracefullyShutdown(false); } catch { /* exiting anyway */ }
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  const rl = readline.createInterface({ input: process.stdin });
  rl.on("line", (line) => {
    if (line.trim() === "stats") {
      process.stdout.write(JSON.stringify({ pid: process.pid, ...totals }) + "\n");
    }
  });
  rl.on("close", stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
