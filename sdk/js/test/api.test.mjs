// Api (accounts, storage, leaderboards over HTTP) and socket tokens, against a real craftd
// (set CRAFTD to the binary).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Api, Client, CloseCode, CraftError } from "../dist/esm/index.js";
import { freePort, skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

const skip = skipReason;  // set CRAFTD to run against a real craftd; under CI=true its absence fails
const opts = { skip, timeout: 20000 };  // a regression fails instead of hanging
const ADMIN_KEY = "sdk-test-admin-key";
const STORE = ["--store.sqlite-path", ":memory:", "--auth.password-cost", "minimum", "--auth.admin-key", ADMIN_KEY];

let server;
let strict; // --auth.require true
before(async () => {
  if (skip) return;
  server = await startCraftd(STORE);
  strict = await startCraftd([...STORE, "--auth.require", "true"]);
});
after(async () => {
  if (server) assert.equal((await server.stop()).code, 0);
  if (strict) assert.equal((await strict.stop()).code, 0);
});

// Unique ids per run and test, so accounts never collide.
let serial = 0;
const uniq = (prefix) => `${prefix}-${process.pid}-${++serial}-${Date.now()}`;
const now = () => Math.floor(Date.now() / 1000);
const next = (subscribe) => new Promise((resolve) => { const off = subscribe((...args) => { off(); resolve(args); }); });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isCraftError = (code, status) => (e) => {
  assert.ok(e instanceof CraftError, `expected a CraftError, got ${e}`);
  assert.equal(e.code, code);
  assert.equal(e.status, status);
  return true;
};

test("device auth then getAccount, updateAccount, link and unlink", opts, async () => {
  const api = new Api(server.httpUrl);
  const deviceId = uniq("device");
  const before = now();
  const s = await api.authenticateDevice(deviceId, { create: true, username: uniq("ann") });
  assert.equal(s.created, true);
  assert.equal(typeof s.token, "string");
  assert.ok(s.token.length > 20);
  assert.match(s.accountId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  assert.equal(typeof s.expiresAt, "number");
  assert.ok(s.expiresAt >= before + 3600 && s.expiresAt <= now() + 3600, `expiresAt ${s.expiresAt}`);
  assert.ok(s.refreshExpiresAt >= before + 2592000 && s.refreshExpiresAt <= now() + 2592000);
  assert.equal(api.session, s);

  const account = await api.getAccount();
  assert.equal(typeof account.createTime, "number");
  assert.ok(account.createTime >= before && account.createTime <= now());
  assert.deepEqual(account, {
    id: s.accountId, username: s.username, displayName: "", metadata: {}, email: "",
    deviceIds: [deviceId], customIds: [], banned: false,
    createTime: account.createTime, updateTime: account.createTime,
  });

  // The same device again logs in to the same account.
  const again = await new Api(server.httpUrl).authenticateDevice(deviceId, { create: true });
  assert.equal(again.created, false);
  assert.equal(again.accountId, s.accountId);
  assert.equal(again.username, s.username);

  const updated = await api.updateAccount({ displayName: "Ann the Brave", metadata: { avatar: "fox", level: 3 } });
  assert.equal(updated.displayName, "Ann the Brave");
  assert.deepEqual(updated.metadata, { avatar: "fox", level: 3 });
  assert.equal(updated.username, s.username);

  const customId = uniq("custom");
  const linked = await api.link({ customId });
  assert.deepEqual(linked.customIds, [customId]);
  assert.deepEqual(linked.deviceIds, [deviceId]);
  const viaCustom = await new Api(server.httpUrl).authenticateCustom(customId);
  assert.equal(viaCustom.accountId, s.accountId);
  const unlinked = await api.unlink({ customId });
  assert.deepEqual(unlinked.customIds, []);
  await assert.rejects(new Api(server.httpUrl).authenticateCustom(customId), isCraftError("NOT_FOUND", 404));
});

test("email auth: a wrong password is INVALID_CREDENTIALS with status 401", opts, async () => {
  const api = new Api(server.httpUrl);
  const local = uniq("bob");
  const s = await api.authenticateEmail(`${local}@Example.com`, "correct horse battery", { create: true });
  assert.equal(s.created, true);
  assert.equal((await api.getAccount()).email, `${local}@example.com`);

  const other = new Api(server.httpUrl);
  await assert.rejects(other.authenticateEmail(`${local}@example.com`, "wrong password"), isCraftError("INVALID_CREDENTIALS", 401));
  await assert.rejects(other.authenticateEmail(`nobody-${local}@example.com`, "wrong password"), isCraftError("INVALID_CREDENTIALS", 401));
  assert.equal(other.session, null);
  const ok = await other.authenticateEmail(`${local}@EXAMPLE.com`, "correct horse battery");
  assert.equal(ok.created, false);
  assert.equal(ok.accountId, s.accountId);
});

test("calls without a session are UNAUTHORIZED; a bad body is BAD_REQUEST", opts, async () => {
  const api = new Api(server.httpUrl);
  await assert.rejects(api.getAccount(), isCraftError("UNAUTHORIZED", 401));
  await assert.rejects(api.refresh(), isCraftError("UNAUTHORIZED", 0));  // no refresh token: not sent
  await assert.rejects(api.authenticateDevice("short"), isCraftError("BAD_REQUEST", 400));
  const down = new Api("http://127.0.0.1:1");
  await assert.rejects(down.getAccount(), isCraftError("CONNECT_FAILED", 0));
});

test("storage: write, read, list, version conflict, permissions, delete", opts, async () => {
  const ann = new Api(server.httpUrl);
  const bob = new Api(server.httpUrl);
  const { accountId: annId } = await ann.authenticateDevice(uniq("ann-dev"), { create: true });
  await bob.authenticateDevice(uniq("bob-dev"), { create: true });

  const acks = await ann.writeObjects([
    { collection: "saves", key: "slot1", value: { level: 4, hp: 72 } },
    { collection: "profiles", key: "card", value: { title: "Fox" }, permissionRead: 2 },
  ]);
  assert.equal(acks.length, 2);
  assert.deepEqual(acks.map((a) => [a.collection, a.key, a.ownerId]), [["saves", "slot1", annId], ["profiles", "card", annId]]);
  assert.match(acks[0].version, /^\S+$/);
  assert.notEqual(acks[0].version, acks[1].version);

  const [slot] = await ann.readObjects([{ collection: "saves", key: "slot1" }, { collection: "saves", key: "slot9" }]);
  assert.equal(typeof slot.createTime, "number");
  assert.deepEqual(slot, {
    collection: "saves", key: "slot1", ownerId: annId, value: { level: 4, hp: 72 }, version: acks[0].version,
    permissionRead: 1, permissionWrite: 1, createTime: slot.createTime, updateTime: slot.updateTime,
  });
  assert.equal((await ann.readObjects([{ collection: "saves", key: "slot9" }])).length, 0);

  // Bob may read the public card but not the private save.
  const seen = await bob.readObjects([
    { collection: "profiles", key: "card", ownerId: annId },
    { collection: "saves", key: "slot1", ownerId: annId },
  ]);
  assert.deepEqual(seen.map((o) => [o.key, o.value, o.permissionRead]), [["card", { title: "Fox" }, 2]]);

  // "*" = only if absent; a stale version conflicts; the current one wins.
  await assert.rejects(
    ann.writeObjects([{ collection: "saves", key: "slot1", value: { level: 1 }, version: "*" }]),
    isCraftError("VERSION_CONFLICT", 409),
  );
  const [v2] = await ann.writeObjects([{ collection: "saves", key: "slot1", value: { level: 5, hp: 80 }, version: slot.version }]);
  assert.notEqual(v2.version, slot.version);
  await assert.rejects(
    ann.writeObjects([{ collection: "saves", key: "slot1", value: { level: 6 }, version: slot.version }]),
    (e) => e instanceof CraftError && e.code === "VERSION_CONFLICT" && e.status === 409 && /item 0/.test(e.message),
  );
  // One transaction: the conflict on item 1 leaves item 0 unwritten.
  await assert.rejects(
    ann.writeObjects([
      { collection: "saves", key: "slot2", value: { level: 1 } },
      { collection: "saves", key: "slot1", value: { level: 7 }, version: "*" },
    ]),
    isCraftError("VERSION_CONFLICT", 409),
  );
  const after = await ann.readObjects([{ collection: "saves", key: "slot1" }, { collection: "saves", key: "slot2" }]);
  assert.deepEqual(after.map((o) => [o.key, o.value, o.version]), [["slot1", { level: 5, hp: 80 }, v2.version]]);

  // A server-only object (permissionWrite 0) cannot be changed by its owner.
  await ann.writeObjects([{ collection: "saves", key: "locked", value: { a: 1 }, permissionWrite: 0 }]);
  await assert.rejects(ann.writeObjects([{ collection: "saves", key: "locked", value: { a: 2 } }]), isCraftError("PERMISSION_DENIED", 403));

  const page = await ann.listObjects("saves", { ownerId: annId, limit: 10 });
  assert.deepEqual(page.objects.map((o) => o.key).sort(), ["locked", "slot1"]);
  assert.equal(page.cursor, "");
  const first = await ann.listObjects("saves", { ownerId: annId, limit: 1 });
  assert.equal(first.objects.length, 1);
  assert.notEqual(first.cursor, "");
  const second = await ann.listObjects("saves", { ownerId: annId, limit: 1, cursor: first.cursor });
  assert.equal(second.objects.length, 1);
  assert.deepEqual([first.objects[0].key, second.objects[0].key].sort(), ["locked", "slot1"]);

  await assert.rejects(ann.deleteObjects([{ collection: "saves", key: "slot1", version: slot.version }]), isCraftError("VERSION_CONFLICT", 409));
  await ann.deleteObjects([{ collection: "saves", key: "slot1", version: v2.version }]);
  assert.deepEqual(await ann.readObjects([{ collection: "saves", key: "slot1" }]), []);
});

test("leaderboard: admin create via fetch, writeScore and listScores with ranks", opts, async () => {
  const id = uniq("lb");
  const res = await fetch(`${server.httpUrl}/v1/leaderboard/create`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ id, sort: "DESCENDING", operator: "BEST" }),
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {});

  const players = [];
  for (const name of ["ann", "bob", "cat"]) {
    const api = new Api(server.httpUrl);
    const s = await api.authenticateCustom(uniq(`${name}-id`), { create: true, username: uniq(name) });
    players.push({ api, id: s.accountId, username: s.username });
  }
  const [ann, bob, cat] = players;

  const first = await ann.api.writeScore(id, 50, { subscore: 3, metadata: { map: "dunes" } });
  assert.equal(typeof first.createTime, "number");
  assert.deepEqual(first, {
    leaderboardId: id, ownerId: ann.id, username: ann.username, score: 50, subscore: 3, numScore: 1,
    metadata: { map: "dunes" }, rank: 1, createTime: first.createTime, updateTime: first.updateTime,
  });
  const worse = await ann.api.writeScore(id, 30);  // BEST keeps 50
  assert.deepEqual([worse.score, worse.subscore, worse.numScore, worse.rank], [50, 3, 2, 1]);
  const b = await bob.api.writeScore(id, 70);
  assert.deepEqual([b.score, b.rank], [70, 1]);
  const c = await cat.api.writeScore(id, 10n);  // a bigint goes as a decimal string
  assert.deepEqual([c.score, c.rank], [10, 3]);

  const top = await cat.api.listScores(id);
  assert.equal(top.total, 3);
  assert.deepEqual(top.records.map((r) => [r.username, r.ownerId, r.score, r.rank]), [
    [bob.username, bob.id, 70, 1],
    [ann.username, ann.id, 50, 2],
    [cat.username, cat.id, 10, 3],
  ]);
  const page = await cat.api.listScores(id, { limit: 1, offset: 1 });
  assert.deepEqual(page.records.map((r) => [r.username, r.rank]), [[ann.username, 2]]);
  assert.equal(page.total, 3);
  const around = await bob.api.listScores(id, { ownerId: cat.id, limit: 2 });
  assert.deepEqual(around.records.map((r) => [r.username, r.rank]), [[ann.username, 2], [cat.username, 3]]);

  await assert.rejects(ann.api.writeScore(uniq("no-such-lb"), 1), isCraftError("NOT_FOUND", 404));
});

