// Load client for the issue-13 scene on craft: N real JS SDK clients (sdk/js, `@craft/client`,
// over the `ws` package) in one node process, against bench/scene/scene_server.cpp. Speaks the
// protocol of bench/peers/colyseus/load.mjs (its reference) with bench/scene/run-scene.mjs:
//
//   node craft-load.mjs --port P --clients N [--room-size 10] [--bots 0] [--radius 0]
//                       [--connect-concurrency 64] [--sample 100] [--decode all|sample] [--join-deadline 0]
//
// stdout: {"event":"ready","connected","failed","rooms","errors"} once every client has joined
//         (or failed), then one {"event":"mark",...} per `mark` line on stdin (cumulative
//         counters). `quit` or EOF closes all clients and exits.
//
// What a client does: connects (hello), joins its room (the first of every --room-size clients
// creates it with the scene options, the others join it by id), then (once all have joined)
// sends one input a tick, 20 Hz, on its own phase: room.send(1, [turn as int8]), the turn of the
// random walk. The SDK decodes every state_snapshot into room.replicated and acknowledges it;
// the ack rides on the next input (RoomData.state_ack: ackDelayMs 60 > the 50 ms input period),
// so no state_ack message of its own goes out.
//
// Counters, as load.mjs's:
// - rxBytes / txBytes: net.Socket.bytesRead / bytesWritten of every client's `ws` socket
//   (WebSocket frame headers, pings and pongs included; IP/TCP headers not).
// - frames: WebSocket messages received after the join;
// - decodeUs: process.cpuUsage() (user+system) around the SDK's whole message handler (envelope
//   decode, dispatch, replicated-state decode, ack bookkeeping) on the --sample clients (every
//   k-th client); decodeWallUs: the same with hrtime; sampleFrames: frames those clients got.
// - cpuUs: this process' whole CPU.
// --decode sample: the --sample clients decode as above; the others read only the snapshot's
// tick and ack it, so the server does exactly the same work (deltas against acked ticks; a
// client that never acked would be sent full snapshots, a different load) while the loader
// skips the state decode, as Colyseus' load.mjs drops those clients' patches unread. The
// sampled clients check that this tick read agrees with their decoder's (errors: "light tick").
import { Client } from "../../sdk/js/dist/esm/index.js";
import { BitReader } from "../../sdk/js/dist/esm/state/bits.js";
import WebSocket from "../../sdk/js/node_modules/ws/wrapper.mjs";
import { arg, joinInLanes, serveLoad } from "./load-common.mjs";


const port = Number(arg("port", "0"));
const host = arg("host", "127.0.0.1");
const clients = Number(arg("clients", "100"));
const roomSize = Number(arg("room-size", "10"));
const sceneOptions = { bots: Number(arg("bots", "0")), radius: Number(arg("radius", "0")), players: roomSize };
const concurrency = Number(arg("connect-concurrency", "64"));
const sampleWanted = Math.min(clients, Number(arg("sample", "100")));
const joinDeadlineMs = Number(arg("join-deadline", "0")) * 1000;
const decodeAll = arg("decode", "all") !== "sample";
let stopJoining = false;
const sampleEvery = Math.max(1, Math.floor(clients / Math.max(1, sampleWanted)));
const INPUT_MS = 50;
const OP_INPUT = 1;
const url = `ws://${host}:${port}/ws`;

const live = []; // {client, room, ws, timer}
const errors = {};
let failed = 0;
let closed = 0;
const counters = { frames: 0, sampleFrames: 0, decodeUs: 0, decodeWallUs: 0, inputs: 0, snapshots: 0, snapshotsDropped: 0 };

// Why connections ended during the run (close code and reason): in every mark line and on
// stderr at the end, to tell the server's closes (4001 no pong, 4002 slow reader, ...) from
// the loader's own.
const closes = {};
function countClose(d) {
  const k = `${d && d.code} ${String((d && d.reason) || "").slice(0, 60)}`;
  closes[k] = (closes[k] || 0) + 1;
}

function countError(e) {
  const k = String((e && (e.code || e.message)) || e).slice(0, 80);
  errors[k] = (errors[k] || 0) + 1;
}

// A uniform integer in [-10, 10] steps of 1/256 turn, as scene.mjs's randomTurn().
function randomTurn() {
  return Math.floor(Math.random() * 21) - 10;
}

// The `ws` class the SDK gets for one client: remembers its socket and wraps its message
// listener, timing it on sampled clients once the client has joined.
function socketClass(c) {
  return class CountingWebSocket extends WebSocket {
    constructor(...args) {
      super(...args);
      c.ws = this;
    }
    addEventListener(type, listener, options) {
      if (type !== "message") return super.addEventListener(type, listener, options);
      const wrapped = (ev) => {
        if (!c.active) return listener(ev);
        counters.frames++;
        if (!c.sampled) return listener(ev);
        const c0 = process.cpuUsage();
        const w0 = process.hrtime.bigint();
        listener(ev);
        const w1 = process.hrtime.bigint();
        const c1 = process.cpuUsage(c0);
        counters.decodeUs += c1.user + c1.system;
        counters.decodeWallUs += Number(w1 - w0) / 1000;
        counters.sampleFrames++;
      };
      return super.addEventListener(type, wrapped, options);
    }
  };
}

