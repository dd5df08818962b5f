// TLS on both ports (tls.cert_file / tls.key_file) against a real craftd: node's ws over wss,
// https for /healthz and the HTTP API, node's tls on the TCP port, a certificate reload on
// SIGHUP, real Chromium over https + wss, and hostile input before the handshake.
// Certificates are made here with the openssl CLI. ws comes from tests/js, playwright-core
// from tests/browser (their `npm ci`, run by scripts/setup).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { fileURLToPath } from "node:url";
import { Client, TcpClient, unb64 } from "../js/lib/client.mjs";
import { startCraftd, skipReason } from "../js/lib/craftd.mjs";
import { ResumableClient } from "../js/lib/resumable.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const examples = path.resolve(here, "../../examples");
const CHROMIUM = "/usr/bin/chromium";
const PLAYWRIGHT = path.resolve(here, "../browser/node_modules/playwright-core/index.mjs");
const browserMissing = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (scripts/setup installs it)`
  : !existsSync(PLAYWRIGHT) ? "tests/browser/node_modules is missing (npm ci there)"
  : !existsSync(path.join(examples, "sdk/craft.js")) ? "examples/sdk/craft.js is missing (scripts/build makes it)"
  : false;
const browserSkip = skipReason || (browserMissing && process.env.CI !== "true" ? browserMissing : false);
const opts = { skip: skipReason };
const HANDSHAKE_TIMEOUT_MS = 1500;

let dir, server, certA, certB;

// A self-signed certificate for localhost/127.0.0.1; it is its own CA for the clients.
function makeCert(name) {
  const cert = path.join(dir, `${name}-cert.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=craft test ${name}`,
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
  const pem = readFileSync(cert);
  const spki = crypto.createPublicKey(readFileSync(key)).export({ type: "spki", format: "der" });
  return { cert, key, pem, fingerprint: new crypto.X509Certificate(pem).fingerprint256,
           spkiHash: crypto.createHash("sha256").update(spki).digest("base64") };
}

before(async () => {
  if (skipReason) return;
  dir = mkdtempSync(path.join(os.tmpdir(), "craft-tls-"));
  certA = makeCert("a");
  certB = makeCert("b");
  // craftd reads these two paths; the reload test overwrites them with certificate B.
  copyFileSync(certA.cert, path.join(dir, "cert.pem"));
  copyFileSync(certA.key, path.join(dir, "key.pem"));
  server = await startCraftd(["--tls.cert-file", path.join(dir, "cert.pem"), "--tls.key-file", path.join(dir, "key.pem"),
    "--static-dir", examples, "--store.sqlite-path", ":memory:",
    "--limits.handshake-timeout-ms", String(HANDSHAKE_TIMEOUT_MS)]);
});
after(async () => {
  if (server) assert.equal((await server.stop()).code, 0);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const ca = () => [certA.pem, certB.pem];

function httpsRequest(pathname, { method = "GET", body, base = server.httpUrl } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(`${base}${pathname}`, { method, ca: ca(), agent: false,
      headers: body ? { "content-type": "application/json", "content-length": Buffer.byteLength(body) } : {} }, (res) => {
      let text = "";
      res.on("data", (c) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function metric(name) {
  const { text } = await httpsRequest("/metrics");
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  assert.ok(m, `${name} in /metrics`);
  return Number(m[1]);
}

// The certificate a fresh TLS connection to `port` is shown.
function peerFingerprint(port) {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ port, host: "127.0.0.1", ca: ca() }, () => {
      const fp = s.getPeerCertificate().fingerprint256;
      s.end();
      resolve(fp);
    });
    s.on("error", reject);
  });
}

const isRoomData = (m) => m.roomData;

test("the server says https and refuses plaintext clients nothing but TLS", opts, async () => {
  assert.match(server.url, /^wss:/);
  assert.equal(await peerFingerprint(server.http), certA.fingerprint);
  assert.equal(await peerFingerprint(server.tcp), certA.fingerprint);
});

test("wss: hello, join, room_data between two ws clients", opts, async () => {
  const ann = await new Client(server.url, { wsOptions: { ca: ca() } }).connect();
  const bob = await new Client(server.url, { wsOptions: { ca: ca() } }).connect();
  await ann.hello("ann");
  await bob.hello("bob");
  const room = (await ann.joinOrCreate("relay")).roomId;
  assert.equal((await bob.joinOrCreate("relay")).roomId, room);
  // Larger than one TLS record, so the coalescing and record splitting are both used.
  const big = crypto.randomBytes(40000);
  ann.send(room, 7, big);
  for (let op = 100; op < 150; ++op) ann.send(room, op, String(op));
  const got = (await bob.waitFor(isRoomData)).roomData;
  assert.equal(got.op, 7);
  assert.ok(unb64(got.data).equals(big));
  for (let op = 100; op < 150; ++op) assert.equal((await bob.waitFor(isRoomData)).roomData.op, op);
  await ann.close();
  await bob.close();
});

// A resume moves the new connection's socket, TLS session included, to the shard that owns
// the session (docs/architecture.md, "Sessions outlive connections").
test("resume over TLS (wss and the TCP port): the session comes back with what it missed", opts, async () => {
  for (const transport of ["ws", "tcp"]) {
    const a = new ResumableClient(transport === "tcp" ? server.tcp : server.url,
      transport === "tcp" ? { transport, tlsOptions: { ca: ca() } } : { format: "binary", wsOptions: { ca: ca() } });
    await a.connect();
    const welcome = await a.hello(`tls-${transport}`);
    const room = (await a.create("relay")).roomId;
    const b = await new Client(server.url, { wsOptions: { ca: ca() } }).connect();
    await b.hello("watcher");
    await b.join(room);
    await a.waitFor((m) => m.presence?.joins?.length > 0);
    a.cut("reset");
    await b.waitFor((m) => m.presence?.dropped?.length > 0);
    for (let i = 1; i <= 5; i++) b.send(room, 1, `missed-${i}`);
    const w = await a.resume();
    assert.equal(w.resumed, true, transport);
    assert.equal(String(w.sessionId), String(welcome.sessionId));
    for (let i = 1; i <= 5; i++) {
      const got = await a.waitFor(isRoomData);
      assert.equal(unb64(got.roomData.data).toString(), `missed-${i}`, transport);
    }
    await b.waitFor((m) => m.presence?.resumed?.length > 0);
    a.send(room, 2, "back over TLS");
    assert.equal(unb64((await b.waitFor(isRoomData)).roomData.data).toString(), "back over TLS");
    await a.close();
    await b.close();
  }
});

test("https: GET /healthz and an HTTP API call", opts, async () => {
  assert.deepEqual(await httpsRequest("/healthz"), { status: 200, text: "ok\n" });
  const auth = await httpsRequest("/v1/auth/device", { method: "POST",
    body: JSON.stringify({ deviceId: "tls-test-device-0001", create: true }) });
  assert.equal(auth.status, 200, auth.text);
  assert.ok(JSON.parse(auth.text).token, auth.text);
});

test("TCP port: TLS, then length-prefixed protobuf frames", opts, async () => {
  const t = await new TcpClient(server.tcp, "127.0.0.1", { ca: ca() }).connect();
  const welcome = await t.hello("tcp-over-tls");
  assert.ok(welcome.sessionId);
  assert.equal((await t.ping("42")).clientTimeUs, "42");
  const room = (await t.joinOrCreate("relay")).roomId;
  assert.match(room, /^[A-Za-z0-9]{12}$/);
  await t.close();
});

test("SIGHUP reloads the certificate: open connections go on, new ones see the new one; a bad file keeps it", opts, async () => {
  const old = await new Client(server.url, { wsOptions: { ca: ca() } }).connect();
  await old.hello("before-reload");
  const oldTcp = await new TcpClient(server.tcp, "127.0.0.1", { ca: ca() }).connect();
  await oldTcp.hello("tcp-before-reload");
  assert.equal(await peerFingerprint(server.http), certA.fingerprint);

  copyFileSync(certB.cert, path.join(dir, "cert.pem"));
  copyFileSync(certB.key, path.join(dir, "key.pem"));
  process.kill(server.pid, "SIGHUP");
  let seen;
  for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
    seen = await peerFingerprint(server.http);
    if (seen === certB.fingerprint) break;
    await new Promise((r) => setTimeout(r, 50));  // the reload runs on craftd's signal thread
  }
  assert.equal(seen, certB.fingerprint, "a new connection after SIGHUP sees certificate B");
  assert.equal(await peerFingerprint(server.tcp), certB.fingerprint);
  // The connections from before the reload still work, on their old session.
  assert.ok((await old.ping("1")).clientTimeUs === "1");
  assert.ok((await oldTcp.ping("2")).clientTimeUs === "2");
  assert.equal(old.closeCode, null);

  // A broken file: the reload fails, the server keeps certificate B and keeps serving.
  writeFileSync(path.join(dir, "cert.pem"), "not a certificate\n");
  process.kill(server.pid, "SIGHUP");
  await new Promise((r) => setTimeout(r, 300));  // give the signal thread time to try (and fail)
  assert.equal(await peerFingerprint(server.http), certB.fingerprint);
  assert.ok((await old.ping("3")).clientTimeUs === "3");
  copyFileSync(certB.cert, path.join(dir, "cert.pem"));
  await old.close();
  await oldTcp.close();
});

test("Chromium loads an example page over https and plays over wss", { skip: browserSkip }, async () => {
  if (browserMissing) assert.fail(browserMissing);
  const { chromium } = await import(PLAYWRIGHT);
  // Trust exactly our test keys, by the hash of their public key (SPKI), nothing else.
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           `--ignore-certificate-errors-spki-list=${certA.spkiHash},${certB.spkiHash}`] });
  try {
    const pages = [];
    for (const name of ["Alice", "Bob"]) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`https://127.0.0.1:${server.http}/chat/`);
      assert.equal(await page.evaluate(() => location.protocol), "https:");
      await page.fill("#name", name);
      await page.click("#join");
      await page.waitForSelector("#text:not([disabled])", { timeout: 10000 });
      pages.push({ page, errors });
    }
    const [a, b] = pages;
    await a.page.waitForFunction(() => document.getElementById("members").textContent.includes("Bob"));
    await a.page.fill("#text", "hello over wss");
    await a.page.press("#text", "Enter");
    await b.page.waitForFunction(() => document.getElementById("log").textContent.includes("Alice: hello over wss"),
      null, { timeout: 5000 });
    assert.deepEqual([...a.errors, ...b.errors], []);
  } finally {
    await browser.close();
  }
});

