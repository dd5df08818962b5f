// Resumable sessions (docs/protocol.md §3 items 5-8, §3.1, §3.2) from JavaScript against a
// real craftd ($CRAFTD). lib/resumable.mjs was written from that page and proto/craft.proto
// alone (not from sdk/js): every expectation below is a sentence of the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { skipReason, startCraftd } from "./lib/craftd.mjs";
import { b64, Client, connectAs, CraftError, TcpClient, unb64 } from "./lib/client.mjs";
import { ResumableClient } from "./lib/resumable.mjs";

const skip = skipReason;
const opts = { skip, timeout: 60000 };
if (skip) console.log(`# skipping the craftd tests: ${skip}`);

let server;  // default session settings (resume window 15 s): for tests that never wait it out
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) await server.stop(); });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (m) => unb64(m.roomData.data).toString("utf8");
const presenceOf = (c, kind, sessionId) => (m) =>
  m.presence && (m.presence[kind] ?? []).some((p) => String(p.sessionId) === String(sessionId));
const isError = (e, code) => e instanceof CraftError && e.code === code;

async function withServer(flags, fn) {
  const s = await startCraftd(flags);
  try {
    await fn(s);
  } finally {
    await s.stop();
  }
}

// Resolves when cond() holds, polling; rejects after ms with what() in the message.
async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what()}`);
    await sleep(10);
  }
}

// The room_data texts c received with the given prefix, in arrival order (left in the queue).
const texts = (c, prefix) => c.events.filter((m) => m.roomData && text(m).startsWith(prefix)).map(text);
const numbered = (prefix, n) => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

// A fresh resumable session named `name` on `s`, in a new relay room with a plain member
// (a JSON client) who watches its presence.
async function pair(s, name, options = {}) {
  const where = options.transport === "tcp" ? s.tcp : s.url;
  const a = new ResumableClient(where, options);
  await a.connect();
  const welcome = await a.hello(name);
  const room = await a.create("relay");
  const watcher = await connectAs(s.url, `${name}-watcher`);
  await watcher.join(room.roomId);
  await a.waitFor(presenceOf(a, "joins", watcher.sessionId), 3000, "the watcher's join");
  return { a, welcome, room, watcher };
}

// Both ways at once: `a` (resumable) and `b` (plain) send n numbered messages to each other
// at a steady pace; a's link is cut (socket destroyed, no goodbye) at `cuts` random points
// and resumed once b has seen it dropped. Every message must arrive exactly once, in order.
async function exchangeWithCuts(t, s, { transport = "ws", format = "json", n = 150, cuts = 3, how = "reset" } = {}) {
  const { a, welcome, room, watcher: b } = await pair(s, `ann-${format}`, { transport, format });
  assert.ok(welcome.resumeToken, "a resumable hello's welcome carries a resume token");
  assert.equal(welcome.resumeWindowMs, 15000, "welcome.resume_window_ms is session.resume_window_ms (15 000 by default)");
  assert.ok(!welcome.resumed, "a fresh session's welcome is not resumed");
  const cutAt = new Set();
  while (cutAt.size < cuts) cutAt.add(10 + Math.floor(Math.random() * (n - 20)));
  t.diagnostic(`${transport}/${a.format}: cutting after a's messages ${[...cutAt].sort((x, y) => x - y).join(", ")}`);

  const resumes = [];
  const cutAndResume = async () => {
    const before = a.received;
    a.cut(how);
    if (how === "reset") await b.waitFor(presenceOf(b, "dropped", a.sessionId), 3000, "presence dropped");
    const w = await a.resume();
    assert.equal(w.resumed, true, "welcome.resumed");
    assert.equal(String(w.sessionId), String(welcome.sessionId), "a resume keeps the session id");
    assert.ok(w.resumeToken && w.resumeToken !== welcome.resumeToken, "a resume gets a new resume token");
    if (how === "reset") await b.waitFor(presenceOf(b, "resumed", a.sessionId), 3000, "presence resumed");
    resumes.push({ ...a.lastResume, receivedAtCut: before });
  };
  const aSends = (async () => {
    let resuming = Promise.resolve();
    for (let i = 1; i <= n; i++) {
      a.send(room.roomId, 1, `a${i}`);  // while cut, it waits in the client for the resend
      if (cutAt.has(i)) {
        await resuming;  // one cut at a time: a cut during the resume's own hello is another test
        resuming = cutAndResume();
      }
      await sleep(4);
    }
    await resuming;
  })();
  const bSends = (async () => {
    for (let i = 1; i <= n; i++) {
      b.send(room.roomId, 1, `b${i}`);
      await sleep(4);
    }
  })();
  await Promise.all([aSends, bSends]);
  await until(() => texts(a, "b").length >= n && texts(b, "a").length >= n, 15000,
    () => `all messages: a has ${texts(a, "b").length}, b has ${texts(b, "a").length} of ${n}`);
  await sleep(300);  // room for a duplicate to show up
  t.diagnostic(`resumes: ${JSON.stringify(resumes)}; stats ${JSON.stringify(a.stats)}`);
  assert.deepEqual(texts(a, "b"), numbered("b", n), "b's messages reach a exactly once, in order, across the resumes");
  assert.deepEqual(texts(b, "a"), numbered("a", n), "a's messages reach b exactly once, in order, across the resumes");
  assert.deepEqual(a.violations, []);
  assert.equal(a.stats.resumes, cuts);
  assert.ok(a.stats.acksSent + a.stats.piggybacked > 0, "the client acked");

  const about = b.events.filter((m) => m.presence).map((m) => m.presence)
    .flatMap((p) => ["joins", "leaves", "dropped", "resumed"].flatMap((k) =>
      (p[k] ?? []).filter((x) => String(x.sessionId) === String(a.sessionId)).map(() => k)));
  assert.ok(!about.includes("leaves"), `the other member never sees a leave: ${about}`);
  // After a reset every dropped was followed by resumed (both consumed above); a resume
  // that replaces a half-open connection shows the rooms neither.
  assert.deepEqual(about, [], "no other presence about a");
  await a.close();
  await b.close();
  return { a, resumes };
}

