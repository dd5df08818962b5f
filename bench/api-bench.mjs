#!/usr/bin/env node
// api-bench: load generator for craftd's accounts / storage / leaderboards HTTP API
// (docs/http-api.md), the JSON-over-HTTP counterpart of craft-bench. For each backend it
// starts one craftd (SQLite: a file in a fresh temp dir; PostgreSQL: a throwaway server from
// tests/api/lib/pg.mjs), creates a pool of accounts, then runs every scenario at every
// concurrency: C requests always in flight, a warmup, then a measured window of --duration s.
//
//   node bench/api-bench.mjs [--backends sqlite,postgres] [--scenarios LIST] [--concurrency 1,16]
//                            [--duration 5] [--warmup 1] [--json FILE] [--label TEXT] [--quiet] [--help]
//
// Scenarios (each call checked: HTTP 200 and the expected answer, anything else is an error):
//   device-auth        POST /v1/auth/device, a new device id every call, create: true (a new account)
//   storage-write      POST /v1/storage/write, one object (~100-byte value) per call, no version
//   storage-read       POST /v1/storage/read, one object per call (must come back)
//   leaderboard-write  POST /v1/leaderboard/write, a random score on one BEST/DESCENDING board
//   email-auth         POST /v1/auth/email, existing accounts, correct password (Argon2id verify)
// The session calls rotate over --accounts device accounts made before the first run.
//
// Per run: calls/s and latency of the calls that completed inside the window; errors in the
// whole run (warmup and drain included; should be 0: the first few are printed with request and
// response); craftd CPU from /proc/PID/stat (utime + stime, all threads) over the window, per
// call; for PostgreSQL also the CPU of the postmaster and its children (the backends doing the
// queries); the generator's own CPU (process.cpuUsage) and the machine's busy share (/proc/stat).
// Calls go out with node:http without an agent (--client fetch: the built-in fetch, which costs
// this process 3-4x more CPU per call and makes node the bottleneck at 16 in flight).
// stderr: a live progress line. stdout: one table row per run. --json: one JSON line per run.
//
// craftd runs with --auth.admin-key (to create the leaderboard) and with both auth rate limits at
// 1,000,000 per minute, so the limiter is not what gets measured; everything else is default
// (store.workers 2, auth.password_cost interactive, 2 shards as in tests/js/lib/craftd.mjs).
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { pgMissingReason, startPostgres } from "../tests/api/lib/pg.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ALL_SCENARIOS = ["device-auth", "storage-write", "storage-read", "leaderboard-write", "email-auth"];
const ALL_BACKENDS = ["sqlite", "postgres"];
const ADMIN_KEY = crypto.randomBytes(16).toString("hex");
const PASSWORD = "correct horse battery staple";
const BOARD = "bench";
const SLOTS = 8;            // storage objects per account
const EMAIL_ACCOUNTS = 4;   // accounts email-auth logs in to
const CALL_TIMEOUT_MS = 30000;

