// Issue 12's SDK calls against a real craftd: listings with filter/sort/pages, lobby
// subscriptions, properties with check-and-swap, matchmaking with seat reservations, parties.
// Each group first asks the server whether it has the feature: a craftd built before the
// feature landed answers UNKNOWN_MESSAGE "... not available yet", and that group skips.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { Client, CraftError, decodeJson } from "../dist/esm/index.js";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

let server;
const missing = {};
before(async () => {
  if (skipReason) return;
  server = await startCraftd();
  const c = await connect("probe");
  const probe = async (name, body) => {
    try {
      await c.request({ body });
    } catch (e) {
      if (e instanceof CraftError && e.code === "UNKNOWN_MESSAGE" && /not available yet/.test(e.message)) missing[name] = `craftd has no ${name} yet: ${e.message}`;
    }
  };
  await probe("rooms", { case: "lobbySubscribe", value: { type: "relay" } });
  await probe("matchmaker", { case: "matchmakerRemove", value: { ticket: "none" } });
  await probe("parties", { case: "partyLeave", value: { partyId: "none" } });
  await c.close();
});
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

async function connect(name, format = "binary") {
  const c = new Client(server.url, { name, format, WebSocket, reconnect: { enabled: false } });
  await c.connect();
  return c;
}
const next = (subscribe, pred = () => true, ms = 5000) => new Promise((resolve, reject) => {
  const timer = setTimeout(() => { off(); reject(new Error(`no matching event within ${ms} ms`)); }, ms);
  const off = subscribe((v) => { if (pred(v)) { clearTimeout(timer); off(); resolve(v); } });
});
// A test of a group runs only once the server has it (see above); the skip names the reason.
const group = (name, title, fn) => test(title, { skip: skipReason }, async (t) => {
  if (missing[name]) return t.skip(missing[name]);
  await fn(t);
});

for (const format of ["binary", "json"]) {
  group("rooms", `${format}: listRooms pages with offset/limit/more, filters and sorts on clients`, async () => {
    const a = await connect("a", format);
    const b = await connect("b", format);
    const type = "relay";
    const r1 = await a.create(type);
    const r2 = await a.create(type);
    await b.joinById(r2.id);
    const r3 = await b.create(type);
    const ours = new Set([r1.id, r2.id, r3.id]);
    const all = (await a.listRooms(type)).filter((r) => ours.has(r.roomId));
    assert.deepEqual(all.map((r) => r.roomId), [r1.id, r2.id, r3.id], "default: oldest first");
    assert.equal(typeof all[0].metadata, "object");

    const first = await a.listRooms(type, { limit: 2 });
    assert.equal(first.length, 2);
    assert.equal(first.more, true);
    const rest = await a.listRooms(type, { offset: 2, limit: 100 });
    assert.equal(rest.more, false);
    assert.deepEqual([...first, ...rest].map((r) => r.roomId).filter((id) => ours.has(id)), [r1.id, r2.id, r3.id]);

    const busy = await a.listRooms(type, { filter: { where: { clients: { min: 2 } } } });
    assert.deepEqual(busy.map((r) => r.roomId).filter((id) => ours.has(id)), [r2.id]);
    assert.ok(busy.every((r) => r.clients >= 2));
    const sorted = (await a.listRooms(type, { sort: ["-clients", "created"] })).filter((r) => ours.has(r.roomId));
    assert.deepEqual(sorted.map((r) => r.roomId), [r2.id, r1.id, r3.id]);
    const none = await a.listRooms(type, { filter: { where: { clients: 99 } } });
    assert.equal(none.length, 0);

    // joinOrCreate picks by filter and sort: the fullest room, not the oldest.
    const c = await connect("c", format);
    const picked = await c.joinOrCreate(type, undefined, { filter: { freeSeats: true }, sort: "-clients" });
    assert.equal(picked.id, r2.id);
    for (const x of [a, b, c]) await x.close();
  });
}

