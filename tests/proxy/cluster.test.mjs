// Issue 14, "kill -9 of node B ... its players recover on A or C", as players see it: a real
// redis-server, three real craftd nodes (a, b, c) and a real nginx in front of them running
// docs/deploy/nginx-craft-cluster.conf (TLS, one address; ports, certificate and node
// addresses substituted). Players use the JS SDK (sdk/js/dist) through nginx only: the shared
// address for their home connection, and each node's path there (cluster.advertise) for
// redirects. Node b is killed with SIGKILL while two players have a room there and one of them
// a matchmaking ticket; the test prints how long each part of the recovery took.
// Needs $CRAFTD, nginx and redis-server (skips, saying which, when one is missing).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { freePort, skipReason as noCraftd, startCraftd } from "../js/lib/craftd.mjs";
import { hasRedis, startRedis } from "../js/lib/redis.mjs";
import { deployFile, nginxBinary, repo, selfSigned, startNginx, substitute } from "./nginx.mjs";
import { Client } from "../../sdk/js/dist/esm/index.js";

const WebSocket = createRequire(path.join(repo, "sdk/js/package.json"))("ws");

// Like nginx.test.mjs: under CI=true a missing nginx fails instead of skipping.
const skip = noCraftd ||
  (!nginxBinary && process.env.CI !== "true" ? "nginx is not installed (scripts/setup)" : false) ||
  (!hasRedis ? "redis-server is not installed (scripts/setup)" : false);

const IDS = ["a", "b", "c"];
let dir, redis, nginx, ca, front;
const nodes = {};
const clients = [];
const prefixes = new Map();  // session id >> 32 -> node id (each node numbers its sessions from a random prefix)

// docs/deploy/nginx-craft-cluster.conf with this run's port, certificate and node addresses.
function clusterConfig(port, httpPorts, cert, key) {
  const file = "docs/deploy/nginx-craft-cluster.conf";
  let site = deployFile("nginx-craft-cluster.conf");
  site = substitute(site, "listen 443 ssl;", `listen 127.0.0.1:${port} ssl;`, file);
  site = substitute(site, "/etc/letsencrypt/live/game.example.com/fullchain.pem", cert, file);
  site = substitute(site, "/etc/letsencrypt/live/game.example.com/privkey.pem", key, file);
  IDS.forEach((id, i) => { site = substitute(site, `127.0.0.1:${7001 + i}`, `127.0.0.1:${httpPorts[id]}`, file); });
  return { port, http: site };
}

// The SDK's socket: node's ws, trusting the test's certificate.
class TlsWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols, { ca });
  }
}

async function metric(server, name) {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

async function until(pred, ms = 5000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

const next = (subscribe, pred = () => true, ms = 10000) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => { off(); reject(new Error(`no matching event within ${ms} ms`)); }, ms);
  const off = subscribe((v) => { if (pred(v)) { clearTimeout(timer); off(); resolve(v); } });
});

async function player(name, url = `${front}/ws`) {
  const c = new Client(url, { name, WebSocket: TlsWebSocket, reconnect: { minDelayMs: 50, maxDelayMs: 200, nodeMaxAttempts: 3 } });
  clients.push(c);
  await c.connect();
  return c;
}
const nodeOf = (client) => prefixes.get(BigInt(client.sessionId) >> 32n);

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "craft-cluster-nginx-"));
  fs.chmodSync(dir, 0o755);
  const { cert, key } = selfSigned(dir);
  ca = fs.readFileSync(cert);
  redis = await startRedis();
  const port = await freePort();
  front = `wss://127.0.0.1:${port}`;
  // a first: it takes the matcher lease, so killing b tests b's tickets, not a new matcher.
  for (const id of IDS) {
    nodes[id] = await startCraftd(["--cluster.redis-url", redis.url, "--cluster.node-id", id, "--store.backend", "none",
      "--cluster.advertise", `${front}/node/${id}/ws`, "--server.trusted-proxies", "127.0.0.1",
      "--matchmaker.interval-ms", "200"]);
    if (id === "a") assert.ok(await until(async () => (await metric(nodes.a, "craft_cluster_matcher_holder")) === 1), "a holds the matcher lease");
  }
  assert.ok(await until(async () => {
    for (const n of Object.values(nodes)) if ((await metric(n, "craft_cluster_nodes")) !== 3) return false;
    return true;
  }), "the three nodes see each other");
  nginx = await startNginx(dir, clusterConfig(port, Object.fromEntries(IDS.map((id) => [id, nodes[id].http])), cert, key));
  // Which node numbers sessions from which prefix: one probe per node, through its path on nginx.
  for (const id of IDS) {
    const probe = await player(`probe-${id}`, `${front}/node/${id}/ws`);
    prefixes.set(BigInt(probe.sessionId) >> 32n, id);
    await probe.close();
  }
  assert.equal(prefixes.size, 3, "three distinct session id prefixes");
});

