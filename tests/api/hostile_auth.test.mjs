// Hostile identity tests (issue 9, kinds 5 and 7) against a real craftd on both store backends:
//   - a refresh token works exactly once, however many refreshes race with it;
//   - a socket's identity dies with its session token: logout and expiry close the socket with
//     4005, and a socket API call re-checks the identity in the store (revocations and bans
//     made on another node, which cannot reach this node's sockets directly);
//   - identity inputs (emails, usernames, device and custom ids) follow one rule
//     (docs/http-api.md §3.6): refused with 400 rather than silently changed, and emails and
//     usernames compared ignoring ASCII case.
//
// Run: cd tests/api && CRAFTD=/path/to/craftd node --test hostile_auth.test.mjs
// Without PostgreSQL binaries the postgres half is skipped, or fails when CI=true.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import net from "node:net";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { skipReason, startCraftd } from "../js/lib/craftd.mjs";
import { Client, CraftError } from "../js/lib/client.mjs";
import { httpClient } from "./lib/http.mjs";
import { pgMissingReason, startPostgres } from "./lib/pg.mjs";

const ADMIN_KEY = crypto.randomBytes(16).toString("hex");
const TOKEN_KEY = crypto.randomBytes(32).toString("hex");  // shared by nodes on one database
const BASE_FLAGS = [
  "--auth.password-cost", "minimum",
  "--auth.admin-key", ADMIN_KEY,
  "--auth.token-key", TOKEN_KEY,
  "--auth.ip-attempts-per-minute", "1000000",
  "--auth.account-attempts-per-minute", "1000000",
];
const T = { timeout: 60000 };
const rid = (bytes = 8) => crypto.randomBytes(bytes).toString("hex");
const newDeviceId = () => `dev-${rid(10)}`;

function ok(res, what = "") {
  assert.equal(res.status, 200, `${what}: ${res.request} -> expected 200, got ${res.status} ${res.text}`);
  return res.body;
}

function fails(res, status, code, what = "") {
  assert.equal(res.status, status, `${what}: ${res.request} -> expected ${status} ${code}, got ${res.status} ${res.text}`);
  assert.equal(res.body?.error?.code, code, `${what}: ${res.request} -> expected ${code}, got ${res.text}`);
  return res.body.error.message;
}

async function deviceAccount(api, extra = {}) {
  const deviceId = extra.deviceId ?? newDeviceId();
  const s = ok(await api.post("/v1/auth/device", { deviceId, create: true, ...extra }), "device auth");
  return { ...s, deviceId };
}

// `n` POSTs of one JSON body, released together: each is sent on its own connection but
// its last byte, and only once all n are waiting do the last bytes go, so the requests reach
// craftd within microseconds of each other. Resolves with [{status, body}].
async function simultaneousPosts(baseUrl, path, body, n) {
  const { hostname, port } = new URL(baseUrl);
  const payload = Buffer.from(JSON.stringify(body));
  const head = Buffer.from(`POST ${path} HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`);
  const whole = Buffer.concat([head, payload]);
  const sockets = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const sock = net.connect({ host: hostname, port: Number(port) }, () => sock.write(whole.subarray(0, whole.length - 1), () => resolve(sock)));
    sock.once("error", reject);
  })));
  const answers = sockets.map((sock) => new Promise((resolve, reject) => {
    const chunks = [];
    sock.on("data", (c) => chunks.push(c));
    sock.once("error", reject);
    sock.once("close", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1]);
      const bodyText = text.slice(text.indexOf("\r\n\r\n") + 4);
      let parsed = null;
      try {
        parsed = JSON.parse(bodyText);
      } catch {}
      resolve({ status, body: parsed, text, request: `POST ${path} ${payload}` });
    });
  }));
  for (const sock of sockets) sock.write(whole.subarray(whole.length - 1));
  return Promise.all(answers);
}

// A socket that said hello with `token`.
async function helloWith(craftd, token, name = "p") {
  const c = await new Client(craftd.url).connect();
  const welcome = await c.hello(name, { token });
  assert.ok(welcome.accountId, "hello with a token gives an account");
  return c;
}

// The socket was told `code` (cid 0: nobody asked) and then closed with 4005.
// `within_ms` only fails the test; it is no synchronisation (the expiry test waits for a
// 10 s token to run out, so it needs more than the default).
async function endedWith(c, code, what, within_ms = 10000) {
  const error = await c.waitFor((m) => m.error, within_ms, `${what}: error ${code}`);
  assert.equal(error.error.code, code, `${what}: the error before the close`);
  assert.equal(error.cid ?? 0, 0, `${what}: the error answers no request`);
  assert.equal(await c.closed, 4005, `${what}: close code`);
  assert.equal(c.disconnect?.code, 4005, `${what}: the disconnect envelope says 4005`);
}

