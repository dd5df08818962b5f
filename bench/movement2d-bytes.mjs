#!/usr/bin/env node
// movement2d-bytes: what one movement2d player receives per second on the wire, with the room's
// JSON snapshot broadcast (room option {"state":"json"}, the example before issue 13) and with
// replicated state ({"state":"replicated"}, the room's default since issue 13: state_snapshot
// deltas against each client's ack,
// docs/protocol.md §4.20), side by side in one run against one craftd this script starts and
// stops (loopback only).
//
//   node bench/movement2d-bytes.mjs [--craftd build/apps/craftd/craftd] [--rooms 1] [--players 10]
//                                   [--rate 20] [--tick-rate 30] [--warmup 2] [--duration 10] [--json FILE]
//
// Each player is a WebSocket client (binary protobuf, written here from docs/protocol.md: no
// SDK) that joins a movement2d room of --players and sends an input (op 1: seq, dx, dy) --rate
// times a second, a random walk: it keeps its direction and turns with probability 0.1 per
// input. In replicated rooms every input carries `state_ack` (RoomData field 6) = the newest
// snapshot tick received, as the JS SDK does. Measured over --duration seconds after --warmup:
// bytes read from each client's socket (TCP payload: WebSocket frame headers, envelopes,
// snapshots, everything), per client per second, and messages per client per second; also
// what the clients sent. Both modes use the same seed, so the same walks.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
if ("help" in args) {
  console.log("see the comment at the top of bench/movement2d-bytes.mjs");
  process.exit(0);
}
const craftd = args.craftd ?? path.join(root, "build/apps/craftd/craftd");
const rooms = Number(args.rooms ?? 1);
const players = Number(args.players ?? 10);
const rate = Number(args.rate ?? 20);
const tickRate = Number(args["tick-rate"] ?? 30);
const warmup = Number(args.warmup ?? 2);
const duration = Number(args.duration ?? 10);

