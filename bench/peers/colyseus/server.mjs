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
// - every entity (player or bot) is {x, y, heading} in a MapSchema keyed by a short id (the
//   schemas are in scene.mjs);
//   typing "f32" (default): x, y float32 and heading uint8 (256 steps a turn) — the smallest
//   honest Colyseus typing for "positions as two floats plus a heading": Colyseus has no
//   quantized float type, float32 is its smallest float, and an angle fits one byte;
//   typing "q16": x, y as uint16 fixed point (1/64 px), an option to show what hand quantization
//   would buy a Colyseus developer (not the scene).
// - simulation at 20 Hz (setTimestep(cb, 50)), patches at 20 Hz (patchRate = 50);
// - every entity random-walks (step() in scene.mjs): bots draw their turn on the server, players
//   send theirs as the input (20 Hz, a msgpack'd [turn] message, type 0); the last input
//   received is the player's turn on the next ticks;
// - radius > 0: interest management with Colyseus' StateView: the entity map is tagged
//   .view(), every client has its own StateView, and each tick every entity within `radius` of
//   the client's own player is view.add()ed and every one outside view.remove()d.
import http from "node:http";
import readline from "node:readline";
import { Server, Room } from "@colyseus/core";
import { WebSocketTransport } from "@colyseus/ws-transport";
import { StateView } from "@colyseus/schema";
import { stateTypes, newEntity, step, write, randomTurn, updateView, TURN_MAX, TICK_MS } from "./scene.mjs";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const totals = { rooms: 0, clients: 0, ticks: 0, patches: 0, entities: 0, tickCpuUs: 0 };

class SceneRoom extends Room {
  onCreate(options) {
    const o = options || {};
    this.bots = Math.max(0, Math.min(1000, Number(o.bots) | 0));
    this.radius = Math.max(0, Number(o.radius) || 0);
    this.maxClients = Math.max(1, Math.min(100, Number(o.players) | 0 || 10));
    // Thousands of clients join at once on a busy 2-core machine: the default 15 s seat
    // reservation expires before some of them open their WebSocket. Only joining is affected.
    this.seatReservationTimeout = 120;
    const { Entity, State, q16 } = stateTypes(o.typing, this.radius > 0);
    this.Entity = Entity;
    this.q16 = q16;
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
    const s = newEntity((this.nextId++).toString(36), this.Entity, this.q16, client);
    this.state.entities.set(s.id, s.e);
    this.sim.set(s.id, s);
    totals.entities++;
    return s;
  }

  tick() {
    const t0 = process.hrtime.bigint();
    for (const s of this.sim.values()) {
      if (!s.client) s.turn = randomTurn();
      step(s, TICK_MS / 1000);
      write(s, this.q16);
    }
    if (this.radius > 0) this.updateInterest();
    totals.ticks++;
    totals.tickCpuUs += Number(process.hrtime.bigint() - t0) / 1000;
  }

  updateInterest() {
    for (const client of this.clients) {
      if (client.userData && client.view) updateView(client.view, client.userData, this.sim.values(), this.radius);
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