const USAGE = `usage: node bench/api-bench.mjs [options]
  --craftd PATH          server binary (default: $CRAFTD, else build/apps/craftd/craftd)
  --backends LIST        sqlite,postgres (default: both)
  --scenarios LIST       ${ALL_SCENARIOS.join(",")} (default: all, in this order)
  --concurrency LIST     requests in flight, e.g. 1,16 (default: 1,16)
  --duration S           measured window per run (default: 5)
  --warmup S             load before the window (default: 1)
  --accounts N           device accounts the session calls rotate over (default: 64)
  --password-cost COST   --auth.password-cost for craftd (default: interactive, craftd's default)
  --json FILE            append one JSON line per run
  --label TEXT           label in the JSON lines (default: api)
  --client http|fetch   node:http without an agent (default), or the built-in fetch (undici), which
                         costs this process 3-4x more CPU per call and saturates it sooner
  --pid-file FILE        append "PID craftd" for every craftd started (for a wrapper's cleanup)
  --quiet                no progress line`;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      craftd: { type: "string" },
      backends: { type: "string", default: ALL_BACKENDS.join(",") },
      scenarios: { type: "string", default: ALL_SCENARIOS.join(",") },
      concurrency: { type: "string", default: "1,16" },
      duration: { type: "string", default: "5" },
      warmup: { type: "string", default: "1" },
      accounts: { type: "string", default: "64" },
      "password-cost": { type: "string", default: "interactive" },
      json: { type: "string" },
      label: { type: "string", default: "api" },
      "pid-file": { type: "string" },
      client: { type: "string", default: "http" },
      quiet: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }));
} catch (e) {
  console.error(`api-bench: ${e.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
const backends = list(opts.backends);
const scenarios = list(opts.scenarios);
const concurrencies = list(opts.concurrency).map(Number);
const duration = Number(opts.duration);
const warmup = Number(opts.warmup);
const nAccounts = Number(opts.accounts);
for (const b of backends) if (!ALL_BACKENDS.includes(b)) usageError(`unknown backend '${b}'`);
for (const s of scenarios) if (!ALL_SCENARIOS.includes(s)) usageError(`unknown scenario '${s}'`);
if (!concurrencies.length || concurrencies.some((c) => !Number.isInteger(c) || c < 1)) usageError("--concurrency: positive integers");
if (!(duration > 0) || !(warmup >= 0)) usageError("--duration must be > 0 and --warmup >= 0");
if (!Number.isInteger(nAccounts) || nAccounts < 1) usageError("--accounts: a positive integer");
if (!["http", "fetch"].includes(opts.client)) usageError("--client: http or fetch");
function usageError(msg) {
  console.error(`api-bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

const craftdBin = path.resolve(opts.craftd ?? process.env.CRAFTD ?? path.join(ROOT, "build/apps/craftd/craftd"));
if (!fs.existsSync(craftdBin)) {
  console.error(`api-bench: no craftd at ${craftdBin} (--craftd PATH or CRAFTD=PATH)`);
  process.exit(1);
}
// tests/js/lib/craftd.mjs reads $CRAFTD when it is loaded.
process.env.CRAFTD = craftdBin;
const { startCraftd } = await import("../tests/js/lib/craftd.mjs");

// --- cleanup: craftd and temp dirs also on Ctrl-C / SIGTERM (pg.mjs stops PostgreSQL itself) ---
const live = { craftd: null, pg: null, dirs: new Set() };
function cleanupSync() {
  if (live.craftd && !live.craftd.exit) {
    try { process.kill(live.craftd.pid, "SIGKILL"); } catch {}
  }
  for (const d of live.dirs) fs.rmSync(d, { recursive: true, force: true });
  live.dirs.clear();
}
process.on("exit", cleanupSync);
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"]) {
  // pg.mjs's own handler (registered first) stops PostgreSQL and raises the signal again; this
  // listener keeps that second signal from killing us before craftd is stopped.
  process.on(sig, async () => {
    if (interrupted) return;
    interrupted = true;
    clearProgress();
    console.error(`\napi-bench: ${sig}, stopping`);
    if (live.craftd && !live.craftd.exit) {
      try { await Promise.race([live.craftd.stop(), sleep(5000)]); } catch {}
    }
    cleanupSync();
    process.exit(130);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// --- /proc readers ---------------------------------------------------------------------------
let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100; } catch {}
const tickUs = 1e6 / CLK_TCK;

// [ppid, utime + stime in ticks] of one process (all its threads), or null when it is gone.
function procStat(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");  // f[0] is field 3 (state)
    return [Number(f[1]), Number(f[11]) + Number(f[12]), Number(f[11]), Number(f[12])];
  } catch {
    return null;
  }
}
// {total, user, sys} CPU µs of one process.
function cpuUs(pid) {
  const st = procStat(pid);
  return st ? { total: st[1] * tickUs, user: st[2] * tickUs, sys: st[3] * tickUs } : { total: NaN, user: NaN, sys: NaN };
}

// CPU ticks of the postmaster and each of its children, by pid.
function pgTicks(postmaster) {
  const out = new Map();
  if (!postmaster) return out;
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = procStat(name);
    if (st && (Number(name) === postmaster || st[0] === postmaster)) out.set(name, st[1]);
  }
  return out;
}
// Children that started inside the window count from 0; those that exited are lost (craftd keeps
// its PostgreSQL connections open, so the backends live through the runs).
function pgDeltaUs(a, b) {
  let t = 0;
  for (const [pid, ticks] of b) t += ticks - (a.get(pid) ?? 0);
  return t * tickUs;
}

// How many processes have this parent (craftd starts none: its CPU is all in its own stat).
function childCount(pid) {
  let n = 0;
  for (const name of fs.readdirSync("/proc")) if (/^\d+$/.test(name) && procStat(name)?.[0] === pid) n++;
  return n;
}

function machineTicks() {
  const f = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { busy: user + nice + system + irq + softirq, total: user + nice + system + idle + iowait + irq + softirq + (steal || 0) };
}
const loadavg1 = () => Number(fs.readFileSync("/proc/loadavg", "utf8").split(" ")[0]);

// --- HTTP ------------------------------------------------------------------------------------
// craftd answers every API call with Connection: close, so each call is a new TCP connection,
// whichever client. Both resolve {status, text}; network failures reject.
// One API call with the built-in fetch (--client fetch; setup calls always use it).
async function call(base, apiPath, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(base + apiPath, { method: "POST", headers, body: JSON.stringify(body), signal: AbortSignal.timeout(CALL_TIMEOUT_MS) });
  return { status: res.status, text: await res.text() };
}

// The same with node:http and no agent (a fresh connection per call, as craftd wants anyway).
function callHttp(base, apiPath, body, token) {
  const u = new URL(base);
  const payload = Buffer.from(JSON.stringify(body));
  const headers = { "content-type": "application/json", "content-length": payload.length };
  if (token) headers.authorization = `Bearer ${token}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: apiPath, method: "POST", headers, agent: false, timeout: CALL_TIMEOUT_MS }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`no answer in ${CALL_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(payload);
  });
}