group("rooms", "a lobby subscription: first page, then add / update / remove; unsubscribe ends it", async () => {
  const watcher = await connect("watcher", "json");
  const host = await connect("host");
  const lobby = await watcher.subscribeLobby("relay", { filter: { freeSeats: true, where: { clients: { min: 1 } } } });
  assert.ok(lobby.subscription > 0);
  assert.ok(lobby.rooms instanceof Map);
  // Waits until the list satisfies done(), checking after every event (updates are batched).
  const until = (what, done) => done() ? Promise.resolve() : new Promise((resolve, reject) => {
    const timer = setTimeout(() => { offs.forEach((f) => f()); reject(new Error(`the lobby never got there: ${what}`)); }, 5000);
    const check = () => { if (done()) { clearTimeout(timer); offs.forEach((f) => f()); resolve(); } };
    const offs = ["add", "update", "remove", "reset"].map((ev) => lobby.on(ev, check));
  });
  const room = await host.create("relay");
  await until("add", () => lobby.rooms.has(room.id));
  assert.equal(lobby.rooms.get(room.id).clients, 1);
  const guest = await connect("guest");
  await guest.joinById(room.id);
  await until("update", () => lobby.rooms.get(room.id)?.clients === 2);
  await guest.close();
  await host.close();  // the last member leaves: clients 0 no longer passes the filter (or the room is gone)
  await until("remove", () => !lobby.rooms.has(room.id));
  const ended = next((cb) => lobby.on("ended", cb));
  await lobby.unsubscribe();
  await ended;
  assert.equal(lobby.ended, true);
  await watcher.close();
});

group("rooms", "player properties: set with check-and-swap, seen by every member in order; conflicts reject", async () => {
  const a = await connect("a");
  const b = await connect("b", "json");
  const ra = await a.create("relay");
  const rb = await b.joinById(ra.id);
  const seen = next((cb) => rb.on("properties", cb));
  const change = await ra.setProperties({ ready: true, role: "tank", speed: 1.5 }, { player: a.sessionId, expect: { ready: null } });
  assert.deepEqual(change.changes, { ready: true, role: "tank", speed: 1.5 });
  assert.equal(change.player, a.sessionId);
  assert.equal(change.by, a.sessionId);
  assert.deepEqual(ra.playerProperties(), { ready: true, role: "tank", speed: 1.5 });
  const other = await seen;
  assert.equal(other.version, change.version);
  assert.deepEqual(rb.playerProperties(a.sessionId), { ready: true, role: "tank", speed: 1.5 });

  await assert.rejects(ra.setProperties({ ready: false }, { player: a.sessionId, expect: { ready: false } }),
    (e) => e instanceof CraftError && e.code === "PROPERTY_CONFLICT");
  assert.equal(ra.playerProperties().ready, true, "nothing written");
  await assert.rejects(rb.setProperties({ ready: false }, { player: a.sessionId }), (e) => e.code === "PERMISSION_DENIED");
  const del = await ra.setProperties({ role: null }, { player: a.sessionId, expect: [{ player: a.sessionId, key: "ready", equals: true }] });
  assert.equal(del.version, change.version + 1);
  assert.deepEqual(ra.playerProperties(), { ready: true, speed: 1.5 });
  if (rb.propertiesVersion < del.version) await next((cb) => rb.on("properties", cb), (c) => c.version === del.version);
  assert.deepEqual(rb.playerProperties(a.sessionId), { ready: true, speed: 1.5 });

  // A late joiner gets the properties in room_joined.
  const c = await connect("c");
  const rc = await c.joinById(ra.id);
  assert.deepEqual(rc.playerProperties(a.sessionId), { ready: true, speed: 1.5 });
  assert.equal(rc.propertiesVersion, del.version);
  await assert.rejects(ra.setProperties({ bad: NaN }), TypeError);
  for (const x of [a, b, c]) await x.close();
});

