#!/usr/bin/env node
// TLS cost in craftd, measured on the server process only (docs/benchmarks.md, "TLS"):
//  1. memory per idle connection: craftd's RSS delta / connections after every connection
//     has finished its handshake and hello, for plain TCP and for TLS in the same run;
//  2. CPU per handshake: craftd's utime+stime (/proc/PID/stat) over N TLS handshakes / N,
//     next to N plain connects for the accept/close cost alone.
// The clients are node processes (--processes, each under the 20,000 open-file limit);
// connections use the TCP port (TLS, then length-prefixed frames) and say hello.
//
//   node bench/tls-bench.mjs --craftd build/apps/craftd/craftd --connections 10000 --processes 4 --handshakes 2000
import { execFileSync, fork, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const clk = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim());
// hello{protocolVersion 1, name "b"} with cid 1, in a 4-byte length prefix (docs/protocol.md).
const HELLO = Buffer.from("00000009080112050801" + "1a0162", "hex");

function openOne(port, secure, ca) {
  return new Promise((resolve, reject) => {
    const s = secure ? tls.connect({ port, host: "127.0.0.1", ca, servername: "localhost" }) : net.connect(port, "127.0.0.1");
    s.once(secure ? "secureConnect" : "connect", () => s.write(HELLO));
    let got = 0;
    s.on("data", (c) => {
      got += c.length;
      if (got >= 4) resolve(s);  // the welcome (or a refusal, which the count exposes)
    });
    s.once("error", reject);
    s.once("close", () => reject(new Error("closed before the welcome")));
  });
}

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, "m").exec(text)[1]);
  return { rss: kb("VmRSS") * 1024, anon: kb("RssAnon") * 1024 };
}
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clk;  // utime + stime (fields 14, 15)
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startCraftd(craftd, extra) {
  const child = spawn(craftd, ["--http-port", "0", "--tcp-port", "0", "--shards", "2", "--store.backend", "none",
    "--log-level", "warn", "--limits.max-connections-per-ip", "100000", "--limits.idle-timeout-ms", "600000", ...extra],
  { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (c) => {
      out += c;
      const m = /tcp 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once("exit", (code) => reject(new Error(`craftd exited ${code}: ${out}`)));
  });
  return { child, port };
}

async function stop(child) {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

async function idleRun(craftd, secure, tlsFlags, ca, connections, processes, rate) {
  const { child, port } = await startCraftd(craftd, secure ? tlsFlags : []);
  await sleep(500);
  const before = status(child.pid);
  const per = Math.ceil(connections / processes);
  const workers = [];
  const reports = [];
  for (let i = 0; i < processes; ++i) {
    const count = Math.min(per, connections - i * per);
    const w = fork(process.argv[1], ["--worker", JSON.stringify({ port, count, rate: rate / processes, secure, ca })]);
    workers.push(w);
    reports.push(new Promise((r) => w.once("message", r)));
  }
  const got = await Promise.all(reports).catch((e) => (child.kill("SIGKILL"), Promise.reject(e)));
  const ready = got.reduce((n, g) => n + g.ready, 0);
  const failed = got.reduce((n, g) => n + g.failed, 0);
  await sleep(2000);  // settle
  const after = status(child.pid);
  for (const w of workers) w.send("go");
  await Promise.all(workers.map((w) => new Promise((r) => w.once("exit", r))));
  await stop(child);
  return { transport: secure ? "tls" : "plain", connections, ready, failed, before, after,
           perConnRss: (after.rss - before.rss) / ready, perConnAnon: (after.anon - before.anon) / ready };
}

async function handshakeRun(craftd, secure, tlsFlags, ca, n) {
  const { child, port } = await startCraftd(craftd, secure ? tlsFlags : []);
  await sleep(500);
  const cpu0 = cpuSeconds(child.pid);
  const one = () => new Promise((resolve, reject) => {
    const s = secure ? tls.connect({ port, host: "127.0.0.1", ca, servername: "localhost" }) : net.connect(port, "127.0.0.1");
    s.once(secure ? "secureConnect" : "connect", () => {
      s.destroy();
      resolve();
    });
    s.once("error", reject);
  });
  const started = Date.now();
  let done = 0;
  // 8 at a time: enough to keep craftd busy, bounded so the shared machine is not flooded.
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (done < n) {
      ++done;
      await one();
    }
  }));
  await sleep(1000);  // let craftd finish closing them
  const cpu = cpuSeconds(child.pid) - cpu0;
  const wall = (Date.now() - started) / 1000;
  await stop(child);
  return { transport: secure ? "tls" : "plain", n, cpuSeconds: cpu, usPerConnection: (cpu / n) * 1e6, wallSeconds: wall };
}

async function main() {
  const craftd = args.craftd ?? "build/apps/craftd/craftd";
  const connections = Number(args.connections ?? 10000);
  const processes = Number(args.processes ?? 4);
  const rate = Number(args.rate ?? 2000);
  const handshakes = Number(args.handshakes ?? 2000);
  const keyType = args.key ?? "ec";  // ec (P-256) or rsa (2048)
  const dir = mkdtempSync(path.join(os.tmpdir(), "craft-tls-bench-"));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const keyArgs = keyType === "rsa" ? ["-newkey", "rsa:2048"] : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
  execFileSync("openssl", ["req", "-x509", ...keyArgs, "-nodes", "-keyout", key, "-out", cert, "-days", "1",
    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  const ca = readFileSync(cert, "utf8");
  const tlsFlags = ["--tls.cert-file", cert, "--tls.key-file", key];
  const results = { date: new Date().toISOString(), key: keyType, node: process.version, idle: [], handshakes: [] };
  try {
    if (connections > 0) {
      for (const secure of [false, true]) {
        const r = await idleRun(craftd, secure, tlsFlags, ca, connections, processes, rate);
        results.idle.push(r);
        console.log(`idle ${r.transport}: ${r.ready}/${r.connections} ready (${r.failed} failed), RSS ` +
          `${(r.before.rss / 2 ** 20).toFixed(1)} -> ${(r.after.rss / 2 ** 20).toFixed(1)} MiB, ` +
          `${r.perConnRss.toFixed(0)} B/conn VmRSS, ${r.perConnAnon.toFixed(0)} B/conn RssAnon`);
      }
    }
    if (handshakes > 0) {
      for (const secure of [false, true]) {
        const r = await handshakeRun(craftd, secure, tlsFlags, ca, handshakes);
        results.handshakes.push(r);
        console.log(`connect+close ${r.transport}: ${r.n} in ${r.wallSeconds.toFixed(1)} s, craftd CPU ` +
          `${r.cpuSeconds.toFixed(2)} s = ${r.usPerConnection.toFixed(0)} us per connection`);
      }
    }
    console.log(JSON.stringify(results));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// Worker: open `count` connections at `rate` per second, report, hold until told to go.
async function worker() {
  const { port, count, rate, secure, ca } = JSON.parse(args.worker);
  const sockets = [];
  let failed = 0;
  const inflight = new Set();
  for (let i = 0; i < count; ++i) {
    const p = openOne(port, secure, ca).then((s) => sockets.push(s), () => ++failed).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 64) await Promise.race(inflight);
    if (i % 50 === 49) await new Promise((r) => setTimeout(r, (50 * 1000) / rate));
  }
  await Promise.all(inflight);
  process.send({ ready: sockets.length, failed });
  process.on("message", () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}


if (args.worker) await worker();
else await main();