// Raw bytes to the TLS port; resolves with what came back and how long until the server closed.
function rawExchange(port, bytes, { waitMs = 8000 } = {}) {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(port, "127.0.0.1", () => { if (bytes.length) s.write(bytes); });
    let got = Buffer.alloc(0);
    s.on("data", (c) => (got = Buffer.concat([got, c])));
    s.on("error", () => {});
    const timer = setTimeout(() => (s.destroy(), resolve({ got, closedAfterMs: null })), waitMs);
    s.on("close", () => (clearTimeout(timer), resolve({ got, closedAfterMs: Date.now() - started })));
  });
}

test("hostile input before and during the handshake closes that connection and nothing else", opts, async () => {
  const failuresBefore = await metric("craft_tls_handshake_failures_total");
  // A slow handshake: a record header and then silence. It is closed at the handshake timeout,
  // and meanwhile the server serves others.
  const slow = rawExchange(server.http, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01]));
  const silent = rawExchange(server.tcp, Buffer.alloc(0));

  const garbage = await rawExchange(server.http, Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 7 + 3) & 0xff)));
  assert.ok(garbage.closedAfterMs !== null && garbage.closedAfterMs < 3000, "garbage instead of a ClientHello: closed");
  assert.ok(!garbage.got.toString("latin1").includes("HTTP/"), "no plaintext answer");

  const plain = await rawExchange(server.http, Buffer.from("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  assert.ok(plain.closedAfterMs !== null && plain.closedAfterMs < 3000, "plaintext HTTP on the TLS port: closed");
  assert.ok(!plain.got.toString("latin1").includes("ok\n"), "plaintext HTTP gets no content");

  // A record header announcing 64 KB (TLS allows 16 KB + 2 KB), then that much junk.
  const huge = await rawExchange(server.tcp, Buffer.concat([Buffer.from([0x16, 0x03, 0x03, 0xff, 0xff]), Buffer.alloc(65535, 1)]));
  assert.ok(huge.closedAfterMs !== null && huge.closedAfterMs < 3000, "oversized record: closed");

  // Renegotiation (TLS 1.2; 1.3 has none) is refused; the server goes on.
  const reneg = await new Promise((resolve) => {
    const s = tls.connect({ port: server.http, host: "127.0.0.1", ca: ca(), maxVersion: "TLSv1.2" }, () => {
      assert.equal(s.getProtocol(), "TLSv1.2");
      const timer = setTimeout(() => (s.destroy(), resolve("no answer")), 5000);
      s.on("close", () => (clearTimeout(timer), resolve("closed")));
      s.on("error", () => {});
      const started = s.renegotiate({ rejectUnauthorized: false }, (err) => {
        clearTimeout(timer);
        s.destroy();
        resolve(err ? "refused" : "renegotiated");
      });
      if (!started) (clearTimeout(timer), s.destroy(), resolve("refused"));
    });
    s.on("error", () => {});
  });
  assert.notEqual(reneg, "renegotiated");

  // While the slow handshakes wait, everyone else is served.
  assert.deepEqual(await httpsRequest("/healthz"), { status: 200, text: "ok\n" });
  const t = await new TcpClient(server.tcp, "127.0.0.1", { ca: ca() }).connect();
  assert.ok((await t.hello("during-slow-handshakes")).sessionId);
  await t.close();

  for (const [what, p] of [["slow handshake", slow], ["silent connection", silent]]) {
    const r = await p;
    assert.ok(r.closedAfterMs !== null, `${what}: closed by the server`);
    assert.ok(r.closedAfterMs >= HANDSHAKE_TIMEOUT_MS - 100 && r.closedAfterMs < HANDSHAKE_TIMEOUT_MS + 4000,
      `${what}: closed at the handshake timeout, after ${r.closedAfterMs} ms`);
  }
  const failures = await metric("craft_tls_handshake_failures_total");
  assert.ok(failures - failuresBefore >= 5, `craft_tls_handshake_failures_total went up by ${failures - failuresBefore}`);
  assert.ok(await metric("craft_tls_handshakes_total") > 0);
});