// A call that must succeed (setup): returns the parsed body or throws with request and response.
async function must(base, apiPath, body, token) {
  const r = await call(base, apiPath, body, token);
  if (r.status !== 200) throw new Error(`setup: POST ${apiPath} ${JSON.stringify(body)} -> ${r.status} ${r.text}`);
  return JSON.parse(r.text);
}

async function pool(n, k, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, k) }, async () => {
    while (next < n) await fn(next++);
  }));
}

// --- scenarios -------------------------------------------------------------------------------
// make(i) -> {path, body, token}; check(parsed body) -> "" when the answer is right, else why not.
function scenarioDef(name, env) {
  const acct = (i) => env.accounts[i % env.accounts.length];
  const slot = (i) => `slot${Math.floor(i / env.accounts.length) % SLOTS}`;
  switch (name) {
    case "device-auth": {
      const tag = crypto.randomBytes(6).toString("hex");
      return {
        make: (i) => ({ path: "/v1/auth/device", body: { deviceId: `bench-${tag}-${i}`, create: true } }),
        check: (b) => (b.created === true && b.token ? "" : "expected a new account with a token"),
      };
    }
    case "storage-write":
      return {
        make: (i) => ({ path: "/v1/storage/write", token: acct(i).token,
          body: { objects: [{ collection: "bench", key: slot(i), value: { n: i, hp: i % 100, name: "bench object", pad: "x".repeat(48) } }] } }),
        check: (b) => (b.acks?.length === 1 && b.acks[0].version ? "" : "expected one ack with a version"),
      };
    case "storage-read":
      return {
        make: (i) => ({ path: "/v1/storage/read", token: acct(i).token, body: { ids: [{ collection: "bench", key: slot(i) }] } }),
        check: (b) => (b.objects?.length === 1 ? "" : `expected 1 object, got ${b.objects?.length}`),
      };
    case "leaderboard-write":
      return {
        make: (i) => ({ path: "/v1/leaderboard/write", token: acct(i).token,
          body: { leaderboardId: BOARD, score: String(Math.floor(Math.random() * 1e6)) } }),
        check: (b) => (b.leaderboardId === BOARD && Number(b.rank) >= 1 ? "" : "expected a record with a rank"),
      };
    case "email-auth":
      return {
        make: (i) => ({ path: "/v1/auth/email", body: { email: env.emails[i % env.emails.length], password: PASSWORD } }),
        check: (b) => (b.created === false && b.token ? "" : "expected a login (created false) with a token"),
      };
  }
  throw new Error(name);
}

