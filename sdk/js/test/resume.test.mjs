// Session resume (docs/protocol.md §3.2) against a real craftd (set CRAFTD to the binary):
// a TCP proxy between the client and craftd cuts, freezes or refuses connections.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import WebSocket from "ws";
import { Api, Client, CloseCode, CraftError, decodeText } from "../dist/esm/index.js";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

const skip = skipReason;  // set CRAFTD to run against a real craftd; under CI=true its absence fails
const opts = { skip, timeout: 30000 };  // a regression fails instead of hanging
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const next = (subscribe) => new Promise((resolve) => { const off = subscribe((...args) => { off(); resolve(args); }); });
const range = (n) => Array.from({ length: n }, (_, i) => i + 1);
async function until(what, cond, ms = 10000) {
  for (const deadline = Date.now() + ms; !cond(); await sleep(5)) assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
}

// A TCP proxy to craftd's port. cut(): reset every connection through it (what was in flight
// is lost); freeze(): drop, from now on, what the current connections carry one or both ways
// (a half-open link); blocked: refuse new connections.
async function startProxy(targetPort) {
  const pairs = new Set();
  const all = new Set();
  const proxy = {
    blocked: false,
    cut() {
      for (const p of pairs) {
        p.client.resetAndDestroy();
        p.server.resetAndDestroy();
      }
      pairs.clear();
    },
    freeze({ toClient = true, toServer = true } = {}) {
      for (const p of pairs) Object.assign(p, { dropToClient: toClient, dropToServer: toServer });
    },
  };
  const listener = net.createServer((client) => {
    client.on("error", () => {});
    if (proxy.blocked) return client.resetAndDestroy();
    const server = net.connect(targetPort, "127.0.0.1");
    server.on("error", () => {});
    const p = { client, server, dropToClient: false, dropToServer: false };
    pairs.add(p);
    client.on("data", (d) => { if (!p.dropToServer) server.write(d); });
    server.on("data", (d) => { if (!p.dropToClient) client.write(d); });
    all.add(p);
    // A frozen link stays half-open: the close of one side does not reach the other.
    const end = () => {
      pairs.delete(p);
      if (p.dropToClient && p.dropToServer) return;
      client.destroy();
      server.destroy();
    };
    client.on("close", end);
    server.on("close", end);
  });
  await new Promise((r) => listener.listen(0, "127.0.0.1", r));
  proxy.url = `ws://127.0.0.1:${listener.address().port}/ws`;
  proxy.close = () => {
    for (const p of all) { p.client.destroy(); p.server.destroy(); }
    return new Promise((r) => listener.close(r));
  };
  return proxy;
}