test("refresh rotates both tokens; the old refresh token is then TOKEN_REVOKED; logout", opts, async () => {
  const api = new Api(server.httpUrl);
  const old = await api.authenticateCustom(uniq("refresher"), { create: true });
  const fresh = await api.refresh();
  assert.equal(api.session, fresh);
  assert.equal(fresh.created, false);
  assert.equal(fresh.accountId, old.accountId);
  assert.equal(fresh.username, old.username);
  assert.notEqual(fresh.token, old.token);
  assert.notEqual(fresh.refreshToken, old.refreshToken);
  assert.equal((await api.getAccount()).id, old.accountId);

  const stale = new Api(server.httpUrl);
  stale.session = old;
  await assert.rejects(stale.refresh(), isCraftError("TOKEN_REVOKED", 401));
  assert.equal(stale.session, old, "a failed refresh keeps the session");
  // The old session token itself still works until it expires.
  assert.equal((await stale.getAccount()).id, old.accountId);

  await api.logout();
  assert.equal(api.session, null);
  const revoked = new Api(server.httpUrl);
  revoked.session = fresh;
  await assert.rejects(revoked.getAccount(), isCraftError("TOKEN_REVOKED", 401));
  await assert.rejects(revoked.refresh(), isCraftError("TOKEN_REVOKED", 401));
});

