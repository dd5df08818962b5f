// Issue 14 through the JS SDK: a real redis-server and three real craftd nodes. A client
// connected to node C joins rooms that live on node A with the plain calls (joinById,
// joinOrCreate): the SDK follows the server's room_redirect over a connection of its own to
// A, and the Room it resolves with works like any other. Leaving the last room closes that
// connection; node A killed with SIGKILL gives the app "roomsLost" naming the rooms.
// Needs $CRAFTD and redis-server; C must list A's rooms (the shared room directory), else
// the tests skip and say why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, CraftError, decodeText } from "../dist/esm/index.js";
import { skipReason as noCraftd, startCraftd } from "../../../tests/js/lib/craftd.mjs";
import { hasRedis, startRedis } from "../../../tests/js/lib/redis.mjs";

const skipReason = noCraftd || (hasRedis ? false : "redis-server is not installed (scripts/setup)");

let redis;
let nodes = {};
let noDirectory = false;

const node = (id) => startCraftd(["--cluster.redis-url", redis.url, "--cluster.node-id", id, "--store.backend", "none"]);

async function metric(server, name) {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

async function until(what, pred, ms = 5000) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

async function connect(server, name, reconnect = {}) {
  const c = new Client(server.url, { name, WebSocket, reconnect: { minDelayMs: 50, maxDelayMs: 200, ...reconnect } });
  await c.connect();
  return c;
}

const next = (subscribe, pred = () => true, ms = 5000) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => { off(); reject(new Error(`no matching event within ${ms} ms`)); }, ms);
  const off = subscribe((v) => { if (pred(v)) { clearTimeout(timer); off(); resolve(v); } });
});

before(async () => {
  if (skipReason) return;
  redis = await startRedis();
  nodes = { a: await node("node-a"), b: await node("node-b"), c: await node("node-c") };
  assert.ok(await until("3 nodes", async () => {
    for (const n of Object.values(nodes)) if ((await metric(n, "craft_cluster_nodes")) !== 3) return false;
    return true;
  }), "the three nodes see each other");
  // Does C see A's rooms at all (the shared directory)?
  const probe = await connect(nodes.a, "probe");
  const room = await probe.create("relay");
  const look = await connect(nodes.c, "look");
  noDirectory = !(await until("listed", async () => (await look.listRooms("relay")).some((r) => r.roomId === room.id)));
  await room.leave();
  await probe.close();
  await look.close();
});

after(async () => {
  for (const n of Object.values(nodes)) if (!n.exit) await n.stop().catch(() => {});
  await redis?.stop();
});

const cluster = (title, fn) => test(title, { skip: skipReason }, async (t) => {
  if (noDirectory) return t.skip("node C never listed node A's room: no shared room directory in this craftd");
  await fn(t);
});

cluster("joinById on C of a room on A: the SDK follows the redirect and the room works", async () => {
  const owner = await connect(nodes.a, "owner");
  const home = await connect(nodes.c, "player");
  const onA = await owner.create("relay");
  await until("listed", async () => (await home.listRooms("relay")).some((r) => r.roomId === onA.id));

  const joined = next((f) => onA.on("join", f));
  const room = await home.joinById(onA.id);
  assert.equal(room.id, onA.id);
  assert.equal(room.members.size, 2);
  assert.equal((await joined).name, "player");
  // One extra connection, to A, holds the room; the home connection (C) stays as it was.
  assert.deepEqual([...home.nodes.keys()], [nodes.a.url]);
  assert.equal(home.nodes.get(nodes.a.url).state, "connected");
  assert.equal(home.state, "connected");

  // Both ways over A.
  const got = next((f) => onA.onMessage("*", (data, sender) => f({ data, sender })));
  room.send(3, "from C's client");
  assert.equal(decodeText((await got).data), "from C's client");
  const back = next((f) => room.onMessage(4, (data) => f(data)));
  onA.send(4, "from A");
  assert.equal(decodeText(await back), "from A");

  // joinOrCreate on C: the best relay room is A's, so a node connection to A gets it.
  const third = await connect(nodes.c, "third");
  const again = await third.joinOrCreate("relay", undefined, { sort: "-clients" });  // A's room has the most players
  assert.equal(again.id, onA.id);
  assert.deepEqual([...third.nodes.keys()], [nodes.a.url]);
  await third.close();
  assert.equal(third.nodes.size, 0);

  // Leaving the last room there closes the node connection; the home one stays.
  await room.leave();
  assert.ok(await until("retired", () => home.nodes.size === 0), "the node connection is closed once idle");
  assert.equal(home.state, "connected");
  assert.ok((await metric(nodes.c, "craft_cluster_redirects_total")) >= 2);
  await owner.close();
  await home.close();
});

