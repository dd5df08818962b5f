// The issue-13 state-sync scene benchmark (docs/benchmarks.md, "State sync scene (issue 13)").
// Run through bench/run-scene, which checks node and the peer's node_modules first.
//
// For every server (--server colyseus,craft), scene and client count it starts a fresh server
// on a free loopback port, starts one load process, waits until every client has joined, warms
// up, measures a window, then stops both (SIGTERM, then SIGKILL by pid after 3 s). Prints a
// table and appends one JSON line per run to bench/results/<stamp>-scene.jsonl (and the table
// to <stamp>-scene.txt).
//
// Scenes (issue 13, "The scene to measure"): rooms of 10 players, each random-walking inside
// 800x600 (x, y floats plus a heading), inputs 20 Hz, state 20 Hz:
//   players    no bots, no interest filter (everyone sees the 10 players of the room)
//   bots-aoi   90 server-side bots per room (100 entities) and an interest radius covering a
//              quarter of the arena: pi r^2 = 800*600/4, r = 195.4 px around the client's player
//
// A server plugs in as one entry of SERVERS below. What it must provide:
//   start(ctx)  -> {pid, port, stats(): Promise<{ticks, patches?, rooms?, clients?}>, stop()}
//                  a server listening on 127.0.0.1 with a room type "scene" taking the options
//                  {bots, radius, players, typing}; `ticks` = room simulation ticks so far,
//                  summed over rooms (monotonic).
//   loader      -> argv of a load process speaking the protocol of bench/peers/colyseus/load.mjs:
//                  flags --port --clients --room-size --bots --radius --typing --sample
//                  --connect-concurrency --decode all|sample (sample: only the sampled clients
//                  decode, the others count frames); prints
//                  {"event":"ready",connected,failed,rooms,errors} then answers `mark` with
//                  cumulative {rxBytes, txBytes, frames, sampleFrames, decodeUs, decodeWallUs,
//                  sampled, cpuUs, live, closed, inputs}; `quit`/EOF ends it.
import { spawn } from "node:child_process";
import { readFileSync, mkdirSync, appendFileSync, writeFileSync, existsSync } from "node:fs";
import { createInterface } from "node:readline";
import { execFileSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const COLYSEUS_DIR = path.join(ROOT, "bench/peers/colyseus");
const NODE = process.execPath;
const CLK_TCK = 100; // USER_HZ: /proc/<pid>/stat counts in 1/100 s on Linux

const ARENA_W = 800, ARENA_H = 600;
const QUARTER_RADIUS = Math.sqrt((ARENA_W * ARENA_H) / 4 / Math.PI); // 195.44 px
const SCENES = {
  players: { bots: 0, radius: 0 },
  "bots-aoi": { bots: 90, radius: Number(QUARTER_RADIUS.toFixed(1)) },
};

function usage() {
  return `usage: bench/run-scene [--server colyseus[,craft]] [--scenes players,bots-aoi]
       [--clients 100,1000,5000] [--warmup 5] [--duration 15] [--room-size 10]
       [--typing f32|q16] [--sample 100] [--connect-concurrency 64] [--decode all|sample]
       [--join-deadline S (0: wait for every client)] [--loaders N (0: one load process per 500 clients)] [--results-dir bench/results] [--label TEXT]
       [--pin SERVER_CPUS:LOADER_CPUS (e.g. 0:1: taskset the server and the load processes apart)]`;
}

function parseArgs(argv) {
  const o = {
    server: ["colyseus"], scenes: Object.keys(SCENES), clients: [100, 1000, 5000], warmup: 5,
    duration: 15, roomSize: 10, typing: "f32", sample: 100, connectConcurrency: 64, decode: "all", joinDeadline: 0, loaders: 0,
    resultsDir: process.env.RESULTS_DIR || path.join(ROOT, "bench/results"), label: "",
  };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i], v = argv[i + 1];
    const need = () => { if (v === undefined) throw new Error(`${k} needs a value\n${usage()}`); i++; return v; };
    switch (k) {
      case "--server": o.server = need().split(","); break;
      case "--scenes": o.scenes = need().split(","); break;
      case "--clients": o.clients = need().split(",").map(Number); break;
      case "--warmup": o.warmup = Number(need()); break;
      case "--duration": o.duration = Number(need()); break;
      case "--room-size": o.roomSize = Number(need()); break;
      case "--typing": o.typing = need(); break;
      case "--sample": o.sample = Number(need()); break;
      case "--connect-concurrency": o.connectConcurrency = Number(need()); break;
      case "--decode": o.decode = need(); break;
      case "--join-deadline": o.joinDeadline = Number(need()); break;
      case "--loaders": o.loaders = Number(need()); break;
      case "--results-dir": o.resultsDir = path.resolve(need()); break;
      case "--label": o.label = need(); break;
      case "--pin": {
        const [srv, load] = need().split(":");
        if (!/^[0-9,-]+$/.test(srv || "") || !/^[0-9,-]+$/.test(load || "")) throw new Error(`--pin wants SERVER_CPUS:LOADER_CPUS, e.g. 0:1\n${usage()}`);
        pin.server = srv;
        pin.loaders = load;
        o.pin = `${srv}:${load}`;
        break;
      }
      case "-h": case "--help": console.log(usage()); process.exit(0); break;
      default: throw new Error(`unknown argument ${k}\n${usage()}`);
    }
  }
  for (const s of o.scenes) if (!SCENES[s]) throw new Error(`unknown scene ${s}`);
  for (const s of o.server) if (!SERVERS[s]) throw new Error(`unknown server ${s}`);
  for (const n of o.clients) if (!(n > 0)) throw new Error(`bad client count ${n}`);
  return o;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every child still running, so a signal can stop them before we exit.