// Accounts, objects and the leaderboard the scenarios use.
async function prepare(base) {
  const env = { accounts: [], emails: [] };
  await must(base, "/v1/leaderboard/create", { id: BOARD, sort: "DESCENDING", operator: "BEST" }, ADMIN_KEY);
  const tag = crypto.randomBytes(6).toString("hex");
  await pool(nAccounts, 8, async (i) => {
    const s = await must(base, "/v1/auth/device", { deviceId: `bench-pool-${tag}-${i}`, create: true });
    env.accounts[i] = { id: s.accountId, token: s.token };
  });
  await pool(nAccounts, 8, async (i) => {
    const objects = Array.from({ length: SLOTS }, (_, k) => ({ collection: "bench", key: `slot${k}`, value: { n: k, hp: 100, name: "bench object", pad: "x".repeat(48) } }));
    await must(base, "/v1/storage/write", { objects }, env.accounts[i].token);
  });
  for (let i = 0; i < EMAIL_ACCOUNTS; i++) {
    const email = `bench-${tag}-${i}@example.com`;
    await must(base, "/v1/auth/email", { email, password: PASSWORD, create: true });
    env.emails.push(email);
  }
  return env;
}

// --- progress and output ---------------------------------------------------------------------
const tty = process.stderr.isTTY;
let progressShown = false;
function progress(line) {
  if (opts.quiet) return;
  process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  progressShown = tty;
}
function clearProgress() {
  if (progressShown) process.stderr.write("\r\x1b[K");
  progressShown = false;
}

const quantile = (sorted, q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] : NaN);
const fmt = (v, d = 0) => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : v.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
const round = (v, d = 3) => (v === null || Number.isNaN(v) ? null : Number(v.toFixed(d)));

const COLS = [["backend", 8, "l"], ["scenario", 17, "l"], ["C", 3], ["calls", 7], ["calls/s", 8], ["p50 ms", 8], ["p90 ms", 8],
  ["p99 ms", 8], ["max ms", 8], ["errors", 6], ["craftd µs/call", 14], ["pg µs/call", 10], ["gen µs/call", 11], ["craftd %", 8],
  ["gen %", 6], ["busy %", 6]];
const row = (cells) => cells.map((c, k) => (COLS[k][2] === "l" ? String(c).padEnd(COLS[k][1]) : String(c).padStart(COLS[k][1]))).join("  ");
function printHeader() {
  console.log(row(COLS.map((c) => c[0])));
  console.log(row(COLS.map((c) => "-".repeat(c[1]))));
}
function printRow(r) {
  const l = r.latency_ms;
  console.log(row([r.backend, r.scenario, r.concurrency, fmt(r.calls), fmt(r.calls_per_s, 1), fmt(l.p50, 2), fmt(l.p90, 2), fmt(l.p99, 2),
    fmt(l.max, 2), r.errors, fmt(r.server_cpu_us_per_call, 1), fmt(r.db_cpu_us_per_call, 1), fmt(r.gen_cpu_us_per_call, 1),
    fmt(r.server_cpu_pct), fmt(r.gen_cpu_pct), fmt(r.machine_busy_pct)]));
}