test("resume over WebSocket, JSON text frames: exactly once, in order, both ways, across random cuts", opts, async (t) => {
  await exchangeWithCuts(t, server, { format: "json" });
});

test("resume over WebSocket, binary frames: exactly once, in order, both ways, across random cuts", opts, async (t) => {
  await exchangeWithCuts(t, server, { format: "binary" });
});

test("resume over raw TCP: exactly once, in order, both ways, across random cuts", opts, async (t) => {
  await exchangeWithCuts(t, server, { transport: "tcp", cuts: 2 });
});

test("a resume replaces a half-open connection the server has not seen fail", opts, async (t) => {
  // The old socket stays open (paused): the server still thinks it alive when the resume comes.
  const { a } = await exchangeWithCuts(t, server, { format: "binary", cuts: 1, how: "freeze" });
  a.destroyFrozen();
});

test("requests across a drop are applied once: replies come in the replay or after the resend", opts, async () => {
  const { a, room, watcher } = await pair(server, "req");
  // Sent, then the link cut before their replies can be read: the server either got them
  // (the replies are replayed) or did not (they are resent after welcome.last_seq).
  const list = a.request({ roomList: { type: "relay" } }, 10000);
  const second = a.request({ roomCreate: { type: "relay", private: true } }, 10000);
  a.cut();
  // And one made while cut: it waits for the resume.
  const third = a.request({ roomLeave: { roomId: room.roomId } }, 10000);
  await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
  await a.resume();
  const rooms = (await list).roomListResult.rooms ?? [];
  assert.ok(rooms.some((r) => r.roomId === room.roomId));
  const created = (await second).roomJoined;
  assert.equal((await third).roomLeft.reason, "left");
  await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 3000, "the leave a sent while cut");
  // Exactly one private room was created by that one request: a second create would have
  // put a in two rooms; leaving it answers once, then NOT_IN_ROOM.
  assert.equal((await a.leave(created.roomId)).reason, "left");
  await assert.rejects(a.leave(created.roomId), (e) => isError(e, "NOT_IN_ROOM"));
  assert.deepEqual(a.violations, []);
  await a.close();
  await watcher.close();
});

test("acks both ways: the server acks every 250 ms what it received; a client that only listens acks with ack envelopes", opts, async () => {
  const { a, room, watcher } = await pair(server, "acker", { format: "binary" });
  for (let i = 1; i <= 5; i++) a.send(room.roomId, 1, `s${i}`);
  await until(() => a.serverAcked === a.sent, 1000, () => `the server's ack of ${a.sent} (has ${a.serverAcked})`);
  assert.equal(a.unacked.length, 0, "what the server acked is no longer kept");
  // 150 messages in: at least one ack per 64, and the rest within 500 ms.
  const before = a.stats.acksSent;
  for (let i = 1; i <= 150; i++) watcher.send(room.roomId, 1, `r${i}`);
  await until(() => texts(a, "r").length === 150, 3000, () => "150 messages");
  assert.ok(a.stats.acksSent - before >= 2, `acks every 64 messages (${a.stats.acksSent - before})`);
  await until(() => a.ackSent === a.received, 1000, () => "the last ack within 500 ms");
  // What a acked is what the server no longer needs: a resume from there replays nothing
  // and needs nothing resent.
  a.cut();
  await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
  const w = await a.resume();
  assert.equal(Number(w.lastSeq), a.sent);
  assert.equal(a.lastResume.resent, 0);
  await sleep(200);
  assert.deepEqual(texts(a, "r"), numbered("r", 150), "nothing replayed twice");
  assert.deepEqual(a.violations, []);
  await a.close();
  await watcher.close();
});