const children = new Set();

// --pin: the CPUs (taskset -c lists) of the server and of the load processes, or null.
// Both servers get the same CPUs, so CPU per client compares like with like, and neither the
// scheduler's migrations nor the load processes land on the server's core.
const pin = { server: null, loaders: null };

// A child process whose stdout is read as lines; next() waits for the next line.
function lineChild(argv, opts) {
  if (opts && opts.cpus) argv = ["taskset", "-c", opts.cpus, ...argv];  // taskset execs: same pid
  const child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"], ...opts });
  children.add(child);
  const lines = [];
  const waiters = [];
  let stderr = "";
  createInterface({ input: child.stdout }).on("line", (l) => {
    if (waiters.length) waiters.shift()(l); else lines.push(l);
  });
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
    if (opts && opts.echoStderr) process.stderr.write(d);
  });
  let exited = null;
  child.on("exit", (code, sig) => {
    exited = { code, sig };
    children.delete(child);
    while (waiters.length) waiters.shift()(null);
  });
  return {
    child,
    get stderr() { return stderr; },
    get exited() { return exited; },
    next(timeoutMs) {
      if (lines.length) return Promise.resolve(lines.shift());
      if (exited) return Promise.resolve(null);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`${path.basename(argv[argv.length > 1 ? 1 : 0])}: no answer in ${timeoutMs} ms; stderr: ${stderr.slice(-500)}`));
        }, timeoutMs);
        const w = (l) => { clearTimeout(t); resolve(l); };
        waiters.push(w);
      });
    },
    send(line) { if (!exited) child.stdin.write(line + "\n"); },
    async stop() {
      if (exited) return;
      try { child.stdin.end(); } catch { /* closed */ }
      child.kill("SIGTERM");
      for (let i = 0; i < 30 && !exited; i++) await sleep(100);
      if (!exited) { child.kill("SIGKILL"); for (let i = 0; i < 20 && !exited; i++) await sleep(100); }
    },
  };
}

async function nextJson(proc, timeoutMs, want) {
  for (;;) {
    const l = await proc.next(timeoutMs);
    if (l === null) throw new Error(`process exited (${JSON.stringify(proc.exited)}); stderr: ${proc.stderr.slice(-800)}`);
    if (!l.startsWith("{")) continue;
    const j = JSON.parse(l);
    if (!want || j.event === want || (want === "stats" && j.ticks !== undefined)) return j;
  }
}

// A started server child: waits for its "listening <port>" line, then answers "stats" on stdin.
async function serverHandle(p, name) {
  let port = 0;
  for (;;) {
    const l = await p.next(15000);
    if (l === null) throw new Error(`${name} exited: ${p.stderr}`);
    const m = /^listening (\d+)$/.exec(l);
    if (m) { port = Number(m[1]); break; }
  }
  return {
    pid: p.child.pid, port,
    async stats() { p.send("stats"); return nextJson(p, 10000, "stats"); },
    stop: () => p.stop(),
  };
}