test("a Client with a session token gets accountId and username in welcome and presences", opts, async () => {
  const api = new Api(server.httpUrl);
  const s = await api.authenticateDevice(uniq("sock-dev"), { create: true, username: uniq("sockann") });
  const c = new Client(server.url, { token: s.token, WebSocket, reconnect: { enabled: false } });
  const welcome = await c.connect();
  assert.equal(welcome.accountId, s.accountId);
  assert.equal(welcome.username, s.username);
  assert.equal(c.accountId, s.accountId);
  assert.equal(c.username, s.username);
  const anon = new Client(server.url, { name: "guest", format: "json", WebSocket, reconnect: { enabled: false } });
  assert.equal((await anon.connect()).accountId, "");
  assert.equal(anon.username, "");

  const room = await c.create("relay");
  const joined = next((cb) => room.onJoin(cb));
  const r2 = await anon.joinById(room.id);
  assert.deepEqual(r2.members.get(c.sessionId), { sessionId: c.sessionId, name: s.username, accountId: s.accountId });
  assert.deepEqual((await joined)[0], { sessionId: anon.sessionId, name: "guest", accountId: "" });
  await c.close();
  await anon.close();
});

test("a refused hello rejects with its code, closes 4005 and does not reconnect", opts, async () => {
  const cases = [
    { url: server.url, token: "garbage-token", code: "UNAUTHORIZED" },
    { url: strict.url, token: "", code: "UNAUTHORIZED" },  // auth.require: no token
  ];
  // A logged-out token.
  const api = new Api(server.httpUrl);
  const s = await api.authenticateDevice(uniq("revoked-dev"), { create: true });
  await api.logout();
  cases.push({ url: server.url, token: s.token, code: "TOKEN_REVOKED" });

  for (const { url, token, code } of cases) {
    const c = new Client(url, { token, WebSocket, reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    try {
      let reconnecting = 0;
      c.on("reconnecting", () => reconnecting++);
      const disconnected = next((cb) => c.on("disconnect", cb));
      await assert.rejects(c.connect(), (e) => e instanceof CraftError && e.code === code && e.cid === 1 && e.status === 0);
      assert.equal((await disconnected)[0].code, CloseCode.authFailed);
      assert.equal(CloseCode.authFailed, 4005);
      // The client decides in its close handler, before the "disconnect" listeners' awaits
      // resume: a reconnect would already have emitted "reconnecting".
      assert.equal(reconnecting, 0, `${code}: no reconnect after 4005`);
      assert.equal(c.sessionId, "");
    } finally {
      await c.close();
    }
  }

  // With a valid token the strict server says welcome.
  const ok = await new Api(strict.httpUrl).authenticateDevice(uniq("strict-dev"), { create: true });
  const c = new Client(strict.url, { token: ok.token, WebSocket, reconnect: { enabled: false } });
  assert.equal((await c.connect()).accountId, ok.accountId);
  await c.close();
});


test("reconnecting with a token the restarted server refuses stops with an error event", opts, async () => {
  const port = await freePort();
  const flags = [...STORE, "--server.http-port", String(port)];
  const first = await startCraftd(flags);
  const s = await new Api(first.httpUrl).authenticateDevice(uniq("restart-dev"), { create: true });
  const c = new Client(`ws://127.0.0.1:${port}/ws`, { token: s.token, WebSocket, reconnect: { minDelayMs: 20, maxDelayMs: 40 } });
  assert.equal((await c.connect()).accountId, s.accountId);
  let reconnecting = 0;
  c.on("reconnecting", () => reconnecting++);
  const closes = [];
  c.on("disconnect", ({ code }) => closes.push(code));
  const refused = next((cb) => c.on("error", cb));
  await first.stop();
  // A new :memory: server has a new token key (and no such account): the token is forged to it.
  let second;
  try {
    second = await startCraftd(flags);
    const [err] = await Promise.race([refused, sleep(20000).then(() => [new Error("no error event within 20 s")])]);
    assert.ok(err instanceof CraftError);
    assert.equal(err.code, "UNAUTHORIZED");
    const attempts = reconnecting;
    assert.ok(attempts >= 1);
    // The refused attempt's socket then closes with 4005: the last event that could start
    // another attempt (the client decides in its close handler, synchronously).
    for (const deadline = Date.now() + 20000; !closes.includes(4005); await sleep(10)) {
      assert.ok(Date.now() < deadline, `no 4005 close after the refusal (closes: ${closes})`);
    }
    assert.equal(reconnecting, attempts, "no attempts after the refusal");

    // A new token and connect() again.
    const fresh = await new Api(second.httpUrl).authenticateDevice(uniq("restart-dev2"), { create: true });
    c.token = fresh.token;
    assert.equal((await c.connect()).accountId, fresh.accountId);
  } finally {
    await c.close();
    if (second) await second.stop();
  }
});