test("RESUME_FAILED: a bogus token, a used token, another frame type or transport; the connection stays usable", opts, async () => {
  const s = server;
  const c = await new Client(s.url).connect();
  await assert.rejects(c.request({ hello: { protocolVersion: 1, resumable: true, resumeToken: "bogus", lastSeq: "0" } }),
    (e) => isError(e, "RESUME_FAILED") && e.cid === c.lastCid);
  // "the connection is still open and un-helloed"
  await assert.rejects(c.list(), (e) => isError(e, "NOT_AUTHENTICATED"));
  const fresh = await c.hello("after-bogus");
  assert.ok(fresh.sessionId);
  await c.close();

  const { a, watcher } = await pair(s, "tok", { format: "json" });
  const first = a.resumeToken;
  a.cut();
  await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
  const resumeHello = (token) => ({ hello: { protocolVersion: 1, resumable: true, resumeToken: token, lastSeq: String(a.received) } });
  // The session's hello was a text frame: a binary frame or TCP cannot resume it.
  const bin = await new Client(s.url, { format: "binary" }).connect();
  await assert.rejects(bin.request(resumeHello(first)), (e) => isError(e, "RESUME_FAILED"));
  await bin.close();
  const tcp = await new TcpClient(s.tcp).connect();
  await assert.rejects(tcp.request(resumeHello(first)), (e) => isError(e, "RESUME_FAILED"));
  await tcp.close();
  // Those failed attempts did not end the held session.
  const w = await a.resume();
  assert.equal(w.resumed, true);
  // The token of the earlier welcome is void now.
  const old = await new Client(s.url).connect();
  await assert.rejects(old.request(resumeHello(first)), (e) => isError(e, "RESUME_FAILED"));
  await old.close();
  await watcher.expectNone(presenceOf(watcher, "leaves", a.sessionId), 200);
  await a.close();
  await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 2000, "the leave after goodbye");
  await watcher.close();
});

test("more than session.replay_buffer_bytes while held ends the session: a leave, then RESUME_FAILED", opts, async () => {
  await withServer(["--session.replay-buffer-bytes", "2048"], async (s) => {
    const { a, room, watcher } = await pair(s, "gap");
    a.cut();
    await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
    for (let i = 0; i < 40; i++) watcher.send(room.roomId, 1, "x".repeat(100));  // ~4.5 KB for a
    // "The session ends — its rooms see presence{leaves} — ... when the buffer overflows while held"
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 3000, "the held session's leave");
    // The session is gone, not just short of messages: "its session has ended".
    await assert.rejects(a.resume(), (e) => isError(e, "RESUME_FAILED"));
    assert.equal(a.ended, true);
    // Still open and un-helloed: a fresh hello starts a new session.
    const w = await a.hello("gap-again");
    assert.notEqual(String(w.sessionId), String(watcher.sessionId));
    await a.close();
    await watcher.close();
  });
});

test("REPLAY_GAP: a client that stops acking loses what the buffer dropped; waiting requests fail", opts, async () => {
  await withServer(["--session.replay-buffer-bytes", "2048"], async (s) => {
    const { a, room, watcher } = await pair(s, "noack", { acks: false });
    for (let i = 1; i <= 10; i++) watcher.send(room.roomId, 1, `m${i}`);
    await until(() => texts(a, "m").length === 10, 3000, () => "10 messages");
    const lastSeen = a.received;
    // From here the network eats what the server sends a: the server cannot know, and with
    // no ack from a it must keep those messages for a resume, in 2 KiB.
    a.deaf = true;
    for (let i = 0; i < 40; i++) watcher.send(room.roomId, 1, "y".repeat(100));
    const waiting = a.request({ roomList: {} }, 10000);
    await sleep(300);
    a.deaf = false;
    a.cut();
    await assert.rejects(a.resume({ lastSeq: lastSeen }), (e) => isError(e, "REPLAY_GAP") && e.cid === a.lastCid);
    await assert.rejects(waiting, (e) => isError(e, "REPLAY_GAP"), "a request waiting on the lost session is rejected");
    // "the session has ended": its room sees it leave.
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 3000, "the leave after REPLAY_GAP");
    await a.hello("noack-again");
    await a.close();
    await watcher.close();
  });
});