const SERVERS = {
  colyseus: {
    versions() {
      const v = (p) => JSON.parse(readFileSync(path.join(COLYSEUS_DIR, "node_modules", p, "package.json"), "utf8")).version;
      return { "@colyseus/core": v("@colyseus/core"), "@colyseus/ws-transport": v("@colyseus/ws-transport"),
        "@colyseus/schema": v("@colyseus/schema"), "@colyseus/sdk": v("@colyseus/sdk"), node: process.versions.node };
    },
    async start() {
      if (!existsSync(path.join(COLYSEUS_DIR, "node_modules"))) throw new Error("bench/peers/colyseus/node_modules is missing: run bench/setup first");
      const p = lineChild([NODE, path.join(COLYSEUS_DIR, "server.mjs"), "--host", "127.0.0.1", "--port", "0"],
        { cwd: COLYSEUS_DIR, cpus: pin.server });
      return serverHandle(p, "colyseus server");
    },
    loader: (port) => [NODE, path.join(COLYSEUS_DIR, "load.mjs"), "--port", String(port)],
    loaderCwd: COLYSEUS_DIR,
  },
  craft: {
    versions() {
      let commit = "unknown";
      try { commit = execFileSync("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim(); } catch { /* no git */ }
      const sdk = JSON.parse(readFileSync(path.join(ROOT, "sdk/js/package.json"), "utf8")).version;
      return { craft: commit, "@craft/client": sdk, node: process.versions.node };
    },
    // bench/scene/scene_server.cpp (target craft-scene-server): craft::Server with the room type
    // "scene", one shard per core (craftd's default), log level warn.
    async start() {
      const bin = process.env.CRAFT_SCENE_SERVER || path.join(ROOT, "build/bench/craft-scene-server");
      if (!existsSync(bin)) throw new Error(`${bin} is missing: cmake --build build --target craft-scene-server (or set CRAFT_SCENE_SERVER)`);
      if (!existsSync(path.join(ROOT, "sdk/js/dist/esm/index.js"))) throw new Error("sdk/js/dist is missing: cd sdk/js && npm run build");
      // Handshake timeout 120 s instead of 10 s: on this busy machine a loader starved for
      // seconds did not finish its hello in time (as Colyseus' seat reservation: 120 s); the
      // server's ping timeout 60 s instead of 10 s: at 1,000 clients the starved loader left
      // pings unanswered for 10 s and the server closed 542 of 1,000 connections (4001).
      const p = lineChild([bin, "--listen", "127.0.0.1", "--http-port", "0", "--tcp-port", "0", "--log-level", "warn",
        "--limits.handshake-timeout-ms", "120000", "--limits.server-ping-timeout-ms", "60000",
        // Every load client comes from 127.0.0.1: the per-address cap (4,096 by default, right
        // for production) would refuse 5,000 of them with 1013.
        "--limits.max-connections-per-ip", "100000"], { cwd: ROOT, cpus: pin.server });
      return serverHandle(p, "craft-scene-server");
    },
    loader: (port) => [NODE, path.join(ROOT, "bench/scene/craft-load.mjs"), "--port", String(port)],
    loaderCwd: ROOT,
  },
};

// utime + stime (fields 14, 15), and stime alone: the kernel's share (syscalls, and on loopback
// the peer's TCP receive path, which runs in the sender's context).
function procCpu(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return { all: Number(f[11]) + Number(f[12]), sys: Number(f[12]) };
}
function procRssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}
function machineTicks() {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0] + f[1] + f[2] + f[5] + f[6]; // user nice system irq softirq
  return { busy, total: f.reduce((a, b) => a + b, 0) };
}

// Clients per load process: `loaders` processes (0 = one per 500 clients), each a whole number
// of rooms, so no room spans two processes.
function splitClients(clients, roomSize, loaders) {
  const rooms = Math.ceil(clients / roomSize);
  const k = Math.max(1, Math.min(rooms, loaders > 0 ? loaders : Math.ceil(clients / 500)));
  const shares = [];
  let left = clients;
  for (let i = 0; i < k; i++) {
    const roomsHere = Math.floor(rooms / k) + (i < rooms % k ? 1 : 0);
    const n = Math.min(left, roomsHere * roomSize);
    shares.push(n);
    left -= n;
  }
  return shares.filter((n) => n > 0);
}