// --- one run ---------------------------------------------------------------------------------
async function runOne(backend, server, pg, env, scenario, concurrency) {
  const def = scenarioDef(scenario, env);
  const send = opts.client === "http" ? callHttp : call;
  const base = server.httpUrl;
  const lat = [];
  const errorSamples = [];
  const errorKinds = {};
  let seq = 0, total = 0, errors = 0, windowCalls = 0, windowErrors = 0;
  let phase = "warmup", stop = false, t0 = Infinity, t1 = Infinity;
  const loadStart = loadavg1();

  function fail(req, why) {
    errors++;
    errorKinds[why.split(":")[0]] = (errorKinds[why.split(":")[0]] ?? 0) + 1;
    if (errorSamples.length < 5) {
      errorSamples.push({ request: `POST ${req.path}${req.token ? " (Bearer <session>)" : ""} ${JSON.stringify(req.body)}`, response: why });
    }
  }

  async function worker() {
    while (!stop && !interrupted) {
      const req = def.make(seq++);
      const start = performance.now();
      let bad = "";
      try {
        const r = await send(base, req.path, req.body, req.token);
        if (r.status !== 200) bad = `HTTP ${r.status}: ${r.text.slice(0, 500)}`;
        else {
          let b = null;
          try { b = JSON.parse(r.text); } catch {}
          const why = b ? def.check(b) : "not JSON";
          if (why) bad = `bad answer: ${why}: ${r.text.slice(0, 500)}`;
        }
      } catch (e) {
        bad = `network: ${e.message}${e.cause ? ` (${e.cause.code ?? e.cause.message})` : ""}`;
      }
      const end = performance.now();
      total++;
      if (bad) fail(req, bad);
      if (end >= t0 && end < t1) {  // completed inside the window (started in it or before)
        if (bad) windowErrors++;
        else { windowCalls++; lat.push(end - start); }
      }
    }
  }

  const t = performance.now();
  let cpu0, cpu1, gen0, gen1, pg0, pg1, m0, m1;
  const workers = Array.from({ length: concurrency }, worker);
  const ticker = setInterval(() => {
    const el = (performance.now() - t) / 1000;
    const inWin = Math.max(0, Math.min(performance.now(), t1) - t0) / 1000;
    const sorted = phase === "measure" ? Float64Array.from(lat.slice(-2000)).sort() : null;
    progress(`[${backend} ${scenario} c=${concurrency} ${el.toFixed(1).padStart(5)}s ${phase.padEnd(7)}] calls ${total} errors ${errors}` +
      (phase === "measure" && inWin > 0 ? ` ${fmt(windowCalls / inWin)}/s p99 ${fmt(quantile(sorted, 0.99), 2)} ms (last 2000)` : ""));
  }, 1000);
  await sleep(warmup * 1000);
  cpu0 = cpuUs(server.pid); pg0 = pgTicks(pg?.postmasterPid()); m0 = machineTicks(); gen0 = process.cpuUsage();
  t0 = performance.now();
  phase = "measure";
  await sleep(duration * 1000);
  t1 = performance.now();
  cpu1 = cpuUs(server.pid); pg1 = pgTicks(pg?.postmasterPid()); m1 = machineTicks(); gen1 = process.cpuUsage(gen0);
  const serverChildren = childCount(server.pid);
  phase = "drain";
  stop = true;
  await Promise.all(workers);
  clearInterval(ticker);
  clearProgress();

  const win = (t1 - t0) / 1000;
  lat.sort((a, b) => a - b);
  const serverUs = cpu1.total - cpu0.total;
  const dbUs = pg ? pgDeltaUs(pg0, pg1) : null;
  const genUs = gen1.user + gen1.system;
  const per = (us) => (us === null ? null : windowCalls ? us / windowCalls : null);
  const r = {
    time: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    label: opts.label,
    backend, scenario, concurrency,
    duration_s: duration, warmup_s: warmup, window_s: round(win, 4),
    calls: windowCalls, calls_per_s: round(windowCalls / win, 2),
    latency_ms: { count: lat.length, p50: round(quantile(lat, 0.5)), p90: round(quantile(lat, 0.9)), p99: round(quantile(lat, 0.99)),
      max: round(lat.length ? lat[lat.length - 1] : NaN), mean: round(lat.length ? lat.reduce((a, b) => a + b, 0) / lat.length : NaN) },
    calls_total: total, errors, window_errors: windowErrors, error_kinds: errorKinds, error_samples: errorSamples,
    server_pid: server.pid, server_children: serverChildren, server_cpu_us: round(serverUs, 0), server_cpu_us_per_call: round(per(serverUs), 2),
    server_cpu_pct: round(serverUs / (win * 1e4), 2),
    server_cpu_user_us: round(cpu1.user - cpu0.user, 0), server_cpu_sys_us: round(cpu1.sys - cpu0.sys, 0),
    db_cpu_us: dbUs === null ? null : round(dbUs, 0), db_cpu_us_per_call: round(per(dbUs), 2),
    db_cpu_pct: dbUs === null ? null : round(dbUs / (win * 1e4), 2),
    gen_cpu_us: genUs, gen_cpu_us_per_call: round(per(genUs), 2), gen_cpu_pct: round(genUs / (win * 1e4), 2),
    machine_busy_pct: round((100 * (m1.busy - m0.busy)) / Math.max(1, m1.total - m0.total), 2),
    loadavg_start: loadStart, loadavg_end: loadavg1(),
    cpu_tick_us: tickUs, cores: os.cpus().length, node: process.version,
    client: opts.client, craftd: craftdBin, craftd_flags: server.flags, accounts: env.accounts.length, password_cost: opts["password-cost"],
  };
  if (opts.json) fs.appendFileSync(opts.json, JSON.stringify(r) + "\n");
  return r;
}

function pgVersion(bin) {
  try { return execFileSync(path.join(bin, "postgres"), ["--version"], { encoding: "utf8" }).trim(); } catch { return "PostgreSQL"; }
}