after(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
  await nginx?.stop();
  for (const n of Object.values(nodes)) {
    if (!n.exit) await n.stop().catch(() => {});
  }
  await redis?.stop();
  if (dir && !process.env.CRAFT_KEEP_TEST_DIR) fs.rmSync(dir, { recursive: true, force: true });
});

test("kill -9 of node b behind nginx: its players are told, land on a or c, rejoin and re-queue", { skip, timeout: 60000 }, async () => {
  // Players through the one address until two are on b and one each on a and c (nginx
  // balances round robin; the session id's prefix names the node).
  const on = { a: [], b: [], c: [] };
  for (let i = 0; i < 30 && (on.a.length < 1 || on.b.length < 2 || on.c.length < 1); i++) {
    const c = await player(`p${i}`);
    on[nodeOf(c)].push(c);
  }
  const [x, y] = on.b;
  const [onA] = on.a;
  const [onC] = on.c;
  assert.ok(x && y && onA && onC, "nginx spread the players over the three nodes");

  // x and y in a room on b; x queues a ticket there that nobody matches yet.
  const roomB = await x.create("relay");
  const yRoom = await y.joinById(roomB.id);
  assert.equal(yRoom.members.size, 2);
  const ticket = { minCount: 2, maxCount: 2, query: "+mode:recover", stringProperties: { mode: "recover" } };
  const deadTicket = await x.matchmaker.add(ticket);
  // A room on a, and a player on c in b's room through a redirect (nginx's /node/b/ws).
  const roomA = await onA.create("relay");
  assert.ok(await until(async () => (await onC.listRooms("relay")).some((r) => r.roomId === roomB.id)), "c lists b's room");
  const cInB = await onC.joinById(roomB.id);
  assert.deepEqual([...onC.nodes.keys()], [`${front}/node/b/ws`]);
  assert.ok(await until(async () => (await onA.listRooms("relay")).some((r) => r.roomId === roomB.id)), "a lists b's room");
  assert.equal(redis.cli("HEXISTS", "craft:tickets", deadTicket), "1");

  const oldX = x.sessionId;
  const seen = new Map();  // what each of x, y, onC was told, with the time since the kill
  let t0 = 0;
  const record = (who, c, event) => c.on(event, (info) => {
    const list = seen.get(who) ?? [];
    list.push({ event, info, ms: Date.now() - t0 });
    seen.set(who, list);
  });
  for (const [who, c] of [["x", x], ["y", y]]) for (const e of ["dropped", "reconnecting", "reconnected", "roomsLost"]) record(who, c, e);
  record("c", onC, "roomsLost");
  const xEnded = next((f) => x.matchmaker.on("ticketEnded", f));
  const xLeft = next((f) => roomB.on("left", f));
  const yLeft = next((f) => yRoom.on("left", f));
  const cLeft = next((f) => cInB.on("left", f));
  const xBack = next((f) => x.on("reconnected", f));
  const yBack = next((f) => y.on("reconnected", f));
  const cLost = next((f) => onC.on("roomsLost", f));

  t0 = Date.now();
  process.kill(nodes.b.pid, "SIGKILL");
  // At once, a player on a queues a ticket that b's dead one would pass: it must wait for a
  // live partner, not be matched with a player who cannot come.
  let aMatch;
  const aMatched = new Promise((resolve) => onA.matchmaker.on("match", (m) => {
    aMatch ??= { match: m, ms: Date.now() - t0 };
    resolve(m);
  }));
  await onA.matchmaker.add(ticket);

  // b's rooms leave the listings of a and c.
  assert.ok(await until(async () => {
    const [la, lc] = await Promise.all([onA.listRooms("relay"), onC.listRooms("relay")]);
    return !la.some((r) => r.roomId === roomB.id) && !lc.some((r) => r.roomId === roomB.id);
  }, 8000), "b's room left the listings");
  const listedMs = Date.now() - t0;

  // b's players: the connection dropped (1006: nginx lost b), the resume was refused on the
  // node they landed on, a new session could not rejoin b's room: "roomsLost" and "left",
  // the ticket ended with the session, then "reconnected".
  const [xb] = await Promise.all([xBack, yBack]);
  for (const [who, c, room, left] of [["x", x, roomB, await xLeft], ["y", y, yRoom, await yLeft]]) {
    const events = seen.get(who);
    const dropped = events.find((e) => e.event === "dropped");
    assert.equal(dropped?.info.code, 1006, `${who}: ${JSON.stringify(events)}`);
    const lost = events.find((e) => e.event === "roomsLost");
    assert.ok(lost, `${who} got roomsLost: ${JSON.stringify(events)}`);
    assert.equal(lost.info.url, `${front}/ws`);
    assert.deepEqual(lost.info.roomIds, [room.id]);
    assert.match(lost.info.reason, /^rejoin failed: (ROOM_NOT_FOUND|UNAVAILABLE)/);
    assert.equal(left, lost.info.reason);
    assert.ok(["a", "c"].includes(nodeOf(c)), `${who} landed on ${nodeOf(c)}`);
    // nginx passed the first attempt on to a live node: b's refusal never reached the player.
    assert.equal(events.filter((e) => e.event === "reconnecting").length, 1, `${who}: ${JSON.stringify(events)}`);
    assert.equal(c.state, "connected");
  }
  assert.notEqual(xb.sessionId, oldX, "a new session");
  assert.deepEqual(await xEnded, { ticket: deadTicket, reason: "session ended" });
  // c's player kept its home connection; its connection to b gave up: "node lost".
  const lostC = await cLost;
  assert.deepEqual(lostC, { url: `${front}/node/b/ws`, roomIds: [roomB.id], reason: "node lost" });
  assert.equal(await cLeft, "node lost");
  assert.equal(onC.state, "connected");

  // b's ticket left the pool (its node's set too) when b was seen dead.
  assert.ok(await until(() => redis.cli("HEXISTS", "craft:tickets", deadTicket) === "0", 8000), "b's ticket left the pool");
  const ticketGoneMs = Date.now() - t0;
  assert.equal(redis.cli("SCARD", "craft:tickets:node:b"), "0");

  // They carry on: joinOrCreate gets a room on a live node, the room on a is joinable.
  const fresh = await x.joinOrCreate("relay");
  assert.ok(fresh.id);
  const freshNode = x.nodes.size === 0 ? nodeOf(x) : [...x.nodes.keys()][0].split("/").at(-2);
  assert.ok(["a", "c"].includes(freshNode), `joinOrCreate's room is on ${freshNode}`);
  assert.ok((await y.listRooms("relay")).some((r) => r.roomId === roomA.id), "a's room is listed");
  const yInA = await y.joinById(roomA.id);
  assert.equal(yInA.id, roomA.id);
  assert.ok(await until(() => roomA.members.has(yInA.sessionId)), "y is in a's room");

  // x queues again and meets the player on a, whose ticket waited: not b's dead ticket.
  assert.equal(aMatch, undefined, `a's ticket was matched ${aMatch?.ms} ms after the kill, with ` +
    `${JSON.stringify(aMatch?.match.players.map((p) => p.sessionId))} (x's old session: ${oldX})`);
  const xMatched = next((f) => x.matchmaker.on("match", f), () => true, 10000);
  await x.matchmaker.add(ticket);
  const [ma, mx] = await Promise.all([aMatched, xMatched]);
  const queuedAgainMs = Date.now() - t0;
  assert.equal(ma.matchId, mx.matchId);
  const players = ma.players.map((p) => p.sessionId).sort();
  assert.deepEqual(players, [onA.sessionId, x.sessionId].sort(), "matched with x's new session, not its old one");
  const [ra, rx] = [await onA.joinMatch(ma), await x.joinMatch(mx)];
  assert.equal(ra.id, rx.id);
  assert.ok(await until(() => ra.members.size === 2 && rx.members.size === 2), "both are in the match room");

  const ms = (who, event) => seen.get(who)?.find((e) => e.event === event)?.ms;
  const reason = (who) => seen.get(who).find((e) => e.event === "roomsLost").info.reason.split(":")[1].trim();
  console.log(`after kill -9 of b (ms): x dropped ${ms("x", "dropped")}, roomsLost ${ms("x", "roomsLost")} ` +
    `(${reason("x")}), reconnected ${ms("x", "reconnected")} on ${nodeOf(x)}; y dropped ${ms("y", "dropped")}, ` +
    `roomsLost ${ms("y", "roomsLost")} (${reason("y")}), reconnected ${ms("y", "reconnected")} on ${nodeOf(y)}; ` +
    `c's connection to b lost ${ms("c", "roomsLost")}; b's room gone from a's and c's listings by ${listedMs}; ` +
    `b's ticket gone from Redis by ${ticketGoneMs}; a's ticket unmatched until x re-queued, matched by ${queuedAgainMs}`);
  assert.ok(listedMs <= 5000, `b's rooms left the listings after ${listedMs} ms (issue 14: within 5 s)`);
});

test("docs/cluster.md's nginx excerpts are lines of docs/deploy/nginx-craft-cluster.conf, the file this test runs", () => {
  const doc = fs.readFileSync(path.join(repo, "docs/cluster.md"), "utf8");
  const at = doc.indexOf("\n## Three nodes behind one address\n");
  assert.ok(at >= 0, "docs/cluster.md has the section");
  const section = doc.slice(at + 1, doc.indexOf("\n## ", at + 1));
  const blocks = [...section.matchAll(/```nginx\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length > 0, "the section shows the configuration");
  const conf = deployFile("nginx-craft-cluster.conf");
  for (const b of blocks) assert.ok(conf.includes(b), `not in docs/deploy/nginx-craft-cluster.conf:\n${b}`);
});