test("a missing or bad certificate file stops craftd with a message naming the file", opts, async () => {
  const run = (flags) => new Promise((resolve) => {
    const child = spawn(process.env.CRAFTD, ["--http-port", "0", "--tcp-port", "0", "--store.backend", "none", ...flags],
      { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
    child.on("exit", (code) => (clearTimeout(timer), resolve({ code, out })));
  });
  const missing = path.join(dir, "no-such-cert.pem");
  let r = await run(["--tls.cert-file", missing, "--tls.key-file", certA.key]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /cannot start: tls\.cert_file .*no-such-cert\.pem: cannot open the file/);
  const junk = path.join(dir, "junk.pem");
  writeFileSync(junk, "junk\n");
  r = await run(["--tls.cert-file", certA.cert, "--tls.key-file", junk]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /tls\.key_file .*junk\.pem: not a PEM private key/);
  r = await run(["--tls.cert-file", certA.cert, "--tls.key-file", certB.key]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /tls\.key_file .*b-key\.pem: does not match the certificate/);
  r = await run(["--tls.cert-file", certA.cert]);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /tls\.cert_file and tls\.key_file must both be set/);
});

test("over TLS a client that does not read is closed 4002 at limits.send_queue_bytes and still reads why", opts, async () => {
  const s = await startCraftd(["--tls.cert-file", certA.cert, "--tls.key-file", certA.key, "--store.backend", "none",
    "--limits.send-queue-bytes", "200000", "--limits.messages-per-second", "100000", "--limits.message-burst", "100000"]);
  try {
    const wsOptions = { ca: ca() };
    const reader = await new Client(s.url, { wsOptions }).connect();
    await reader.hello("slow");
    const room = await reader.create("relay");
    const writer = await new Client(s.url, { wsOptions, format: "binary" }).connect();
    await writer.hello("fast");
    await writer.join(room.roomId);
    reader.ws._socket.pause();  // stop reading; kernel buffers fill, then TLS's pending record and the queue
    const closes4002 = async () => Number(/^craft_closes_total\{code="4002"\} (\d+)/m
      .exec((await httpsRequest("/metrics", { base: s.httpUrl })).text)?.[1] ?? 0);
    const chunk = Buffer.alloc(40000, 7);
    for (let i = 0; i < 1000 && (i % 25 || (await closes4002()) === 0); ++i) writer.send(room.roomId, 1, chunk);
    for (let i = 0; i < 100 && (await closes4002()) === 0; ++i) await new Promise((r) => setTimeout(r, 20));
    reader.ws._socket.resume();
    assert.equal(await reader.closed, 4002);
    assert.equal(reader.disconnect?.code, 4002);
    assert.equal(writer.closeCode, null, "the writer is fine");
    await writer.close();
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});

test("over a connection limit a TLS client on the TCP port is told 1013 after its handshake", opts, async () => {
  const s = await startCraftd(["--tls.cert-file", certA.cert, "--tls.key-file", certA.key, "--store.backend", "none",
    "--limits.max-connections-per-ip", "1"]);
  try {
    const first = await new TcpClient(s.tcp, "127.0.0.1", { ca: ca() }).connect();
    assert.ok((await first.hello("first")).sessionId);
    const second = await new TcpClient(s.tcp, "127.0.0.1", { ca: ca() }).connect();
    assert.equal(await second.closed, 1013);
    assert.match(second.disconnect.reason, /max_connections_per_ip/);
    await first.close();
  } finally {
    assert.equal((await s.stop()).code, 0);
  }
});