// Several load processes read as one: counters summed, error and close tallies merged.
function sumLines(lines) {
  const out = { ...lines[0] };
  for (const l of lines.slice(1)) {
    for (const [k, v] of Object.entries(l)) {
      if (typeof v === "number" && k !== "tNs") out[k] = (out[k] || 0) + v;
      else if (v && typeof v === "object") {
        const merged = { ...(out[k] || {}) };
        for (const [kk, vv] of Object.entries(v)) merged[kk] = (merged[kk] || 0) + vv;
        out[k] = merged;
      }
    }
  }
  return out;
}

async function runOne(o, serverName, sceneName, clients) {
  const srvDef = SERVERS[serverName];
  const scene = SCENES[sceneName];
  const label = `${serverName}/${sceneName}/${clients}`;
  const t0 = Date.now();
  const server = await srvDef.start();
  const loaders = [];
  const shares = splitClients(clients, o.roomSize, o.loaders);
  try {
    // One node process runs out of CPU near 1,000 clients (its own event loop, decode and
    // timers): the clients are spread over several, so the server is what gets measured.
    for (const n of shares) {
      loaders.push(lineChild([...srvDef.loader(server.port), "--clients", String(n), "--room-size", String(o.roomSize),
        "--bots", String(scene.bots), "--radius", String(scene.radius), "--typing", o.typing,
        "--sample", String(Math.max(1, Math.round((o.sample * n) / clients))),
        "--connect-concurrency", String(Math.max(1, Math.ceil(o.connectConcurrency / shares.length))), "--decode", o.decode,
        "--join-deadline", String(o.joinDeadline)],
      { cwd: srvDef.loaderCwd, echoStderr: true, cpus: pin.loaders }));
    }
    const markAll = async () => {
      for (const l of loaders) l.send("mark");
      return sumLines(await Promise.all(loaders.map((l) => nextJson(l, 30000, "mark"))));
    };
    // Joining is slow on 2 shared cores (about 20-100 joins/s for Colyseus here): allow for it.
    const ready = sumLines(await Promise.all(loaders.map((l) =>
      nextJson(l, (o.joinDeadline > 0 ? o.joinDeadline + 60 : 60 + clients * 0.15) * 1000, "ready"))));
    const connectS = (Date.now() - t0) / 1000;
    process.stderr.write(`${label}: ${ready.connected} joined, ${ready.failed} failed, ${ready.rooms} rooms in ${connectS.toFixed(1)} s `
      + `(${loaders.length} load process${loaders.length > 1 ? "es" : ""}); warm-up ${o.warmup} s\n`);
    await sleep(o.warmup * 1000);

    const a = { srv: await server.stats(), cpu: procCpu(server.pid), m: machineTicks(), t: process.hrtime.bigint() };
    a.load = await markAll();
    await sleep(o.duration * 1000);
    const b = { srv: await server.stats(), cpu: procCpu(server.pid), m: machineTicks(), t: process.hrtime.bigint() };
    b.load = await markAll();
    const rssKb = procRssKb(server.pid);

    const windowS = Number(b.t - a.t) / 1e9;
    const live = b.load.live;
    const clientS = live * windowS;
    const serverCpuS = (b.cpu.all - a.cpu.all) / CLK_TCK;
    const serverSysS = (b.cpu.sys - a.cpu.sys) / CLK_TCK;
    const ticks = b.srv.ticks - a.srv.ticks;
    const sampleS = b.load.sampled * windowS;
    const r = {
      label: o.label || undefined, pin: o.pin, server: serverName, scene: sceneName, bots: scene.bots, radius: scene.radius,
      typing: o.typing, decode: o.decode, loaders: loaders.length, clients, connected: ready.connected, failed: ready.failed, rooms: ready.rooms,
      live, dropped: b.load.closed, closes: b.load.closes, connectErrors: ready.errors, windowS: Number(windowS.toFixed(3)),
      rxBytesPerClientS: (b.load.rxBytes - a.load.rxBytes) / clientS,
      txBytesPerClientS: (b.load.txBytes - a.load.txBytes) / clientS,
      framesPerClientS: (b.load.frames - a.load.frames) / clientS,
      inputsPerClientS: (b.load.inputs - a.load.inputs) / clientS,
      rxBytesPerFrame: (b.load.rxBytes - a.load.rxBytes) / Math.max(1, b.load.frames - a.load.frames),
      serverCpuUsPerClientS: (serverCpuS * 1e6) / clientS,
      serverSysUsPerClientS: (serverSysS * 1e6) / clientS,
      serverCpuUsPerRoomTick: ticks > 0 ? (serverCpuS * 1e6) / ticks : null,
      roomTicksPerS: ticks / windowS,
      tickRatePerRoom: ready.rooms ? ticks / windowS / ready.rooms : null,
      patchesPerRoomS: b.srv.patches !== undefined && ready.rooms ? (b.srv.patches - a.srv.patches) / windowS / ready.rooms : null,
      serverCpuCores: serverCpuS / windowS,
      decodeUsPerClientS: (b.load.decodeUs - a.load.decodeUs) / sampleS,
      decodeWallUsPerClientS: (b.load.decodeWallUs - a.load.decodeWallUs) / sampleS,
      decodeUsPerFrame: (b.load.sampleFrames - a.load.sampleFrames) > 0 ? (b.load.decodeUs - a.load.decodeUs) / (b.load.sampleFrames - a.load.sampleFrames) : null,
      decodeSampleClients: b.load.sampled,
      loaderCpuCores: (b.load.cpuUs - a.load.cpuUs) / 1e6 / windowS,
      machineBusy: (b.m.busy - a.m.busy) / Math.max(1, b.m.total - a.m.total),
      serverRssKb: rssKb, loaderRssKb: b.load.rssKb,
      loadavg: os.loadavg().map((x) => Number(x.toFixed(2))),
      versions: srvDef.versions(),
      date: new Date().toISOString(),
    };
    return derive(r);
  } finally {
    for (const l of loaders) l.send("quit");
    await Promise.all(loaders.map((l) => l.stop()));
    await server.stop();
  }
}

