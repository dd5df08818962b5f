// Load client for the issue-13 scene on Colyseus: N real @colyseus/sdk clients in one node
// process. Driven by bench/scene/run-scene.mjs over stdin/stdout (one JSON line each way):
//
//   node load.mjs --port P --clients N [--room-size 10] [--bots 0] [--radius 0] [--typing f32]
//                 [--connect-concurrency 64] [--sample 100] [--decode all|sample] [--join-deadline 0]
//
// stdout: {"event":"ready","connected":N,"failed":F,"rooms":R,"errors":{...}} once every client
//         has joined (or failed), then one {"event":"mark",...} per `mark` line on stdin
//         (cumulative counters: the harness subtracts two marks). `quit` or EOF closes all
//         clients and exits.
//
// What a client does: joins its room (the first of every --room-size clients creates it with
// the scene options, the others join it by id, so every room has exactly --room-size players),
// then (once all have joined) sends one input a tick, 20 Hz, on its own phase: room.send(0, [turn]),
// the turn of the same random walk as the server's bots. It decodes every patch with the
// SDK's own schema decoder (room state kept as the SDK keeps it).
//
// Counters:
// - rxBytes / txBytes: the TCP payload bytes of every client's socket (net.Socket.bytesRead /
//   bytesWritten of the `ws` socket under the SDK): WebSocket frame headers, the server's
//   pings and our pongs included; IP/TCP headers not.
// - frames: WebSocket messages received (patches + anything else);
// - decodeUs: process.cpuUsage() (user+system) summed around the SDK's message handler (frame
//   dispatch + schema decode) of the --sample clients (every k-th client); decodeWallUs: the
//   same with hrtime, as a cross-check; sampleFrames: frames those clients got.
// - cpuUs: this process' whole CPU (process.cpuUsage()).

// Force the `ws` package (not a global WebSocket, should this node have one): the byte counts
// read its net.Socket.
delete globalThis.WebSocket;
import { arg, joinInLanes, serveLoad } from "../../scene/load-common.mjs";
const { Client } = await import("@colyseus/sdk");


const port = Number(arg("port", "0"));
const host = arg("host", "127.0.0.1");
const clients = Number(arg("clients", "100"));
const roomSize = Number(arg("room-size", "10"));
const sceneOptions = {
  bots: Number(arg("bots", "0")),
  radius: Number(arg("radius", "0")),
  players: roomSize,
  typing: arg("typing", "f32"),
};
const concurrency = Number(arg("connect-concurrency", "64"));
const sampleWanted = Math.min(clients, Number(arg("sample", "100")));
// --decode all: every client decodes every patch (a real game client each);
// --decode sample: only the --sample clients decode, the others count the frames and drop them
// (lighter, so thousands of clients fit in one process; bytes are counted the same way).
const decodeAll = arg("decode", "all") !== "sample";
// --join-deadline S: stop joining after S seconds and go on with the clients that joined (a busy
// machine may not take them all); 0 = no deadline.
const joinDeadlineMs = Number(arg("join-deadline", "0")) * 1000;
let stopJoining = false;
const sampleEvery = Math.max(1, Math.floor(clients / Math.max(1, sampleWanted)));
const INPUT_MS = 50;

const sdk = new Client(`ws://${host}:${port}`);
const live = []; // {room, socket, h, timer}
const errors = {};
let failed = 0;
let closed = 0;
const counters = { frames: 0, sampleFrames: 0, decodeUs: 0, decodeWallUs: 0, inputs: 0 };

function countError(e) {
  const k = String((e && (e.code || e.message)) || e).slice(0, 80);
  errors[k] = (errors[k] || 0) + 1;
}

// The random walk's turn, as server.mjs's randomTurn(): a uniform integer in [-10, 10] steps of
// 1/256 turn; the server turns, moves and bounces the player.
function randomTurn() {
  return Math.floor(Math.random() * 21) - 10;
}

function instrument(room, sampled) {
  const events = room.connection.events;
  const inner = events.onmessage;
  if (sampled) {
    events.onmessage = (ev) => {
      const c0 = process.cpuUsage();
      const w0 = process.hrtime.bigint();
      inner(ev);
      const w1 = process.hrtime.bigint();
      const c1 = process.cpuUsage(c0);
      counters.decodeUs += c1.user + c1.system;
      counters.decodeWallUs += Number(w1 - w0) / 1000;
      counters.sampleFrames++;
      counters.frames++;
    };
  } else if (decodeAll) {
    events.onmessage = (ev) => { counters.frames++; inner(ev); };
  } else {
    events.onmessage = () => { counters.frames++; };
  }
}

function start(room, index) {
  if (stopJoining) {
    // joined after the deadline: not part of the run
    try { room.connection.transport.ws.terminate(); } catch { /* gone */ }
    return;
  }
  const socket = room.connection.transport.ws._socket;
  const c = { room, socket, timer: null };
  instrument(room, index % sampleEvery === 0);
  room.onLeave(() => { closed++; });
  room.onError((code, message) => countError(`room error ${code} ${message}`));
  live.push(c);
}

// Inputs start once every client has joined (joining thousands is slow enough on 2 shared
// cores without them), each client on its own phase in the 50 ms period so sends spread evenly.
function startInputs() {
  for (const c of live) {
    setTimeout(() => {
      c.timer = setInterval(() => {
        c.room.send(0, [randomTurn()]);
        counters.inputs++;
      }, INPUT_MS);
    }, Math.random() * INPUT_MS);
  }
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

async function joinRoom(group) {
  // group: indexes of the clients of one room; the first creates it.
  const room = await tries(() => sdk.create("scene", sceneOptions));
  if (!room) {
    failed += group.length;
    return;
  }
  start(room, group[0]);
  const roomId = room.roomId;
  for (let k = 1; k < group.length && !stopJoining; k++) {
    const r = await tries(() => sdk.joinById(roomId, sceneOptions));
    if (r) start(r, group[k]); else failed++;
  }
}

async function connectAll() {
  await joinInLanes({ clients, roomSize, concurrency, deadlineMs: joinDeadlineMs, joinRoom, stopped: () => stopJoining });
  stopJoining = true;
  // rooms with at least one joined client
  return new Set(live.map((c) => c.room.roomId)).size;
}

function mark() {
  let rxBytes = 0, txBytes = 0;
  for (const c of live) {
    rxBytes += c.socket.bytesRead;
    txBytes += c.socket.bytesWritten;
  }
  const cpu = process.cpuUsage();
  return {
    event: "mark", tNs: process.hrtime.bigint().toString(), live: live.length - closed, closed,
    rxBytes, txBytes, ...counters, sampled: Math.ceil(clients / sampleEvery),
    cpuUs: cpu.user + cpu.system, rssKb: Math.round(process.memoryUsage().rss / 1024),
  };
}

function quit() {
  for (const c of live) {
    clearInterval(c.timer);
    try { c.room.connection.transport.ws.terminate(); } catch { /* already gone */ }
  }
  setTimeout(() => process.exit(0), 200);
}

await serveLoad({
  name: "load", connectAll, startInputs, mark, quit,
  status: () => ({ connected: live.length, failed, errors }),
});