// --- protobuf, the few messages used ---
function varint(out, v) {
  let n = BigInt(v);
  do {
    let b = Number(n & 0x7fn);
    n >>= 7n;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
}
const field = (out, no, wire) => varint(out, (no << 3) | wire);
function bytesField(out, no, buf) {
  field(out, no, 2);
  varint(out, buf.length);
  for (const b of buf) out.push(b);
}
const uintField = (out, no, v) => {
  if (v) field(out, no, 0), varint(out, v);
};
const msg = (build) => {
  const out = [];
  build(out);
  return Buffer.from(out);
};
// Reads a message's fields: [{no, wire, value (number) | bytes (Buffer)}].
function fields(buf) {
  const out = [];
  let i = 0;
  const read = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(read());
    const no = key >> 3, wire = key & 7;
    if (wire === 0) out.push({ no, value: Number(read()) });
    else if (wire === 2) {
      const n = Number(read());
      out.push({ no, bytes: buf.subarray(i, i + n) });
      i += n;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else throw new Error(`wire type ${wire}`);
  }
  return out;
}

// --- WebSocket client frames (RFC 6455): masked binary out, unmasked in ---
function wsFrame(payload) {
  const mask = crypto.randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x82, 0x80 | payload.length])
    : Buffer.from([0x82, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

function mulberry32(seed) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Player {
  constructor(port, name, options, seed) {
    this.port = port;
    this.name = name;
    this.options = options;
    this.random = mulberry32(seed);
    this.stats = { bytesIn: 0, bytesOut: 0, messages: 0, snapshots: 0, jsonSnapshots: 0 };
    this.newestTick = 0;
    this.seq = 0;
    this.dir = [1, 0];
  }
  connect() {
    return new Promise((resolve, reject) => {
      this.socket = net.connect(this.port, "127.0.0.1");
      this.socket.setNoDelay(true);
      let buf = Buffer.alloc(0);
      let upgraded = false;
      this.socket.on("error", reject);
      this.socket.on("connect", () => {
        this.socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      this.socket.on("data", (chunk) => {
        if (this.counting) this.stats.bytesIn += chunk.length;
        buf = Buffer.concat([buf, chunk]);
        if (!upgraded) {
          const end = buf.indexOf("\r\n\r\n");
          if (end < 0) return;
          upgraded = true;
          buf = buf.subarray(end + 4);
          this.send(msg((o) => {
            uintField(o, 1, 1);
            bytesField(o, 2, msg((h) => (uintField(h, 1, 1), bytesField(h, 3, Buffer.from(this.name)))));
          }));
          this.send(msg((o) => {
            uintField(o, 1, 2);
            bytesField(o, 8, msg((j) => (bytesField(j, 1, Buffer.from("movement2d")), bytesField(j, 2, Buffer.from(this.options)))));
          }));
          this.joined = resolve;
        }
        for (;;) {
          if (buf.length < 2) return;
          let n = buf[1] & 0x7f, at = 2;
          if (n === 126) {
            if (buf.length < 4) return;
            n = buf.readUInt16BE(2), at = 4;
          } else if (n === 127) {
            if (buf.length < 10) return;
            n = Number(buf.readBigUInt64BE(2)), at = 10;
          }
          if (buf.length < at + n) return;
          const opcode = buf[0] & 0x0f;
          const payload = buf.subarray(at, at + n);
          buf = buf.subarray(at + n);
          if (opcode === 2) this.onEnvelope(payload);
        }
      });
    });
  }
  send(payload) {
    const frame = wsFrame(payload);
    if (this.counting) this.stats.bytesOut += frame.length;
    this.socket.write(frame);
  }
  onEnvelope(payload) {
    if (this.counting) this.stats.messages++;
    for (const f of fields(payload)) {
      if (f.no === 9 && f.bytes) {  // room_joined
        this.roomId = Buffer.from(fields(f.bytes).find((x) => x.no === 1).bytes).toString();
        this.joined?.();
      } else if (f.no === 43 && f.bytes) {  // state_snapshot: the tick is data's first 32 bits (LE)
        const data = fields(f.bytes).find((x) => x.no === 2)?.bytes;
        if (data && data.length >= 4) this.newestTick = Math.max(this.newestTick, data.readUInt32LE(0));
        if (this.counting) this.stats.snapshots++;
      } else if (f.no === 12 && f.bytes) {  // room_data op 0: a JSON snapshot
        if (!fields(f.bytes).some((x) => x.no === 2 && x.value) && this.counting) this.stats.jsonSnapshots++;
      } else if (f.no === 16 && f.bytes) {
        const e = fields(f.bytes);
        throw new Error(`${this.name}: error ${e.find((x) => x.no === 1)?.value}: ${e.find((x) => x.no === 2)?.bytes}`);
      }
    }
  }
  input() {
    if (this.random() < 0.1) {
      const dirs = [[1, 0], [-1, 0], [0, 1], [0, -1], [1, 1], [-1, 1], [1, -1], [-1, -1]];
      this.dir = dirs[Math.floor(this.random() * dirs.length)];
    }
    const data = Buffer.alloc(6);
    data.writeUInt32LE(++this.seq, 0);
    data.writeInt8(this.dir[0], 4);
    data.writeInt8(this.dir[1], 5);
    this.send(msg((o) => bytesField(o, 12, msg((r) => {
      bytesField(r, 1, Buffer.from(this.roomId));
      uintField(r, 2, 1);
      bytesField(r, 3, data);
      uintField(r, 6, this.newestTick);  // 0 (omitted) in JSON rooms
    }))));
  }
  close() {
    this.socket.destroy();
  }
}

async function runMode(port, mode) {
  const all = [];
  for (let r = 0; r < rooms; r++) {
    // The first of a room creates it (join_or_create filters on region), the rest join it.
    for (let p = 0; p < players; p++) {
      const player = new Player(port, `r${r}p${p}`, JSON.stringify({ state: mode, tickRate, region: `bench-${mode}-${r}` }), 1000 * r + p + 1);
      await player.connect();
      all.push(player);
    }
  }
  const timers = all.map((p, i) => setTimeout(() => {
    p.timer = setInterval(() => p.input(), 1000 / rate);
  }, (i * 1000) / rate / all.length));
  await new Promise((r) => setTimeout(r, warmup * 1000));
  for (const p of all) p.counting = true;
  const cpuBefore = craftdCpu();
  const start = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, duration * 1000));
  for (const p of all) p.counting = false;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuSeconds = craftdCpu() - cpuBefore;
  timers.forEach(clearTimeout);
  for (const p of all) clearInterval(p.timer), p.close();
  const sum = (k) => all.reduce((s, p) => s + p.stats[k], 0);
  const perClient = (k) => sum(k) / all.length / seconds;
  return {
    mode, rooms, players, rate, tickRate, seconds: Number(seconds.toFixed(2)),
    bytesInPerClientPerSecond: Math.round(perClient("bytesIn")),
    bytesOutPerClientPerSecond: Math.round(perClient("bytesOut")),
    messagesPerClientPerSecond: Number(perClient("messages").toFixed(1)),
    stateSnapshotsPerClientPerSecond: Number(perClient("snapshots").toFixed(1)),
    jsonSnapshotsPerClientPerSecond: Number(perClient("jsonSnapshots").toFixed(1)),
    craftdCpuMsPerClientSecond: Number(((cpuSeconds * 1000) / (all.length * seconds)).toFixed(3)),
  };
}

let craftdPid = 0;
function craftdCpu() {
  // utime + stime of every thread, in seconds (clock ticks of 1/100 s on Linux).
  const stat = readFileSync(`/proc/${craftdPid}/stat`, "utf8");
  const parts = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(parts[11]) + Number(parts[12])) / 100;
}

async function main() {
  if (!existsSync(craftd)) throw new Error(`no craftd at ${craftd} (--craftd PATH)`);
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const server = spawn(craftd, ["--server.http-port", String(port), "--server.tcp-enabled", "false", "--server.shards", "2",
    "--store.backend", "none", "--server.log-level", "warn"], { stdio: ["ignore", "inherit", "inherit"] });
  craftdPid = server.pid;
  try {
    for (let i = 0; i < 100; i++) {
      const up = await new Promise((r) => net.connect(port, "127.0.0.1").on("connect", function () { this.destroy(); r(true); }).on("error", () => r(false)));
      if (up) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const results = [];
    for (const mode of ["json", "replicated"]) {
      const r = await runMode(port, mode);
      results.push(r);
      console.log(JSON.stringify(r));
      if (args.json) appendFileSync(args.json, JSON.stringify({ bench: "movement2d-bytes", ...r }) + "\n");
    }
    const [a, b] = results;
    console.log(`bytes/client/s received: json ${a.bytesInPerClientPerSecond}, replicated ${b.bytesInPerClientPerSecond} ` +
      `(${(a.bytesInPerClientPerSecond / b.bytesInPerClientPerSecond).toFixed(2)}x fewer)`);
  } finally {
    server.kill("SIGTERM");
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
