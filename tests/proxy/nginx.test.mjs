// craftd behind Debian's nginx, as docs/deploy.md sets it up: the test runs
// docs/deploy/nginx-craft.conf itself (port, certificate and upstream substituted) with a
// self-signed certificate made by the openssl CLI, in front of a real craftd with
// server.trusted_proxies = 127.0.0.1. Clients bind 127.0.0.x source addresses so the per-IP
// limits have several "players" to tell apart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import https from "node:https";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { skipReason, startCraftd, freePort } from "../js/lib/craftd.mjs";
import { Client, TcpClient, unb64 } from "../js/lib/client.mjs";
import { deployFile, nginxBinary, selfSigned, startNginx, substitute } from "./nginx.mjs";

const opts = { skip: skipReason || (!nginxBinary && process.env.CI !== "true" ? "nginx is not installed (scripts/setup)" : false) };


// One HTTP(S) request from `localAddress`; resolves {status, text}.
function request(url, { method = "GET", body, localAddress, ca, headers = {} } = {}) {
  const u = new URL(url);
  const lib = u.protocol === "https:" ? https : http;
  const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
  if (payload) Object.assign(headers, { "content-type": "application/json", "content-length": payload.length });
  return new Promise((resolve, reject) => {
    const req = lib.request(url, { method, headers, localAddress, ca, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(10000, () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(payload ?? undefined);
  });
}

// docs/deploy/nginx-craft.conf and nginx-craft-stream.conf with port, certificate and upstream substituted.
function deployConfig({ port, upstreamPort, tcpPort, upstreamTcpPort, cert, key }) {
  const file = "docs/deploy/nginx-craft.conf";
  let site = deployFile("nginx-craft.conf");
  site = substitute(site, "listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`, file);
  site = substitute(site, "server 127.0.0.1:7777;", `server 127.0.0.1:${upstreamPort};`, file);
  site = substitute(site, "/etc/letsencrypt/live/game.example.com/fullchain.pem", cert, file);
  site = substitute(site, "/etc/letsencrypt/live/game.example.com/privkey.pem", key, file);
  const sfile = "docs/deploy/nginx-craft-stream.conf";
  let stream = deployFile("nginx-craft-stream.conf");
  stream = substitute(stream, "listen 7778;", `listen 127.0.0.1:${tcpPort};`, sfile);
  stream = substitute(stream, "proxy_pass 127.0.0.1:7779;", `proxy_pass 127.0.0.1:${upstreamTcpPort};`, sfile);
  return { port, http: site, stream };
}

const metric = (text, name) => {
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
};

let dir, craftd, nginx, ca, proxyUrl, httpsUrl, proxyTcpPort;

before(async () => {
  if (opts.skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "craft-nginx-"));
  fs.chmodSync(dir, 0o755);
  const { cert, key } = selfSigned(dir);
  ca = fs.readFileSync(cert);
  craftd = await startCraftd([
    "--server.trusted-proxies", "127.0.0.1",
    "--limits.max-connections-per-ip", "2",
    "--auth.ip-attempts-per-minute", "2",
    "--store.sqlite-path", ":memory:",
  ]);
  const port = await freePort();
  proxyTcpPort = await freePort();
  nginx = await startNginx(dir, deployConfig({ port, upstreamPort: craftd.http, tcpPort: proxyTcpPort, upstreamTcpPort: craftd.tcp, cert, key }));
  proxyUrl = `wss://127.0.0.1:${port}/ws`;
  httpsUrl = `https://127.0.0.1:${port}`;
});

after(async () => {
  await nginx?.stop();
  await craftd?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

// Clients bind a chosen source address, trust the test's certificate, and may add upgrade headers.
const viaNginx = (localAddress, headers) => new Client(proxyUrl, { wsOptions: { localAddress, ca, headers } }).connect();
const direct = (localAddress, headers) => new Client(craftd.url, { wsOptions: { localAddress, headers } }).connect();

test("the HTTP API and /healthz answer through nginx over TLS; /metrics stays private", opts, async () => {
  const health = await request(`${httpsUrl}/healthz`, { ca, localAddress: "127.0.0.5" });
  assert.equal(health.status, 200, nginx.log());
  assert.equal(health.text, "ok\n");
  const auth = await request(`${httpsUrl}/v1/auth/device`, {
    method: "POST", ca, localAddress: "127.0.0.5", body: { deviceId: "nginx-test-device-1", create: true, username: "via_nginx" },
  });
  assert.equal(auth.status, 200, auth.text);
  assert.ok(JSON.parse(auth.text).token, auth.text);
  assert.equal((await request(`${httpsUrl}/metrics`, { ca, localAddress: "127.0.0.5" })).status, 404);
});

test("the auth rate limiter keys on the player's address, not nginx's", opts, async () => {
  // auth.ip_attempts_per_minute = 2: 127.0.0.6 spends its two, then is refused...
  const call = (from, n) => request(`${httpsUrl}/v1/auth/device`, {
    method: "POST", ca, localAddress: from, body: { deviceId: `nginx-test-device-${from}-${n}`, create: true },
  });
  assert.equal((await call("127.0.0.6", 1)).status, 200);
  assert.equal((await call("127.0.0.6", 2)).status, 200);
  assert.equal((await call("127.0.0.6", 3)).status, 429);
  // ...while 127.0.0.7, behind the same nginx, still may.
  assert.equal((await call("127.0.0.7", 1)).status, 200);
});

test("wss through nginx: hello, join and room_data; the per-IP limit counts players, not nginx", opts, async () => {
  const ann = await viaNginx("127.0.0.2");
  const bob = await viaNginx("127.0.0.2");
  await ann.hello("ann");
  await bob.hello("bob");
  const room = (await ann.joinOrCreate("relay")).roomId;
  assert.equal((await bob.joinOrCreate("relay")).roomId, room);
  ann.send(room, 7, "through nginx");
  const got = (await bob.waitFor((m) => m.roomData)).roomData;
  assert.equal(got.op, 7);
  assert.equal(unb64(got.data).toString(), "through nginx");

  // limits.max_connections_per_ip = 2: a third socket from 127.0.0.2 is upgraded, then 1013...
  const third = await viaNginx("127.0.0.2");
  assert.equal(await third.closed, 1013);
  assert.equal(third.disconnect?.code, 1013);
  // ...and so is one that claims another address in its own X-Forwarded-For: nginx appends
  // the real one, and craftd reads from the right.
  const liar = await viaNginx("127.0.0.2", { "X-Forwarded-For": "203.0.113.50" });
  assert.equal(await liar.closed, 1013);
  // Another player behind the same nginx is not affected.
  const cid = await viaNginx("127.0.0.3");
  assert.ok((await cid.hello("cid")).sessionId, "a player from 127.0.0.3 gets a welcome");
  // The two players still talk.
  bob.send(room, 8, "still here");
  assert.equal((await ann.waitFor((m) => m.roomData)).roomData.op, 8);
  for (const c of [ann, bob, cid]) await c.close();
});

test("X-Forwarded-For from an untrusted peer is ignored: counted under its own address", opts, async () => {
  // Straight to craftd from 127.0.0.4 (not a trusted proxy), each socket naming someone else.
  const a = await direct("127.0.0.4", { "X-Forwarded-For": "198.51.100.1" });
  const b = await direct("127.0.0.4", { "X-Forwarded-For": "198.51.100.2" });
  await a.hello("a");
  await b.hello("b");
  const c = await direct("127.0.0.4", { "X-Forwarded-For": "198.51.100.3" });
  assert.equal(await c.closed, 1013);
  await a.close();
  await b.close();
});

test("a trusted proxy's malformed or overlong X-Forwarded-For is answered 400 and counted", opts, async () => {
  const before = metric((await request(`${craftd.httpUrl}/metrics`)).text, "craft_forwarded_for_rejected_total");
  // From 127.0.0.1, the trusted address: the rightmost entries are read, and must be addresses.
  for (const xff of ["not-an-address", "198.51.100.1, 127.0.0.1:8080", "x".repeat(100), "198.51.100.1,,127.0.0.1"]) {
    const r = await request(`${craftd.httpUrl}/healthz`, { localAddress: "127.0.0.1", headers: { "X-Forwarded-For": xff } });
    assert.equal(r.status, 400, xff);
  }
  // More than limits.max_forwarded_hops (8) trusted entries.
  const hops = Array(9).fill("127.0.0.1").join(", ");
  assert.equal((await request(`${craftd.httpUrl}/healthz`, { localAddress: "127.0.0.1", headers: { "X-Forwarded-For": hops } })).status, 400);
  // Garbage left of the client's entry is the client's own and never read.
  const ok = await request(`${craftd.httpUrl}/healthz`, { localAddress: "127.0.0.1", headers: { "X-Forwarded-For": "garbage, 198.51.100.9" } });
  assert.equal(ok.status, 200);
  const text = (await request(`${craftd.httpUrl}/metrics`)).text;
  assert.equal(metric(text, "craft_forwarded_for_rejected_total"), before + 5);
  assert.ok(metric(text, "craft_forwarded_for_total") >= 10, "requests through nginx were counted as forwarded");
});

test("the TCP port through nginx's stream module: the PROXY header names each player", opts, async () => {
  const viaStream = (localAddress) => new TcpClient(proxyTcpPort, "127.0.0.1", null, { localAddress }).connect();
  const a = await viaStream("127.0.0.8");
  const b = await viaStream("127.0.0.8");
  await a.hello("a");
  await b.hello("b");
  const room = (await a.joinOrCreate("relay")).roomId;
  assert.equal((await b.joinOrCreate("relay")).roomId, room);
  a.send(room, 9, "tcp through nginx");
  assert.equal(unb64((await b.waitFor((m) => m.roomData)).roomData.data).toString(), "tcp through nginx");
  // limits.max_connections_per_ip = 2 for 127.0.0.8, not for nginx: a third is 1013...
  const c = await viaStream("127.0.0.8");
  assert.equal(await c.closed, 1013);
  // ...and 127.0.0.9 behind the same nginx connects.
  const d = await viaStream("127.0.0.9");
  assert.ok((await d.hello("d")).sessionId);
  for (const x of [a, b, d]) await x.close();
  const text = (await request(`${craftd.httpUrl}/metrics`)).text;
  assert.ok(metric(text, "craft_proxy_protocol_total") >= 4, "each stream connection came with a PROXY header");
});

test("PROXY headers: v1 and v2 from a trusted peer are read; from anyone else they are not; bad ones close 1002", opts, async () => {
  const v1 = (ip) => Buffer.from(`PROXY TCP4 ${ip} 127.0.0.1 40000 7778\r\n`);
  const v2 = (ip) => Buffer.concat([
    Buffer.from("0d0a0d0a000d0a515549540a", "hex"), Buffer.from([0x21, 0x11, 0, 12]),
    Buffer.from(ip.split(".").map(Number)), Buffer.from([127, 0, 0, 1, 0x9c, 0x40, 0x1e, 0x62]),
  ]);
  // From 127.0.0.1 (trusted), by hand: two with v1 and one with v2 all name 198.51.100.20.
  const tcp = (localAddress, preamble) => new TcpClient(craftd.tcp, "127.0.0.1", null, { localAddress, preamble }).connect();
  const p1 = await tcp("127.0.0.1", v1("198.51.100.20"));
  const p2 = await tcp("127.0.0.1", v2("198.51.100.20"));
  await p1.hello("p1");
  await p2.hello("p2");
  const p3 = await tcp("127.0.0.1", v1("198.51.100.20"));
  assert.equal(await p3.closed, 1013, "the third connection of 198.51.100.20 is over the per-IP limit");
  // A trusted peer may also speak craft directly (no header).
  const plain = await tcp("127.0.0.1");
  assert.ok((await plain.hello("plain")).sessionId);
  // A malformed header from the trusted peer: close 1002.
  const before = metric((await request(`${craftd.httpUrl}/metrics`)).text, "craft_forwarded_for_rejected_total");
  const bad = await tcp("127.0.0.1", Buffer.from("PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n"));
  assert.equal(await bad.closed, 1002);
  assert.equal(metric((await request(`${craftd.httpUrl}/metrics`)).text, "craft_forwarded_for_rejected_total"), before + 1);
  // From 127.0.0.4 (untrusted) the header is just bytes: as a length prefix it is far too large.
  const liar = await tcp("127.0.0.4", v1("198.51.100.30"));
  assert.equal(await liar.closed, 1009);
  for (const x of [p1, p2, plain]) await x.close();
});