cluster("a room on a node that dies: roomsLost names it and the room gets left(\"node lost\")", async () => {
  // A node of its own, so the other tests keep theirs.
  const d = await node("node-d");
  try {
    assert.ok(await until("4 nodes", async () => (await metric(nodes.c, "craft_cluster_nodes")) === 4));
    const owner = await connect(d, "owner");
    const onD = await owner.create("relay");
    const home = await connect(nodes.c, "player", { nodeMaxAttempts: 3 });
    assert.ok(await until("listed", async () => (await home.listRooms("relay")).some((r) => r.roomId === onD.id)));
    const room = await home.joinById(onD.id);
    const left = next((f) => room.on("left", f), () => true, 15000);
    const lost = next((f) => home.on("roomsLost", f), () => true, 15000);
    process.kill(d.pid, "SIGKILL");
    const info = await lost;
    assert.equal(info.url, d.url);
    assert.deepEqual(info.roomIds, [onD.id]);
    assert.equal(info.reason, "node lost");
    assert.equal(await left, "node lost");
    assert.equal(home.nodes.size, 0);
    assert.equal(home.state, "connected", "the home connection is not affected");
    // The app carries on: a new room, made on C.
    const fresh = await home.create("relay");
    assert.ok(fresh.id);
    assert.equal(home.nodes.size, 0);
    await home.close();
    await owner.close().catch(() => {});
  } finally {
    try {
      process.kill(d.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});

cluster("a private room on A is joined by id from C; a room nobody has is ROOM_NOT_FOUND", async () => {
  const owner = await connect(nodes.a, "owner");
  const onA = await owner.create("relay", undefined, { private: true });
  const home = await connect(nodes.c, "player");
  // Not listed anywhere, but the id is the secret: the directory still locates it (a room is
  // published asynchronously, so the first tries may not find it yet).
  let room;
  assert.ok(await until("joined", async () => {
    try {
      room = await home.joinById(onA.id);
      return true;
    } catch (e) {
      if (!(e instanceof CraftError && e.code === "ROOM_NOT_FOUND")) throw e;
      return false;
    }
  }));
  assert.equal(room.members.size, 2);
  await assert.rejects(home.joinById("NoSuchRoom01"), (e) => e instanceof CraftError && e.code === "ROOM_NOT_FOUND");
  await owner.close();
  await home.close();
});

cluster("a match across nodes: the \"match\" event carries roomUrl and joinMatch joins on the room's node", async () => {
  const onA = await connect(nodes.a, "mA");
  const onC = await connect(nodes.c, "mC");
  const ticket = { minCount: 2, maxCount: 2, query: "+mode:xnode", stringProperties: { mode: "xnode" } };
  const found = [onA, onC].map((c) => next((f) => c.matchmaker.on("match", f), () => true, 10000));
  await onA.matchmaker.add(ticket);
  await onC.matchmaker.add(ticket);
  const [ma, mc] = await Promise.all(found);
  assert.equal(ma.roomId, mc.roomId);
  // Exactly one of them is on the room's node; the other is told where the room is.
  const urls = [ma.roomUrl, mc.roomUrl];
  assert.equal(urls.filter((u) => u === "").length, 1, `roomUrl: ${JSON.stringify(urls)}`);
  assert.ok(urls.includes(nodes.a.url) || urls.includes(nodes.c.url), `roomUrl: ${JSON.stringify(urls)}`);
  const ra = await onA.joinMatch(ma);
  const rc = await onC.joinMatch(mc);
  assert.equal(ra.id, rc.id);
  assert.ok(await until("both in", () => ra.members.size === 2 && rc.members.size === 2), "both players are in the match room");
  await onA.close();
  await onC.close();
});

cluster("a node that advertises another node's URL: the SDK follows one redirect, not a loop that fills the room", async () => {
  // node-d says clients reach it at C's URL (a wrong cluster.advertise): C redirects a join of
  // d's room to C itself, again and again; each hop held a seat on d until the room was full.
  const d = await startCraftd(["--cluster.redis-url", redis.url, "--cluster.node-id", "node-d", "--store.backend", "none",
    "--rooms.max-clients", "4", "--cluster.advertise", nodes.c.url]);
  try {
    const owner = await connect(d, "owner");
    const room = await owner.create("relay");
    const home = await connect(nodes.c, "looper");
    assert.ok(await until("listed", async () => (await home.listRooms("relay")).some((r) => r.roomId === room.id)));
    await assert.rejects(home.joinById(room.id), (e) => e.code === "BAD_REPLY" && /cluster\.advertise/.test(e.message));
    // Two seats were held (C's redirect, then C's again for the join with the reservation): the room still has one.
    const other = await connect(d, "other");
    const joined = await other.joinById(room.id);
    assert.equal(joined.id, room.id);
    await Promise.all([owner.close(), home.close(), other.close()]);
  } finally {
    await d.stop();
  }
});