// --- one backend -----------------------------------------------------------------------------
async function runBackend(backend) {
  const flags = ["--auth.admin-key", ADMIN_KEY, "--auth.ip-attempts-per-minute", "1000000", "--auth.account-attempts-per-minute", "1000000",
    "--auth.password-cost", opts["password-cost"]];
  let pg = null, dbFlags, dir = null;
  if (backend === "sqlite") {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "craft-api-bench-sqlite-"));
    live.dirs.add(dir);
    dbFlags = ["--store.backend", "sqlite", "--store.sqlite-path", path.join(dir, "craft.db")];
  } else {
    if (pgMissingReason) throw new Error(pgMissingReason);
    progress(`[${backend}] starting PostgreSQL (initdb)`);
    pg = live.pg = await startPostgres();
    const db = await pg.createDatabase("craft_bench");
    dbFlags = ["--store.backend", "postgres", "--store.postgres-url", pg.url(db)];
  }
  const results = [];
  try {
    progress(`[${backend}] starting craftd`);
    const server = (live.craftd = await startCraftd([...dbFlags, ...flags]));
    server.flags = ["--http-port", "0", "--tcp-port", "0", "--shards", "2", ...dbFlags, ...flags]
      .join(" ").replace(ADMIN_KEY, "<random>").replace(/postgresql:\/\/\S+/, "postgresql://craft@127.0.0.1:<port>/craft_bench");
    if (opts["pid-file"]) fs.appendFileSync(opts["pid-file"], `${server.pid} craftd\n`);
    console.log(`\n${backend}: craftd pid ${server.pid}, ${server.httpUrl}: ${path.relative(ROOT, craftdBin) || craftdBin} ${server.flags}` +
      (pg ? `\n${backend}: ${pgVersion(pg.bin)} (${pg.bin}), postmaster pid ${pg.postmasterPid()}, fsync=off (tests/api/lib/pg.mjs)` : ""));
    progress(`[${backend}] creating ${nAccounts} accounts, ${nAccounts * SLOTS} objects, ${EMAIL_ACCOUNTS} email accounts, a leaderboard`);
    const env = await prepare(server.httpUrl);
    clearProgress();
    printHeader();
    for (const scenario of scenarios) {
      for (const c of concurrencies) {
        if (interrupted) return results;
        if (server.exit) throw new Error(`craftd exited (${JSON.stringify(server.exit)}); stderr:\n${server.stderr}`);
        const r = await runOne(backend, server, pg, env, scenario, c);
        printRow(r);
        for (const e of r.error_samples) {
          const msg = `  error: ${e.request}\n      -> ${e.response}`;
          console.log(msg);
          if (!process.stdout.isTTY) console.error(msg);
        }
        if (r.errors > r.error_samples.length) console.log(`  ... ${r.errors} errors in all: ${JSON.stringify(r.error_kinds)}`);
        results.push(r);
      }
    }
    clearProgress();
    try {
      await server.stop();
    } catch (e) {
      console.log(`${backend}: craftd did not stop cleanly: ${e.message.split("\n")[0]}`);
      console.error(e.message);
    }
    live.craftd = null;
  } finally {
    if (live.craftd && !live.craftd.exit) await live.craftd.stop().catch(() => {});
    live.craftd = null;
    if (pg) await pg.stop();
    live.pg = null;
    if (dir) {
      fs.rmSync(dir, { recursive: true, force: true });
      live.dirs.delete(dir);
    }
  }
  return results;
}

// --- main ------------------------------------------------------------------------------------
const started = performance.now();
console.log(`api-bench: ${backends.join(", ")} × ${scenarios.join(", ")} × concurrency ${concurrencies.join(", ")}; ` +
  `${warmup} s warmup + ${duration} s window per run; client ${opts.client === "http" ? "node:http (no agent)" : "fetch"}, ` +
  `node ${process.version}, ${os.cpus().length} cores, load average ${loadavg1()}`);
let failed = false;
for (const b of backends) {
  if (interrupted) break;
  try {
    await runBackend(b);
  } catch (e) {
    failed = true;
    clearProgress();
    console.log(`api-bench: ${b}: ${e.message}`);
    console.error(`api-bench: ${b}: ${e.stack}`);
  }
}
console.log(`\napi-bench: done in ${((performance.now() - started) / 1000).toFixed(0)} s, load average ${loadavg1()}`);
process.exit(failed ? 1 : 0);