// A socket request that fails with `code` (echoing its cid), after which the socket closes 4005.
async function socketCallEnds(c, body, code, what) {
  await assert.rejects(c.request(body), (e) => {
    assert.ok(e instanceof CraftError, `${what}: expected ${code}, got ${e}`);
    assert.equal(e.code, code, what);
    assert.equal(e.cid, c.lastCid, `${what}: the error echoes the request's cid`);
    return true;
  });
  assert.equal(await c.closed, 4005, `${what}: close code`);
}

function defineSuite(backendName, newDatabase, { skip = false, cleanup = async () => {} } = {}) {
  describe(`hostile auth (${backendName})`, { skip }, () => {
    const started = [];
    async function start(flags = [], db = undefined) {
      db ??= await newDatabase();
      const craftd = await startCraftd([...db.flags, ...BASE_FLAGS, ...flags]);
      started.push(craftd);
      return { craftd, db, api: httpClient(craftd.httpUrl) };
    }
    let main;
    before(async () => {
      // 8 workers: 8 parallel refreshes can each be on their own worker at once.
      main = await start(["--store.workers", "8"]);
    });
    after(async () => {
      for (const c of started) if (!c.exit) await c.stop();
      await cleanup();
    });

    // -- kind 5: single-use refresh tokens ----------------------------------------------------
    test("8 parallel refreshes of one refresh token x 200 rounds: exactly one 200 per round, the others 401 TOKEN_REVOKED", { timeout: 240000 }, async () => {
      const { api } = main;
      let refreshToken = (await deviceAccount(api)).refreshToken;
      for (let round = 0; round < 200; round++) {
        const results = await simultaneousPosts(api.baseUrl, "/v1/auth/refresh", { refreshToken }, 8);
        const winners = results.filter((r) => r.status === 200);
        assert.equal(winners.length, 1, `round ${round}: exactly one refresh succeeds, got ${results.map((r) => r.status).join(",")}`);
        for (const r of results) if (r.status !== 200) fails(r, 401, "TOKEN_REVOKED", `round ${round}: a losing refresh`);
        refreshToken = winners[0].body.refreshToken;
      }
    });

    // -- kind 5: sockets die with their session token -----------------------------------------
    test("logout closes every socket that said hello with that session token (TOKEN_REVOKED, then 4005); other sessions stay", T, async () => {
      const { api, craftd } = main;
      const first = await deviceAccount(api);
      const second = ok(await api.post("/v1/auth/device", { deviceId: first.deviceId }), "a second session");
      const a1 = await helloWith(craftd, first.token, "a1");
      const a2 = await helloWith(craftd, first.token, "a2");
      const b = await helloWith(craftd, second.token, "b");
      const room = await a1.create("relay", { isPrivate: true });
      const watcher = await new Client(craftd.url).connect();
      await watcher.hello("watcher");
      await watcher.join(room.roomId);
      try {
        assert.deepEqual(ok(await api.post("/v1/auth/logout", {}, first.token), "logout"), {});
        await endedWith(a1, "TOKEN_REVOKED", "a1 after logout");
        await endedWith(a2, "TOKEN_REVOKED", "a2 after logout");
        const left = await watcher.waitFor((m) => m.presence?.leaves, 5000, "a1 leaving the room");
        assert.deepEqual(left.presence.leaves.map((p) => String(p.sessionId)), [a1.sessionId], "a1's room membership ended");
        const account = await b.request({ apiRequest: { accountGet: {} } });
        assert.equal(account.apiResponse.account.id, first.accountId, "the other session token's socket still works");
        assert.equal(b.closeCode, null);
      } finally {
        await Promise.all([b.close(), watcher.close()]);
      }
    });

    test("logout over the socket itself: the reply {} first, then TOKEN_REVOKED and 4005", T, async () => {
      const s = await deviceAccount(main.api);
      const c = await helloWith(main.craftd, s.token);
      const reply = await c.request({ apiRequest: { authLogout: {} } });
      assert.deepEqual(reply.apiResponse, { empty: {} });
      await endedWith(c, "TOKEN_REVOKED", "after its own logout");
    });

    test("a socket API call re-checks its identity: revoked or banned on another node -> the error, then 4005", T, async () => {
      // Two nodes on one database: logouts and bans made on `other` cannot reach main's sockets
      // directly, only through the store.
      const other = await start([], main.db);
      const s = await deviceAccount(main.api);
      const c = await helloWith(main.craftd, s.token);
      assert.equal((await c.request({ apiRequest: { accountGet: {} } })).apiResponse.account.id, s.accountId);
      ok(await other.api.post("/v1/auth/logout", {}, s.token), "logout on the other node");
      await socketCallEnds(c, { apiRequest: { storageWrite: { objects: [{ collection: "c", key: "k", value: { x: 1 } }] } } }, "TOKEN_REVOKED", "a write after logout elsewhere");
      const read = ok(await main.api.post("/v1/storage/read", { ids: [{ collection: "c", key: "k", ownerId: s.accountId }] }, ok(await main.api.post("/v1/auth/device", { deviceId: s.deviceId })).token));
      assert.deepEqual(read.objects ?? [], [], "the write after logout was not applied");

      const banned = await deviceAccount(main.api);
      const cb = await helloWith(main.craftd, banned.token);
      ok(await other.api.post("/v1/admin/ban", { accountId: banned.accountId, banned: true }, ADMIN_KEY), "ban on the other node");
      await socketCallEnds(cb, { apiRequest: { accountGet: {} } }, "ACCOUNT_BANNED", "a call after a ban elsewhere");
    });

    test("a socket closes with 4005 (TOKEN_EXPIRED) when its session token expires, and leaves its rooms", T, async () => {
      const short = await start(["--auth.session-ttl-s", "10"]);  // the smallest allowed
      const s = await deviceAccount(short.api);
      const c = await helloWith(short.craftd, s.token);
      const room = await c.create("relay", { isPrivate: true });
      const watcher = await new Client(short.craftd.url).connect();
      await watcher.hello("watcher");
      await watcher.join(room.roomId);
      try {
        await endedWith(c, "TOKEN_EXPIRED", "at expiry", 30000);
        assert.ok(Date.now() >= Number(s.expiresAt) * 1000, `closed at ${Date.now()} ms, not before expiresAt ${s.expiresAt} s`);
        const left = await watcher.waitFor((m) => m.presence?.leaves, 5000, "the expired member leaving");
        assert.deepEqual(left.presence.leaves.map((p) => String(p.sessionId)), [c.sessionId]);
      } finally {
        await watcher.close();
      }
    });

    // -- kind 7: identity inputs ---------------------------------------------------------------
    test("emails: surrounding or inner blanks and control characters -> 400; case-insensitive (one account)", T, async () => {
      const { api } = main;
      const local = `ann-${rid(4)}`;
      const email = `${local}@example.com`;
      const password = "correct horse battery";
      for (const bad of [` ${email}`, `${email} `, `${email}\t`, `\u00a0${email}`, `${local} x@example.com`, `${local}@exa\u0000mple.com`, `${local}@exa\u0007mple.com`, `${local}@@example.com`]) {
        const message = fails(await api.post("/v1/auth/email", { email: bad, password, create: true }), 400, "BAD_REQUEST", JSON.stringify(bad));
        assert.match(message, /^email /, `the message names the field: ${message}`);
      }
      const made = ok(await api.post("/v1/auth/email", { email, password, create: true }), "create");
      assert.equal(made.created, true);
      const again = ok(await api.post("/v1/auth/email", { email: email.toUpperCase(), password, create: true }), "the same address in capitals");
      assert.equal(again.created, false, "capitals log in to the same account");
      assert.equal(again.accountId, made.accountId);
      assert.equal(ok(await api.get("/v1/account", made.token)).email, email, "stored lower-cased");
    });

    test("usernames: unique ignoring case (409 ALREADY_EXISTS); blanks at the ends or control characters -> 400", T, async () => {
      const { api } = main;
      const name = `Ann_${rid(4)}`;
      const ann = await deviceAccount(api, { username: name });
      assert.equal(ann.username, name, "kept as sent");
      fails(await api.post("/v1/auth/device", { deviceId: newDeviceId(), create: true, username: name.toLowerCase() }), 409, "ALREADY_EXISTS", "the same name in other case (device)");
      fails(await api.post("/v1/auth/custom", { id: `custom-${rid(6)}`, create: true, username: name.toUpperCase() }), 409, "ALREADY_EXISTS", "the same name in other case (custom)");
      fails(await api.post("/v1/auth/email", { email: `${rid(6)}@example.com`, password: "correct horse battery", create: true, username: name.toUpperCase() }), 409, "ALREADY_EXISTS", "the same name in other case (email)");
      const bob = await deviceAccount(api);
      fails(await api.post("/v1/account/update", { username: name.toUpperCase() }, bob.token), 409, "ALREADY_EXISTS", "renaming to another's name in other case");
      assert.equal(ok(await api.post("/v1/account/update", { username: name.toUpperCase() }, ann.token)).username, name.toUpperCase(), "changing the case of one's own name");
      for (const bad of [` ${rid(4)}`, `${rid(4)} `, `a\u0001b${rid(2)}`, `a\u007fb${rid(2)}`, `a\u0085b${rid(2)}`, `\u3000${rid(4)}`]) {
        fails(await api.post("/v1/auth/device", { deviceId: newDeviceId(), create: true, username: bad }), 400, "BAD_REQUEST", `username ${JSON.stringify(bad)}`);
        fails(await api.post("/v1/account/update", { username: bad }, bob.token), 400, "BAD_REQUEST", `update to username ${JSON.stringify(bad)}`);
      }
    });

    test("device and custom ids: control characters or blanks at the ends -> 400 (auth, link, and over the socket)", T, async () => {
      const { api, craftd } = main;
      const id = newDeviceId();
      for (const bad of [` ${id}`, `${id} `, `${id}\n`, `\t${id}`, `${id.slice(0, 8)}\u0000${id.slice(8)}`, `${id}\u001b[2J`, `\u200a${id}`, `${id}\ufeff`]) {
        const what = JSON.stringify(bad);
        const message = fails(await api.post("/v1/auth/device", { deviceId: bad, create: true }), 400, "BAD_REQUEST", `deviceId ${what}`);
        assert.match(message, /^deviceId /, message);
        fails(await api.post("/v1/auth/custom", { id: bad, create: true }), 400, "BAD_REQUEST", `custom id ${what}`);
      }
      fails(await api.post("/v1/auth/device", { deviceId: "short", create: true }), 400, "BAD_REQUEST", "a device id under 10 bytes");
      fails(await api.post("/v1/auth/device", { deviceId: "d".repeat(129), create: true }), 400, "BAD_REQUEST", "a device id over 128 bytes");
      const ok1 = ok(await api.post("/v1/auth/device", { deviceId: `${id} inner spaces ok é`, create: true }), "inner spaces and non-ASCII are fine");
      assert.equal(ok1.created, true);
      fails(await api.post("/v1/account/link", { deviceId: ` ${id}` }, ok1.token), 400, "BAD_REQUEST", "link a device id with a leading blank");
      fails(await api.post("/v1/account/link", { customId: `cust\u0000${rid(4)}` }, ok1.token), 400, "BAD_REQUEST", "link a custom id with NUL");
      const c = await new Client(craftd.url).connect();
      try {
        await c.hello("anon");
        await assert.rejects(c.request({ apiRequest: { authDevice: { deviceId: `${id}\r`, create: true } } }), (e) => e.code === "BAD_REQUEST");
        assert.equal(c.closeCode, null, "a bad id is an error, not a close");
      } finally {
        await c.close();
      }
    });
  });
}

// --- the two backends ------------------------------------------------------------------------
const tempDirs = [];
process.on("exit", () => {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

defineSuite("sqlite", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "craft-hostile-auth-"));
  tempDirs.push(dir);
  return { flags: ["--store.backend", "sqlite", "--store.sqlite-path", path.join(dir, "craft.db")] };
}, { skip: skipReason });

let pgServer = null;
const newPostgresDatabase = async () => {
  pgServer ??= startPostgres();
  const pg = await pgServer;
  const name = await pg.createDatabase();
  return { flags: ["--store.backend", "postgres", "--store.postgres-url", pg.url(name)] };
};
if (pgMissingReason && process.env.CI === "true" && !skipReason) {
  describe("hostile auth (postgres)", () => {
    test("PostgreSQL is available (required when CI=true)", () => assert.fail(pgMissingReason));
  });
} else {
  defineSuite("postgres", newPostgresDatabase, {
    skip: skipReason || (pgMissingReason ? `${pgMissingReason} (skipped; with CI=true this fails)` : false),
    cleanup: async () => {
      if (pgServer) {
        const pg = await pgServer.catch(() => null);
        pgServer = null;
        if (pg) await pg.stop();
      }
    },
  });
}