test("REPLAY_GAP for a last_seq beyond what the server sent; the session stays held", opts, async () => {
  const { a, watcher } = await pair(server, "beyond");
  const token = a.resumeToken;
  a.cut();
  await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
  const c = await new Client(server.url).connect();
  await assert.rejects(c.request({ hello: { protocolVersion: 1, resumable: true, resumeToken: token, lastSeq: String(a.received + 5) } }),
    (e) => isError(e, "REPLAY_GAP") && e.cid === c.lastCid);
  await c.close();
  const w = await a.resume();
  assert.equal(w.resumed, true);
  await watcher.expectNone(presenceOf(watcher, "leaves", a.sessionId), 100);
  await a.close();
  await watcher.close();
});

test("a server close other than 4001 (here 4003, flood) ends a resumable session like a goodbye", opts, async () => {
  await withServer(["--limits.message-burst", "5", "--limits.messages-per-second", "5", "--limits.rate-limit-strikes", "3"], async (s) => {
    const { a, room, watcher } = await pair(s, "flood");
    const token = a.resumeToken;
    await sleep(1100);  // the bucket refills after the setup
    for (let i = 0; i < 20; i++) a.send(room.roomId, 1, "x");
    assert.equal(await a.linkLost, 4003);
    assert.equal(a.ended, true, "the client does not try to resume after 4003");
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 2000, "the leave");
    const c = await new Client(s.url).connect();
    await assert.rejects(c.request({ hello: { protocolVersion: 1, resumable: true, resumeToken: token, lastSeq: String(a.received) } }),
      (e) => isError(e, "RESUME_FAILED"));
    await c.close();
    await watcher.close();
  });
});

test("goodbye (a disconnect envelope) ends the session at once: the others see a leave, the token is void", opts, async () => {
  for (const transport of ["ws", "tcp"]) {
    const { a, watcher } = await pair(server, `bye-${transport}`, { transport });
    const token = a.resumeToken;
    const started = Date.now();
    const d = await a.goodbye(4242, "see you");
    assert.equal(d?.code, 1000, "the server answers a goodbye with disconnect 1000");
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 1000, "the leave");
    assert.ok(Date.now() - started < 1000, "at once, not after the resume window");
    const c = transport === "tcp" ? await new TcpClient(server.tcp).connect() : await new Client(server.url).connect();
    await assert.rejects(c.request({ hello: { protocolVersion: 1, resumable: true, resumeToken: token, lastSeq: "0" } }),
      (e) => isError(e, "RESUME_FAILED"));
    await c.close();
    await watcher.close();
  }
  // A WebSocket close frame is a goodbye too.
  const { a, watcher } = await pair(server, "bye-close-frame");
  await a.link.close();
  await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 1000, "the leave after a close frame");
  await watcher.close();
});

test("a held session expires after session.resume_window_ms: the others see it leave, resume fails", opts, async () => {
  await withServer(["--session.resume-window-ms", "600"], async (s) => {
    const { a, welcome, watcher } = await pair(s, "expire", { format: "binary" });
    assert.equal(welcome.resumeWindowMs, 600);
    const cut = Date.now();
    a.cut();
    await watcher.waitFor(presenceOf(watcher, "dropped", a.sessionId), 3000, "dropped");
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 3000, "the leave at the window's end");
    const held = Date.now() - cut;
    // Timeouts are checked every 250 ms (§3).
    assert.ok(held >= 550 && held < 600 + 250 + 1000, `held ${held} ms for a 600 ms window`);
    await assert.rejects(a.resume(), (e) => isError(e, "RESUME_FAILED"));
    await a.link.close();
    await watcher.close();
  });
});