// Figures per state update, independent of how well the shared machine kept the 20 Hz rate,
// and the same scaled to the scene's 20 Hz ("at 20 Hz"): derived, labelled so in the tables.
// A state update is a room tick's patch (Colyseus: its patches counted by the server; craft:
// a snapshot every tick), not a WebSocket message: craft's clients also get the resumable
// session's acks as messages of their own (about 4 a second), so bytes per message would
// understate what one update costs.
function derive(r) {
  if (r.error) return r;
  const playersPerRoom = r.rooms ? r.live / r.rooms : 0;
  const clientTicksPerS = r.roomTicksPerS * playersPerRoom;
  const cpuUsPerClientTick = clientTicksPerS > 0 ? (r.serverCpuUsPerClientS * r.live) / clientTicksPerS : null;
  const updatesPerClientS = r.patchesPerRoomS ?? r.tickRatePerRoom;
  const perUpdate = (x) => (x === null || x === undefined || !(updatesPerClientS > 0) ? null : x / updatesPerClientS);
  const rxBytesPerUpdate = perUpdate(r.rxBytesPerClientS);
  const decodeUsPerUpdate = perUpdate(r.decodeUsPerClientS);
  return {
    ...r,
    serverCpuUsPerClientTick: cpuUsPerClientTick,
    rxBytesPerUpdate,
    decodeUsPerUpdate,
    rxBytesPerClientSAt20Hz: rxBytesPerUpdate === null ? null : rxBytesPerUpdate * 20,
    serverCpuUsPerClientSAt20Hz: cpuUsPerClientTick === null ? null : cpuUsPerClientTick * 20,
    decodeUsPerClientSAt20Hz: decodeUsPerUpdate === null ? null : decodeUsPerUpdate * 20,
  };
}

const f1 = (x) => (x === null || x === undefined || Number.isNaN(x) ? "-" : x.toFixed(1));
const f0 = (x) => (x === null || x === undefined || Number.isNaN(x) ? "-" : Math.round(x).toLocaleString("en-US"));
const pct = (x) => `${Math.round(x * 100)}%`;

function tableAt20(rows) {
  const head = ["server", "scene", "clients", "ticks/s/room (of 20)", "rx B/update", "srv CPU µs/client-tick", "decode µs/update",
    "rx B/s/client at 20 Hz", "srv CPU µs/client-s at 20 Hz", "decode µs/client-s at 20 Hz"];
  const lines = [head, ...rows.filter((r) => !r.error).map((r) => [r.server, r.scene, f0(r.clients), f1(r.tickRatePerRoom),
    f0(r.rxBytesPerUpdate), f1(r.serverCpuUsPerClientTick), f1(r.decodeUsPerUpdate), f0(r.rxBytesPerClientSAt20Hz),
    f0(r.serverCpuUsPerClientSAt20Hz), f0(r.decodeUsPerClientSAt20Hz)])];
  return lines.map((l) => `| ${l.join(" | ")} |`).join("\n").replace(/\n/, "\n" + `|${head.map(() => "---").join("|")}|\n`);
}