// The tick a snapshot names: its header's first field (docs/protocol.md §4.20.2), read
// as the SDK's decoder reads it; 0 if the data is too short.
function snapshotTick(data) {
  const r = new BitReader(data);
  const tick = r.u(32);
  return r.overrun ? 0 : tick;
}

// --decode sample: a non-sampled client acks each newer snapshot's tick without decoding
// it (the SDK's room sends what replicated's ack handlers are given); a sampled one decodes
// and cross-checks the tick read above.
function lightAcks(room, sampled) {
  const replicated = room.replicated;
  const receive = replicated.receive.bind(replicated);
  if (sampled) {
    replicated.receive = (data, arrivalMs) => {
      const light = snapshotTick(data);
      const before = replicated.stats.decoded;
      const ok = receive(data, arrivalMs);
      if (ok && replicated.stats.decoded > before && light !== replicated.tick && light > replicated.tick) countError("light tick disagrees with the decoder");
      return ok;
    };
    return;
  }
  let newest = 0;
  replicated.receive = (data) => {
    const tick = snapshotTick(data);
    if (tick > newest) {
      newest = tick;
      counters.snapshots++;
      replicated.acks.emit(tick);
    }
    return true;
  };
}

// Up to 3 tries: on a loaded machine a join can time out; the errors are still counted.
async function tries(fn) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      countError(e);
      if (attempt >= 3) return null;
    }
  }
}

async function joinOne(index, roomId) {
  const c = { index, sampled: index % sampleEvery === 0, active: false, ws: null, timer: null, client: null, room: null };
  // Timeouts for a loader starved for seconds on a busy machine: the SDK's defaults (a request
  // 10 s, a keep-alive pong 5 s) made it give up on live connections itself (1,000 clients:
  // 600 of 1,000 lost), which is the loader's starvation, not the server's doing.
  const client = new Client(url, {
    WebSocket: socketClass(c), name: `p${index}`, reconnect: { enabled: false },
    requestTimeoutMs: 120000, pongTimeoutMs: 60000,
  });
  client.on("error", countError);
  c.client = client;
  const room = await tries(async () => {
    if (client.state !== "connected") await client.connect();
    return roomId ? client.joinById(roomId, sceneOptions) : client.create("scene", sceneOptions);
  });
  if (!room) {
    try { client.close(); } catch { /* gone */ }
    return null;
  }
  if (stopJoining) {
    try { c.ws.terminate(); } catch { /* gone */ }
    return null;
  }
  c.room = room;
  room.replicated.configure({ ackDelayMs: 60 });
  if (!decodeAll) lightAcks(room, c.sampled);
  room.replicated.onSnapshot(() => { counters.snapshots++; });
  room.replicated.onDrop(() => { counters.snapshotsDropped++; });
  client.on("disconnect", (d) => { closed++; countClose(d); });
  c.active = true;
  live.push(c);
  return room;
}

async function joinRoom(group) {
  const first = await joinOne(group[0], null);
  if (!first) {
    failed += group.length;
    return;
  }
  for (let k = 1; k < group.length && !stopJoining; k++) {
    if (!(await joinOne(group[k], first.id))) failed++;
  }
}

async function connectAll() {
  await joinInLanes({ clients, roomSize, concurrency, deadlineMs: joinDeadlineMs, joinRoom, stopped: () => stopJoining });
  stopJoining = true;
  // rooms with at least one joined client
  return new Set(live.map((c) => c.room.id)).size;
}

function startInputs() {
  for (const c of live) {
    setTimeout(() => {
      c.timer = setInterval(() => {
        try {
          c.room.send(OP_INPUT, new Uint8Array([randomTurn() & 255]));
          counters.inputs++;
        } catch (e) {
          countError(e);
        }
      }, INPUT_MS);
    }, Math.random() * INPUT_MS);
  }
}

function mark() {
  let rxBytes = 0, txBytes = 0;
  for (const c of live) {
    const s = c.ws && c.ws._socket;
    if (!s) continue;
    rxBytes += s.bytesRead;
    txBytes += s.bytesWritten;
  }
  const cpu = process.cpuUsage();
  return {
    event: "mark", tNs: process.hrtime.bigint().toString(), live: live.length - closed, closed,
    rxBytes, txBytes, ...counters, sampled: Math.ceil(clients / sampleEvery), closes,
    cpuUs: cpu.user + cpu.system, rssKb: Math.round(process.memoryUsage().rss / 1024),
  };
}

function quit() {
  process.stderr.write(`craft-load: ${closed} connections ended during the run: ${JSON.stringify(closes)}; errors ${JSON.stringify(errors)}\n`);
  for (const c of live) {
    clearInterval(c.timer);
    try { c.ws.terminate(); } catch { /* already gone */ }
  }
  setTimeout(() => process.exit(0), 200);
}

await serveLoad({
  name: "craft-load", connectAll, startInputs, mark, quit,
  status: () => ({ connected: live.length, failed, errors }),
});