test("server pings on TCP: a client that answers stays, one that does not is dropped (4001) and resumes", opts, async () => {
  // Both above the 250 ms the server checks timeouts at (§3), so each quiet spell is seen.
  await withServer(["--limits.server-ping-interval-ms", "400", "--limits.server-ping-timeout-ms", "400"], async (s) => {
    const { a, room, watcher } = await pair(s, "pinged", { transport: "tcp" });
    await sleep(2500);  // silent (but for a's acks): only the server's pings and a's pongs
    // Quiet spells of 400 ms, checked every 250 ms: a ping every 400-750 ms.
    assert.ok(a.serverPings >= 3, `the server pinged the silent client again and again (${a.serverPings} pings)`);
    assert.ok(a.welcomed, "answering pings keeps the connection");
    await a.ping();
    await a.close();

    const ws = new ResumableClient(s.url);
    await ws.connect();
    await ws.hello("ws-silent");
    await sleep(2500);  // ws answers WebSocket pings by itself
    assert.ok(ws.welcomed, "a WebSocket client's automatic pongs keep it");
    await ws.close();

    // A TCP client that ignores the pings: after interval + timeout it is taken for gone
    // (4001) and its resumable session held; with autoResume it comes back by itself.
    const mute = new ResumableClient(s.tcp, { transport: "tcp", answerServerPings: false, autoResume: true });
    await mute.connect();
    const w = await mute.hello("mute");
    await mute.join(room.roomId);
    const started = Date.now();
    const code = await mute.linkLost;
    assert.equal(code, 4001, "disconnect 4001 for a peer taken for gone");
    const silentFor = Date.now() - started;
    assert.ok(silentFor < 400 + 400 + 250 + 1500, `dropped after ${silentFor} ms`);
    mute.answerServerPings = true;
    await until(() => mute.stats.resumes === 1 && mute.welcomed, 5000, () => "the automatic resume");
    assert.equal(String(mute.welcome.sessionId), String(w.sessionId));
    await watcher.waitFor(presenceOf(watcher, "dropped", mute.sessionId), 2000, "dropped");
    await watcher.waitFor(presenceOf(watcher, "resumed", mute.sessionId), 2000, "resumed");
    mute.send(room.roomId, 1, "back");
    await watcher.waitFor((m) => m.roomData && text(m) === "back", 2000, "a message after the resume");
    await mute.close();
    await watcher.close();
  });
});

// Accounts come from the HTTP API (docs/http-api.md §3.1), the servers keep them in memory.
async function accountToken(s, deviceId) {
  const res = await fetch(`${s.httpUrl}/v1/auth/device`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ deviceId, create: true }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).token;
}

test("auth.session_policy replace: an older session gets 4006 (a held one just ends), the new one is welcomed", opts, async () => {
  await withServer(["--auth.session-policy", "replace"], async (s) => {
    const token = await accountToken(s, "replace-device-0001");
    const a = new ResumableClient(s.url);
    await a.connect();
    await a.hello("", { token });
    const room = await a.create("relay");
    const watcher = await connectAs(s.url, "w");
    await watcher.join(room.roomId);

    const b = await new Client(s.url).connect();
    await b.hello("", { token });
    assert.equal(await a.linkLost, 4006, "the older connection gets disconnect 4006");
    await watcher.waitFor(presenceOf(watcher, "leaves", a.sessionId), 2000, "the replaced session's leave");

    // Held, then replaced: it just ends.
    const c = new ResumableClient(s.url);
    await c.connect();
    await c.hello("", { token });
    assert.equal(await b.closed, 4006);
    await c.join(room.roomId);
    c.cut();
    await watcher.waitFor(presenceOf(watcher, "dropped", c.sessionId), 3000, "dropped");
    const d = await new Client(s.url).connect();
    await d.hello("", { token });
    await watcher.waitFor(presenceOf(watcher, "leaves", c.sessionId), 2000, "the held session's leave");
    await assert.rejects(c.resume(), (e) => isError(e, "RESUME_FAILED"));
    await c.link.close();
    await d.close();
    await watcher.close();
  });
});

test("auth.session_policy refuse: SESSION_EXISTS while the account has a session, held included; resume is allowed", opts, async () => {
  await withServer(["--auth.session-policy", "refuse"], async (s) => {
    const token = await accountToken(s, "refuse-device-0001");
    const a = new ResumableClient(s.url, { format: "binary" });
    await a.connect();
    await a.hello("", { token });
    const b = await new Client(s.url).connect();
    await assert.rejects(b.hello("", { token }), (e) => isError(e, "SESSION_EXISTS") && e.cid === b.lastCid);
    a.cut();
    await sleep(200);
    await assert.rejects(b.hello("", { token }), (e) => isError(e, "SESSION_EXISTS"), "a held session counts");
    const w = await a.resume();
    assert.equal(w.resumed, true, "a resume is the same session, never a second one");
    assert.ok(w.accountId, "the resumed welcome carries the account");
    await a.close();
    await sleep(100);
    const wb = await b.hello("", { token });  // the connection stayed open and may say hello again
    assert.equal(wb.accountId, w.accountId);
    await b.close();
  });
});
