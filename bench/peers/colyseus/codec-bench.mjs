// The issue-13 scene's state sync on Colyseus' schema alone, no sockets, one thread: what the
// room's patch step (SchemaSerializer.applyPatches in @colyseus/core 0.18) and the SDK's decode
// cost per tick, measured in a tight loop so the machine's neighbours matter less than in
// bench/run-scene. Prints one JSON line.
//
//   node codec-bench.mjs [--rooms 20] [--ticks 400] [--players 10] [--bots 0] [--radius 0] [--typing f32]
//
// Per room: the state and its Encoder, one Reflection-built Decoder per client (as the SDK
// builds it from the join handshake), a StateView per client when --radius > 0. Every tick:
//   sim     every entity takes a random-walk step (players with a random turn as if it were
//           their input), and with a radius every client's view is updated (scene.mjs);
//   encode  the patch as applyPatches makes it: encode() once, then with views encodeView() per
//           client (each a new buffer), then discardChanges();
//   decode  every client decodes its patch with decoder.decode(), as the SDK's patch() does.
// Reported per room tick (sim, encode), per update (decode, bytes: one client's patch, without
// the WebSocket frame), with process.cpuUsage() (user + system) around each phase.
import { readFileSync } from "node:fs";
import { Encoder, Reflection, StateView } from "@colyseus/schema";
import { stateTypes, newEntity, step, write, randomTurn, updateView, TICK_MS } from "./scene.mjs";

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}
const rooms = Number(arg("rooms", "20"));
const ticks = Number(arg("ticks", "400"));
const players = Number(arg("players", "10"));
const bots = Number(arg("bots", "0"));
const radius = Number(arg("radius", "0"));
const typing = arg("typing", "f32");
const filtered = radius > 0;
const WARMUP_TICKS = 100;

function makeRoom() {
  const { Entity, State, q16 } = stateTypes(typing, filtered);
  const state = new State();
  const encoder = new Encoder(state);
  const sim = [];
  let next = 0;
  for (let i = 0; i < bots; i++) sim.push(newEntity((next++).toString(36), Entity, q16));
  const clients = [];
  for (let i = 0; i < players; i++) {
    const me = newEntity((next++).toString(36), Entity, q16, true);
    sim.push(me);
    clients.push({ me, view: filtered ? new StateView() : null, decoder: null });
  }
  for (const s of sim) state.entities.set(s.id, s.e);
  for (const c of clients) if (c.view) updateView(c.view, c.me, sim, radius);
  // Join: the handshake (schema reflection) and the full state, as the SDK receives them.
  const handshake = Reflection.encode(encoder);
  const it = { offset: 0 };
  encoder.encodeAll(it);
  const sharedOffset = it.offset;
  for (const c of clients) {
    c.decoder = Reflection.decode(handshake);
    const full = c.view ? encoder.encodeAllView(c.view, sharedOffset, { offset: sharedOffset }) : encoder.encodeAll({ offset: 0 });
    c.decoder.decode(full, { offset: 0 });
  }
  encoder.discardChanges();
  return { encoder, sim, clients, q16 };
}

const all = Array.from({ length: rooms }, makeRoom);
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
const totals = { simUs: 0, encodeUs: 0, decodeUs: 0, bytes: 0, updates: 0, roomTicks: 0, visible: 0 };

for (let tick = 0; tick < WARMUP_TICKS + ticks; tick++) {
  const measure = tick >= WARMUP_TICKS;
  for (const room of all) {
    const t0 = cpu();
    for (const s of room.sim) {
      s.turn = randomTurn();
      step(s, TICK_MS / 1000);
      write(s, room.q16);
    }
    if (filtered) for (const c of room.clients) updateView(c.view, c.me, room.sim, radius);
    const t1 = cpu();
    const it = { offset: 1 };
    room.encoder.sharedBuffer[0] = 15; // Protocol.ROOM_STATE_PATCH's byte, as applyPatches writes it
    const shared = room.encoder.encode(it);
    const sharedOffset = it.offset;
    const patches = filtered
      ? room.clients.map((c) => room.encoder.encodeView(c.view, sharedOffset, it))
      : room.clients.map(() => shared);
    room.encoder.discardChanges();
    const t2 = cpu();
    for (let i = 0; i < room.clients.length; i++) room.clients[i].decoder.decode(patches[i], { offset: 1 });
    const t3 = cpu();
    if (measure) {
      totals.simUs += t1 - t0;
      totals.encodeUs += t2 - t1;
      totals.decodeUs += t3 - t2;
      totals.roomTicks++;
      totals.updates += room.clients.length;
      for (const p of patches) totals.bytes += p.byteLength;
      for (const c of room.clients) totals.visible += c.decoder.state.entities.size;
    }
  }
}

// The decoded state must be the server's: every client holds exactly its view's entities, at
// the positions the server has (float32 rounding aside).
for (const room of all) {
  for (const c of room.clients) {
    const got = c.decoder.state.entities;
    const want = filtered ? room.sim.filter((s) => c.view.has(s.e)) : room.sim;
    if (got.size !== want.length) throw new Error(`client holds ${got.size} entities, server view ${want.length}`);
    for (const s of want) {
      const e = got.get(s.id);
      // the server's instance keeps the float64 it was given; the wire carries float32
      const x = room.q16 ? s.e.x : Math.fround(s.e.x), y = room.q16 ? s.e.y : Math.fround(s.e.y);
      if (!e || e.x !== x || e.y !== y || e.heading !== s.e.heading) throw new Error(`entity ${s.id} differs: ${JSON.stringify(e && e.toJSON())} vs ${x},${y},${s.e.heading}`);
    }
  }
}

const out = {
  typing, rooms, players, bots, radius, ticks,
  simUsPerRoomTick: totals.simUs / totals.roomTicks,
  encodeUsPerRoomTick: totals.encodeUs / totals.roomTicks,
  encodeUsPerClientTick: totals.encodeUs / totals.updates,
  decodeUsPerUpdate: totals.decodeUs / totals.updates,
  bytesPerUpdate: totals.bytes / totals.updates,
  entitiesPerClient: totals.visible / totals.updates,
  versions: { schema: JSON.parse(readFileSync(new URL("./node_modules/@colyseus/schema/package.json", import.meta.url), "utf8")).version, node: process.versions.node },
};
console.log(JSON.stringify(out));