function table(rows) {
  const head = ["server", "scene", "clients", "joined", "inputs/s/client", "rx B/s/client", "tx B/s/client", "frames/s/client", "rx B/frame",
    "srv CPU µs/client-s", "srv CPU µs/room tick", "ticks/s/room", "decode µs/client-s", "srv cores", "loader cores", "machine busy"];
  const lines = [head, ...rows.map((r) => r.error
    ? [r.server, r.scene, String(r.clients), "error: " + r.error.slice(0, 80)]
    : [r.server, r.scene, f0(r.clients), f0(r.live), f1(r.inputsPerClientS), f0(r.rxBytesPerClientS), f0(r.txBytesPerClientS), f1(r.framesPerClientS), f0(r.rxBytesPerFrame),
      f0(r.serverCpuUsPerClientS), f1(r.serverCpuUsPerRoomTick), f1(r.tickRatePerRoom), f1(r.decodeUsPerClientS),
      r.serverCpuCores.toFixed(2), r.loaderCpuCores.toFixed(2), pct(r.machineBusy)])];
  return lines.map((l) => `| ${l.join(" | ")} |`).join("\n").replace(/\n/, "\n" + `|${head.map(() => "---").join("|")}|\n`);
}

async function main() {
  // --from FILE.jsonl: print the tables of an earlier run, measure nothing.
  const from = process.argv.indexOf("--from");
  if (from > 0) {
    const rows = readFileSync(process.argv[from + 1], "utf8").split("\n").filter(Boolean).map((l) => derive(JSON.parse(l)));
    console.log(`${table(rows)}\n\nPer state update, and scaled to 20 Hz (derived):\n\n${tableAt20(rows)}`);
    return;
  }
  const o = parseArgs(process.argv.slice(2));
  mkdirSync(o.resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
  const jsonl = path.join(o.resultsDir, `${stamp}-scene.jsonl`);
  const txt = path.join(o.resultsDir, `${stamp}-scene.txt`);
  let commit = "unknown";
  try { commit = execFileSync("git", ["-C", ROOT, "describe", "--always", "--dirty"], { encoding: "utf8" }).trim(); } catch { /* no git */ }
  const header = `state sync scene ${stamp}, commit ${commit}, ${os.cpus().length} cores, Linux ${os.release()}, node ${process.versions.node}, loopback; `
    + `warm-up ${o.warmup} s, window ${o.duration} s, rooms of ${o.roomSize}, typing ${o.typing}, decode ${o.decode}, interest radius ${SCENES["bots-aoi"].radius} px, load average before ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`;
  console.log(header);
  const rows = [];
  const onSignal = () => {
    process.stderr.write("run-scene: stopping\n");
    for (const c of children) c.kill("SIGKILL");
    process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  for (const n of o.clients) {
    for (const sceneName of o.scenes) {
      for (const s of o.server) {
        let r;
        try {
          r = await runOne(o, s, sceneName, n);
        } catch (e) {
          r = { server: s, scene: sceneName, clients: n, error: String(e.message || e), date: new Date().toISOString() };
          process.stderr.write(`${s}/${sceneName}/${n}: ${r.error}\n`);
        }
        rows.push(r);
        appendFileSync(jsonl, JSON.stringify(r) + "\n");
        if (!r.error) {
          process.stderr.write(`${s}/${sceneName}/${n}: rx ${f0(r.rxBytesPerClientS)} B/s/client, server ${f0(r.serverCpuUsPerClientS)} µs/client-s, `
            + `${f1(r.serverCpuUsPerRoomTick)} µs/room tick, ${f1(r.tickRatePerRoom)} ticks/s/room, decode ${f1(r.decodeUsPerClientS)} µs/client-s, machine ${pct(r.machineBusy)}\n`);
        }
        await sleep(1000); // let TIME_WAIT and the last close frames settle between runs
      }
    }
  }
  const tables = `${table(rows)}\n\nPer state update, and scaled to 20 Hz (derived):\n\n${tableAt20(rows)}`;
  const out = `${header}\n\n${tables}\n\nload average after: ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}\n`;
  console.log("\n" + tables);
  writeFileSync(txt, out);
  console.log(`\nwrote ${path.relative(ROOT, jsonl)} and ${path.relative(ROOT, txt)}`);
  if (rows.some((r) => r.error)) process.exitCode = 1;
}

main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