// main's craftd queues tickets but does not match them yet ("merge social: ... matching not
// wired yet"): this test waits for that; set it to true when matches are made.
const MATCHING_WIRED = true;
group("matchmaker", "two tickets match: both get the match and join its room with their reservations", async (t) => {
  if (!MATCHING_WIRED) return t.skip("craftd does not match tickets yet (MATCHING_WIRED)");
  const a = await connect("a");
  const b = await connect("b", "json");
  const matchA = next((cb) => a.matchmaker.on("match", cb), () => true, 15000);
  const matchB = next((cb) => b.matchmaker.on("match", cb), () => true, 15000);
  const ta = await a.matchmaker.add({ stringProperties: { mode: "sdk" }, query: "+mode:sdk", minCount: 2 });
  assert.ok(a.matchmaker.tickets.has(ta));
  const tb = await b.matchmaker.add({ stringProperties: { mode: "sdk" }, numericProperties: { elo: 1500 }, query: "+mode:sdk", minCount: 2 });
  const [ma, mb] = await Promise.all([matchA, matchB]);
  assert.equal(ma.ticket, ta);
  assert.equal(mb.ticket, tb);
  assert.equal(ma.roomId, mb.roomId);
  assert.equal(ma.matchId, mb.matchId);
  assert.ok(ma.reservationTtlMs > 0);
  assert.deepEqual(ma.players.map((p) => p.sessionId).sort(), [a.sessionId, b.sessionId].sort());
  assert.equal(a.matchmaker.tickets.size, 0);
  await assert.rejects(a.joinMatch({ roomId: ma.roomId, reservation: mb.reservation }), (e) => e.code === "RESERVATION_INVALID");
  const room = await a.joinMatch(ma);
  assert.equal(room.id, ma.roomId);
  await b.joinMatch(mb);
  await assert.rejects(a.joinMatch(ma), (e) => e instanceof CraftError);  // one-time (and we are in it)
  await a.close();
  await b.close();
});

group("matchmaker", "a removed ticket ends with \"cancelled\"", async () => {
  const a = await connect("a");
  const ended = next((cb) => a.matchmaker.on("ticketEnded", cb));
  const t = await a.matchmaker.add({ stringProperties: { mode: "nobody-else" }, query: "", minCount: 3 });
  assert.equal(await a.matchmaker.remove(t), "cancelled");
  assert.deepEqual(await ended, { ticket: t, reason: "cancelled" });
  assert.equal(a.matchmaker.tickets.size, 0);
  await assert.rejects(a.matchmaker.add({ query: "+mode:" + "x".repeat(2000) }), (e) => e instanceof CraftError && e.code === "BAD_REQUEST");
  await assert.rejects(a.matchmaker.add({ minCount: 5, maxCount: 3 }), (e) => e.code === "BAD_REQUEST");
  assert.equal(a.matchmaker.tickets.size, 0);
  await a.close();
});

group("parties", "a closed party: invite, join, data, promote, kick", async () => {
  const lead = await connect("lead");
  const mate = await connect("mate", "json");
  const party = await lead.parties.create({ open: false, maxSize: 4 });
  assert.equal(party.leader, lead.sessionId);
  assert.deepEqual(party.members.map((m) => m.sessionId), [lead.sessionId]);
  const invited = next((cb) => mate.parties.on("invitation", cb));
  await lead.parties.invite(party.partyId, mate.sessionId);
  const inv = await invited;
  assert.equal(inv.partyId, party.partyId);
  assert.equal(inv.from.sessionId, lead.sessionId);
  const leadSees = next((cb) => lead.parties.on("state", cb), (s) => s.members.length === 2);
  await mate.parties.join(party.partyId);
  await leadSees;
  assert.equal(mate.parties.parties.get(party.partyId).members.length, 2);

  const got = next((cb) => mate.parties.on("data", cb));
  lead.parties.send(party.partyId, 3, { go: true });
  const data = await got;
  assert.equal(data.op, 3);
  assert.equal(data.sender, lead.sessionId);
  assert.deepEqual(decodeJson(data.data), { go: true });

  await assert.rejects(mate.parties.kick(party.partyId, lead.sessionId), (e) => e instanceof CraftError);
  const promoted = next((cb) => lead.parties.on("state", cb), (s) => s.leader === mate.sessionId);
  await lead.parties.promote(party.partyId, mate.sessionId);
  await promoted;
  const kicked = next((cb) => lead.parties.on("left", cb));
  await mate.parties.kick(party.partyId, lead.sessionId);
  assert.deepEqual(await kicked, { partyId: party.partyId, reason: "kicked" });
  assert.equal(lead.parties.parties.has(party.partyId), false);
  await lead.close();
  await mate.close();
});