// A counter from craftd's /metrics.
async function metric(srv, name) {
  const text = await (await fetch(`${srv.httpUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  const m = line && /^\S+ (\d+)$/.exec(line);
  assert.ok(m, `no ${name} in /metrics`);
  return Number(m[1]);
}

let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

const fast = { minDelayMs: 20, maxDelayMs: 100 };
const client = (url, name, extra = {}) => new Client(url, { name, WebSocket, reconnect: fast, ...extra });
function record(c) {
  const log = { states: [], dropped: [], resumed: [], reconnected: [] };
  c.on("state", ({ state, previous }) => log.states.push(`${previous}>${state}`));
  c.on("dropped", (i) => log.dropped.push(i));
  c.on("resumed", (i) => log.resumed.push(i));
  c.on("reconnected", (i) => log.reconnected.push(i));
  return log;
}
// What a room shows of its members: "drop 7", "resume 7", "leave 7", "join 8".
function watch(room) {
  const seen = [];
  for (const event of ["join", "leave", "drop", "resume"]) room.on(event, (p) => seen.push(`${event} ${p.sessionId}`));
  return seen;
}

for (const format of ["binary", "json"]) {
  test(`${format}: cuts in a busy relay room resume the session; every message once and in order both ways`, opts, async () => {
    const proxy = await startProxy(server.http);
    const ann = client(proxy.url, "ann", { format });
    const bob = client(server.url, "bob", { format, reconnect: { enabled: false } });
    const log = record(ann);
    try {
      await ann.connect();
      await bob.connect();
      const sessionId = ann.sessionId;
      const a = await ann.create("relay");
      const b = await bob.joinById(a.id);
      const bobSaw = watch(b);
      const annGot = [];
      const bobGot = [];
      a.onMessage(1, (d) => annGot.push(Number(decodeText(d))));
      b.onMessage(1, (d) => bobGot.push(Number(decodeText(d))));

      // 200 messages a second each way; three cuts along the way. ann keeps sending while
      // reconnecting: those go out after the resume.
      const replayedBefore = await metric(server, "craft_replayed_messages_total");
      const resumedBefore = await metric(server, "craft_sessions_resumed_total");
      const N = 400;
      for (let i = 1; i <= N; i++) {
        a.send(1, String(i));
        b.send(1, String(i));
        if (i % 100 === 0 && i < N) proxy.cut();
        await sleep(5);
      }
      await until("every message", () => annGot.length >= N && bobGot.length >= N);
      await sleep(300);  // anything doubled would arrive by now
      assert.deepEqual(annGot, range(N));
      assert.deepEqual(bobGot, range(N));

      assert.equal(ann.sessionId, sessionId);
      assert.equal(a.sessionId, sessionId);
      assert.equal(ann.state, "connected");
      assert.ok(log.resumed.length >= 1, "resumed at least once");
      assert.equal(log.dropped.length, log.resumed.length, "each drop ends in a resume");
      assert.deepEqual(log.reconnected, [], "never a new session");
      for (const r of log.resumed) assert.equal(r.sessionId, sessionId);
      assert.ok(log.resumed.some((r) => r.replayed > 0), "messages sent while away were sent again");
      // bob kept sending while ann was away: the server replayed those.
      assert.ok(await metric(server, "craft_replayed_messages_total") > replayedBefore, "the server replayed messages");
      assert.equal(await metric(server, "craft_sessions_resumed_total"), resumedBefore + log.resumed.length);
      for (const d of log.dropped) assert.equal(d.code, 1006);
      assert.deepEqual(log.states, ["disconnected>connecting", "connecting>connected",
        ...log.resumed.flatMap(() => ["connected>reconnecting", "reconnecting>connected"])]);
      // The other member saw ann drop and come back, never leave.
      await until("bob sees the last resume", () => bobSaw.filter((s) => s.startsWith("resume")).length === log.resumed.length);
      assert.ok(bobSaw.every((s) => s === `drop ${sessionId}` || s === `resume ${sessionId}`), bobSaw.join());
      assert.deepEqual([...a.members.keys()].sort(), [ann.sessionId, bob.sessionId].sort());
    } finally {
      await ann.close();
      await bob.close();
      await proxy.close();
    }
  });
}

test("requests pending across a drop are carried out once: the reply replayed, or the request sent again", opts, async () => {
  const proxy = await startProxy(server.http);
  const ann = client(proxy.url, "ann");
  const bob = client(server.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const r1 = await bob.create("relay");
    const r2 = await bob.create("relay");
    const saw1 = watch(r1);
    const saw2 = watch(r2);

    // The server gets the join; its answer is lost with the connection.
    proxy.freeze({ toClient: true, toServer: false });
    const join1 = ann.joinById(r1.id);
    await until("the join reaches the server", () => saw1.length === 1);
    r1.send(5, "right after the join");  // replayed right behind the room_joined
    await sleep(50);
    proxy.cut();
    const a1 = await join1;
    assert.equal(a1.id, r1.id);
    // A listener added after the await still gets it.
    const early = await next((cb) => a1.onMessage(5, cb));
    assert.equal(decodeText(early[0]), "right after the join");

    // The join never reaches the server: sent again after the resume.
    proxy.freeze({ toClient: false, toServer: true });
    const join2 = ann.joinById(r2.id);
    await sleep(100);
    assert.deepEqual(saw2, [], "the server has not seen it");
    proxy.cut();
    const a2 = await join2;
    assert.equal(a2.id, r2.id);

    await until("resumed twice", () => log.resumed.length === 2);
    assert.equal(log.reconnected.length, 0);
    // Joined once each (a second join would have been ALREADY_IN_ROOM): one join, maybe a
    // drop and resume, no leave.
    await sleep(200);
    for (const seen of [saw1, saw2]) {
      assert.equal(seen.filter((s) => s.startsWith("join")).length, 1, seen.join());
      assert.ok(!seen.some((s) => s.startsWith("leave")), seen.join());
    }
    const rooms = await ann.listRooms("relay");
    for (const id of [r1.id, r2.id]) assert.equal(rooms.find((r) => r.roomId === id).clients, 2);
    // And they work.
    const got = next((cb) => r2.onMessage(3, cb));
    a2.send(3, "after");
    assert.equal(decodeText((await got)[0]), "after");
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
  }
});

test("a request made while reconnecting goes out on resume; giving up after maxAttempts is final", opts, async () => {
  const proxy = await startProxy(server.http);
  const ann = client(proxy.url, "ann", { reconnect: { ...fast, maxAttempts: 3 } });
  const log = record(ann);
  try {
    await ann.connect();
    const room = await ann.create("relay");
    proxy.blocked = true;
    proxy.cut();
    await until("the drop", () => log.dropped.length === 1);
    const asked = ann.listRooms("relay");
    proxy.blocked = false;
    const rooms = await asked;
    assert.ok(rooms.some((r) => r.roomId === room.id));
    assert.equal(log.resumed.length, 1);

    // Now the server stays out of reach.
    const left = next((cb) => room.onLeft(cb));
    proxy.blocked = true;
    proxy.cut();
    const pending = ann.listRooms().then(() => assert.fail("answered"), (e) => e);
    await until("disconnected", () => ann.state === "disconnected");
    assert.equal((await left)[0], "disconnected");
    const err = await pending;
    assert.ok(err instanceof CraftError && err.code === "CONNECTION_LOST", String(err));
    assert.deepEqual(log.states.slice(-2), ["connected>reconnecting", "reconnecting>disconnected"]);
    room.send(1, "x");  // a room we are out of ignores sends
    await assert.rejects(ann.listRooms(), (e) => e instanceof CraftError && e.code === "CLOSED");
  } finally {
    await ann.close();
    await proxy.close();
  }
});

test("a silent connection (no pong) is given up and resumed; nothing sent meanwhile is lost", opts, async () => {
  const proxy = await startProxy(server.http);
  const ann = client(proxy.url, "ann", { keepAliveMs: 100, pongTimeoutMs: 200 });
  const bob = client(server.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const a = await ann.create("relay");
    const b = await bob.joinById(a.id);
    const got = [];
    a.onMessage(1, (d) => got.push(Number(decodeText(d))));
    const dropped = next((cb) => ann.on("dropped", cb));
    proxy.freeze();  // half-open: no FIN, no RST, nothing gets through
    for (let i = 1; i <= 20; i++) {
      b.send(1, String(i));
      await sleep(10);
    }
    const [d] = await dropped;
    assert.equal(d.code, 1006);
    assert.match(d.reason, /no pong within 200 ms/);
    await until("the resume", () => log.resumed.length === 1);
    await until("all messages", () => got.length >= 20);
    await sleep(100);
    assert.deepEqual(got, range(20));
    assert.equal(log.reconnected.length, 0);
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
  }
});

test("a session the server no longer holds: a new one, rooms rejoined by id, pending requests rejected", opts, async () => {
  const short = await startCraftd(["--session.resume-window-ms", "300"]);
  const proxy = await startProxy(short.http);
  const ann = client(proxy.url, "ann");
  const bob = client(short.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const oldId = ann.sessionId;
    const a = await ann.create("relay", { team: "red" });
    const bobJoined = next((cb) => a.onJoin(cb));
    const b = await bob.joinById(a.id);
    await bobJoined;
    const bobSaw = watch(b);
    const annSaw = watch(a);
    const got = [];
    a.onMessage(1, (d) => got.push(decodeText(d)));

    proxy.blocked = true;
    proxy.cut();
    await until("the drop", () => log.dropped.length === 1);
    // Asked while reconnecting: kept for a resume that will not come.
    const asked = ann.listRooms().then(() => assert.fail("answered"), (e) => e);
    a.send(1, "lost with the old session");
    await until("bob sees ann leave after the window", () => bobSaw.includes(`leave ${oldId}`));
    proxy.blocked = false;

    await until("reconnected", () => log.reconnected.length === 1);
    const err = await asked;
    assert.ok(err instanceof CraftError && err.code === "CONNECTION_LOST", String(err));
    const newId = ann.sessionId;
    assert.notEqual(newId, oldId);
    assert.deepEqual(log.reconnected, [{ sessionId: newId }]);
    assert.deepEqual(log.resumed, []);
    assert.deepEqual(log.states, ["disconnected>connecting", "connecting>connected", "connected>reconnecting", "reconnecting>connected"]);
    // The same Room object, listeners intact, as the new session.
    assert.equal(a.sessionId, newId);
    assert.deepEqual([...a.members.keys()].sort(), [bob.sessionId, newId].sort());
    assert.deepEqual(annSaw, [], "no join or leave for ourselves, bob was there all along");
    await until("bob sees the new session join", () => bobSaw.includes(`join ${newId}`));
    assert.deepEqual(bobSaw, [`drop ${oldId}`, `leave ${oldId}`, `join ${newId}`]);
    b.send(1, "to the new session");
    await until("the message", () => got.length === 1);
    assert.deepEqual(got, ["to the new session"]);
    const back = next((cb) => b.onMessage(2, cb));
    a.send(2, "from the new session");
    const [data, sender] = await back;
    assert.equal(decodeText(data), "from the new session");
    assert.equal(sender, newId);
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
    await short.stop();
  }
});

test("REPLAY_GAP: what the client never got outgrew the server's buffer; a new session, rooms rejoined", opts, async () => {
  const small = await startCraftd(["--session.replay-buffer-bytes", "1024"]);
  const proxy = await startProxy(small.http);
  const ann = client(proxy.url, "ann");
  const bob = client(small.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const oldId = ann.sessionId;
    const b = await bob.create("relay");
    const seenJoin = next((cb) => b.onJoin(cb));  // before watching: the join presence may trail the reply
    const a = await ann.joinById(b.id);
    await seenJoin;
    const got = [];
    a.onMessage(1, (d) => got.push(decodeText(d)));
    const gapsBefore = await metric(small, 'craft_resume_failures_total{reason="gap"}');
    // The server thinks these reached ann (the link is up for it) and keeps them unacked,
    // but only 1 KiB of them: the oldest go.
    proxy.freeze({ toClient: true, toServer: false });
    for (let i = 0; i < 40; i++) b.send(1, "x".repeat(100));
    await sleep(200);
    proxy.cut();
    await until("reconnected", () => log.reconnected.length === 1);
    assert.equal(await metric(small, 'craft_resume_failures_total{reason="gap"}'), gapsBefore + 1);
    assert.deepEqual(log.resumed, []);
    assert.notEqual(ann.sessionId, oldId);
    assert.equal(a.sessionId, ann.sessionId, "the room was rejoined");
    assert.deepEqual(got, [], "nothing of a gapped replay is delivered");
    b.send(1, "after");
    await until("a message to the new session", () => got.length === 1);
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
    await small.stop();
  }
});

test("auth.session_policy refuse: a second hello for the account rejects SESSION_EXISTS", opts, async () => {
  const s = await startCraftd(["--store.sqlite-path", ":memory:", "--auth.password-cost", "minimum", "--auth.session-policy", "refuse"]);
  const token = (await new Api(s.httpUrl).authenticateDevice(`refuse-${process.pid}-${Date.now()}`, { create: true })).token;
  const first = client(s.url, "", { token });
  const second = client(s.url, "", { token });
  try {
    await first.connect();
    await assert.rejects(second.connect(), (e) => e instanceof CraftError && e.code === "SESSION_EXISTS");
    assert.equal(second.state, "disconnected");
    assert.equal(first.state, "connected");
    await first.close();
    // The first said goodbye: the account is free.
    await second.connect();
    assert.equal(second.state, "connected");
  } finally {
    await first.close();
    await second.close();
    await s.stop();
  }
});

test("resume off (a plain session): pending requests reject CONNECTION_LOST, rooms are rejoined", opts, async () => {
  const proxy = await startProxy(server.http);
  const ann = client(proxy.url, "ann", { resume: false });
  const bob = client(server.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const oldId = ann.sessionId;
    const b = await bob.create("relay");
    const seenJoin = next((cb) => b.onJoin(cb));  // before watching: the join presence may trail the reply
    const a = await ann.joinById(b.id);
    await seenJoin;
    const bobSaw = watch(b);
    proxy.freeze({ toClient: true, toServer: false });
    const asked = ann.listRooms();
    await sleep(50);
    proxy.cut();
    await assert.rejects(asked, (e) => e instanceof CraftError && e.code === "CONNECTION_LOST");
    assert.throws(() => a.send(1, "x"), (e) => e.code === "CLOSED", "a plain session keeps nothing while reconnecting");
    await until("reconnected", () => log.reconnected.length === 1);
    assert.notEqual(ann.sessionId, oldId);
    await until("bob sees the new session", () => bobSaw.includes(`join ${ann.sessionId}`));
    assert.deepEqual(bobSaw, [`leave ${oldId}`, `join ${ann.sessionId}`], "a plain session is not held");
    assert.deepEqual(log.resumed, []);
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
  }
});

test("more unacked output than the resend buffer holds: the resume becomes a new session", opts, async () => {
  const proxy = await startProxy(server.http);
  const ann = client(proxy.url, "ann", { resendBufferBytes: 256 });
  const bob = client(server.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  try {
    await ann.connect();
    await bob.connect();
    const oldId = ann.sessionId;
    const b = await bob.create("relay");
    const seenJoin = next((cb) => b.onJoin(cb));  // before watching: the join presence may trail the reply
    const a = await ann.joinById(b.id);
    await seenJoin;
    const got = [];
    b.onMessage(1, (d) => got.push(decodeText(d)));
    proxy.blocked = true;
    proxy.cut();
    await until("the drop", () => log.dropped.length === 1);
    for (let i = 0; i < 40; i++) a.send(1, `queued ${i}`);  // ~30 bytes each: the oldest go
    proxy.blocked = false;
    await until("reconnected", () => log.reconnected.length === 1);
    assert.deepEqual(log.resumed, []);
    assert.notEqual(ann.sessionId, oldId);
    await sleep(200);
    assert.deepEqual(got, [], "a partial resend would break the order: nothing of it is sent");
    a.send(1, "fresh");
    await until("the new session's message", () => got.length === 1);
  } finally {
    await ann.close();
    await bob.close();
    await proxy.close();
  }
});

test("close() says goodbye: the others see a leave at once, nothing is resumed", opts, async () => {
  const ann = client(server.url, "ann");
  const bob = client(server.url, "bob", { reconnect: { enabled: false } });
  const log = record(ann);
  await ann.connect();
  await bob.connect();
  const b = await bob.create("relay");
  const seenJoin = next((cb) => b.onJoin(cb));
  const a = await ann.joinById(b.id);
  await seenJoin;
  const bobSaw = watch(b);
  const left = next((cb) => a.onLeft(cb));
  const id = ann.sessionId;
  await ann.close();
  assert.equal((await left)[0], "disconnected");
  await until("bob sees the leave", () => bobSaw.length === 1);
  assert.deepEqual(bobSaw, [`leave ${id}`]);
  assert.equal(ann.state, "disconnected");
  await sleep(200);
  assert.deepEqual(log.dropped, []);
  assert.deepEqual(log.states, ["disconnected>connecting", "connecting>connected", "connected>disconnected"]);
  await bob.close();
});

test("auth.session_policy replace: the older socket is closed 4006, final, and its rooms are left", opts, async () => {
  const key = ["--store.sqlite-path", ":memory:", "--auth.password-cost", "minimum", "--auth.session-policy", "replace"];
  const s = await startCraftd(key);
  const token = (await new Api(s.httpUrl).authenticateDevice(`replace-${process.pid}-${Date.now()}`, { create: true })).token;
  const first = client(s.url, "", { token });
  const second = client(s.url, "", { token, reconnect: { enabled: false } });
  const log = record(first);
  try {
    await first.connect();
    const room = await first.create("relay");
    const left = next((cb) => room.onLeft(cb));
    const closed = next((cb) => first.on("disconnect", cb));
    let reconnecting = 0;
    first.on("reconnecting", () => reconnecting++);
    await second.connect();
    assert.equal((await closed)[0].code, CloseCode.sessionReplaced);
    assert.equal(CloseCode.sessionReplaced, 4006);
    assert.equal((await left)[0], "disconnected");
    assert.equal(first.state, "disconnected");
    await sleep(200);
    assert.equal(reconnecting, 0, "4006 is final");
    assert.deepEqual(log.dropped, []);
  } finally {
    await first.close();
    await second.close();
    await s.stop();
  }
});
