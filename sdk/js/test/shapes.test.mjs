// Issue 12's messages without a server: plain values <-> Value, the JSON text frames the SDK
// sends (docs/protocol.md §1.4: lowerCamelCase, int64 as strings, maps as objects), and how
// a Lobby and a Room apply what the server sends (server JSON decoded as the client does).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Lobby, Room, fromValue, toValue } from "../dist/esm/index.js";
import { decodeEnvelope, encodeEnvelope, makeEnvelope } from "../dist/esm/codec.js";
import { filterOf, sortOf } from "../dist/esm/values.js";

const json = (body) => encodeEnvelope(makeEnvelope({ cid: 1, body }), "json");

test("plain values map to Value kinds and back; anything else is a TypeError", () => {
  for (const v of ["ctf", "", 3, -0.5, 0, true, false]) assert.equal(fromValue(toValue(v)), v);
  assert.equal(toValue("x").kind.case, "text");
  assert.equal(toValue(2).kind.case, "number");
  assert.equal(toValue(false).kind.case, "boolean");
  for (const bad of [NaN, Infinity, null, undefined, {}, [], 1n]) assert.throws(() => toValue(bad), TypeError);
  assert.equal(fromValue(undefined), undefined);
});

test("filters and sorts: plain values become equals, objects ranges, '-key' descending", () => {
  const f = filterOf({ where: { mode: "ctf", level: { min: 3, max: 5 }, ranked: [true, { equals: true }] }, freeSeats: true });
  assert.deepEqual(f.conditions.map((c) => [c.key, fromValue(c.equals), c.min, c.max]), [
    ["mode", "ctf", undefined, undefined], ["level", undefined, 3, 5], ["ranked", true, undefined, undefined],
    ["ranked", true, undefined, undefined],
  ]);
  assert.equal(f.freeSeats, true);
  assert.equal(filterOf(undefined), undefined);
  assert.throws(() => filterOf({ where: { level: {} } }), TypeError);
  assert.throws(() => filterOf({ where: { level: { min: NaN } } }), TypeError);
  assert.deepEqual(sortOf(["-clients", "created", { key: "elo", descending: true }]).map((s) => [s.key, s.descending]),
    [["clients", true], ["created", false], ["elo", true]]);
  assert.deepEqual(sortOf(undefined), []);
});

test("JSON text frames of the new client messages", () => {
  assert.equal(json({ case: "roomList", value: { type: "arena", filter: filterOf({ where: { mode: "ctf", level: { min: 2 } }, freeSeats: true }),
    sort: sortOf("-clients"), offset: 10, limit: 5 } }),
  '{"cid":1,"roomList":{"type":"arena","filter":{"conditions":[{"key":"mode","equals":{"text":"ctf"}},{"key":"level","min":2}],"freeSeats":true},' +
    '"sort":[{"key":"clients","descending":true}],"offset":10,"limit":5}}');
  assert.equal(json({ case: "roomJoinOrCreate", value: { type: "arena", filter: filterOf({ where: { ranked: false } }), sort: sortOf("created") } }),
    '{"cid":1,"roomJoinOrCreate":{"type":"arena","filter":{"conditions":[{"key":"ranked","equals":{"boolean":false}}]},"sort":[{"key":"created"}]}}');
  assert.equal(json({ case: "roomJoin", value: { roomId: "R1", reservation: "res-1" } }), '{"cid":1,"roomJoin":{"roomId":"R1","reservation":"res-1"}}');
  assert.equal(json({ case: "propertiesSet", value: { roomId: "R1", player: 7n,
    writes: [{ key: "ready", to: toValue(true) }, { key: "gone" }], expect: [{ player: 7n, key: "ready", equals: toValue(false) }, { key: "turn" }] } }),
  '{"cid":1,"propertiesSet":{"roomId":"R1","player":"7","writes":[{"key":"ready","to":{"boolean":true}},{"key":"gone"}],' +
    '"expect":[{"player":"7","key":"ready","equals":{"boolean":false}},{"key":"turn"}]}}');
  assert.equal(json({ case: "lobbySubscribe", value: { type: "arena", limit: 20 } }), '{"cid":1,"lobbySubscribe":{"type":"arena","limit":20}}');
  assert.equal(json({ case: "lobbyUnsubscribe", value: { subscription: 3 } }), '{"cid":1,"lobbyUnsubscribe":{"subscription":3}}');
  assert.equal(json({ case: "matchmakerAdd", value: { stringProperties: { region: "eu" }, numericProperties: { elo: 1500 },
    query: "+region:eu", minCount: 2, maxCount: 4, countMultiple: 2, partyId: "P1" } }),
  '{"cid":1,"matchmakerAdd":{"stringProperties":{"region":"eu"},"numericProperties":{"elo":1500},"query":"+region:eu",' +
    '"minCount":2,"maxCount":4,"countMultiple":2,"partyId":"P1"}}');
  assert.equal(json({ case: "matchmakerRemove", value: { ticket: "T1" } }), '{"cid":1,"matchmakerRemove":{"ticket":"T1"}}');
  assert.equal(json({ case: "partyCreate", value: { open: true, maxSize: 4 } }), '{"cid":1,"partyCreate":{"open":true,"maxSize":4}}');
  assert.equal(json({ case: "partyInvite", value: { partyId: "P1", sessionId: 12345678901234567890n } }),
    '{"cid":1,"partyInvite":{"partyId":"P1","sessionId":"12345678901234567890"}}');
  assert.equal(json({ case: "partyData", value: { partyId: "P1", op: 2, data: new TextEncoder().encode("hi") } }),
    '{"cid":1,"partyData":{"partyId":"P1","op":2,"data":"aGk="}}');
});

const server = (text) => decodeEnvelope(text);

test("a lobby applies reset, added, updated and removed, with events in that order", () => {
  const lobby = new Lobby({ unsubscribeLobby: async () => {} }, "arena", {});
  const seen = [];
  for (const ev of ["reset", "add", "update", "remove", "ended"]) lobby.on(ev, (v) => seen.push([ev, v?.roomId ?? (v instanceof Map ? v.size : v)]));
  lobby.apply(server('{"cid":1,"lobbyUpdate":{"subscription":4,"reset":true,"added":[{"roomId":"A","type":"arena","clients":1,"maxClients":4,' +
    '"metadata":{"mode":{"text":"ctf"},"level":{"number":3},"ranked":{"boolean":true}}},{"roomId":"B","type":"arena"}]}}').body.value);
  assert.deepEqual([...lobby.rooms.keys()], ["A", "B"]);
  assert.deepEqual(lobby.rooms.get("A").metadata, { mode: "ctf", level: 3, ranked: true });
  lobby.apply(server('{"lobbyUpdate":{"subscription":4,"added":[{"roomId":"C"}],"updated":[{"roomId":"A","clients":2}],"removed":["B","nope"]}}').body.value);
  assert.deepEqual([...lobby.rooms.keys()], ["A", "C"]);
  assert.equal(lobby.rooms.get("A").clients, 2);
  lobby.apply(server('{"lobbyUpdate":{"subscription":4,"ended":true}}').body.value);
  assert.equal(lobby.ended, true);
  lobby.apply(server('{"lobbyUpdate":{"subscription":4,"added":[{"roomId":"D"}]}}').body.value);  // after the end: ignored
  assert.deepEqual(seen, [["reset", 2], ["add", "C"], ["update", "A"], ["remove", "B"], ["ended", undefined]]);
});

test("a room's properties: the join state, then changes in version order; stale ones skipped; a leaver's go", () => {
  const joined = server('{"cid":1,"roomJoined":{"roomId":"R","type":"relay","you":{"sessionId":"1","name":"a"},' +
    '"members":[{"sessionId":"1","name":"a"},{"sessionId":"2","name":"b"}],"properties":{"turn":{"number":1}},' +
    '"playerProperties":[{"player":"2","properties":{"ready":{"boolean":true}}}],"propertiesVersion":"5"}}').body.value;
  const room = new Room({}, joined);
  room.announceState();
  assert.deepEqual(room.properties, { turn: 1 });
  assert.deepEqual(room.playerProperties("2"), { ready: true });
  assert.deepEqual(room.playerProperties(), {});
  assert.equal(room.propertiesVersion, 5);
  const changes = [];
  room.on("properties", (c) => changes.push(c));
  room.handle(server('{"propertiesChanged":{"roomId":"R","writes":[{"key":"turn","to":{"number":1}}],"version":"5","by":"2"}}'));  // had it
  room.handle(server('{"propertiesChanged":{"roomId":"R","writes":[{"key":"turn","to":{"number":2}},{"key":"__proto__","to":{"text":"x"}}],"version":"6","by":"2"}}'));
  room.handle(server('{"propertiesChanged":{"roomId":"R","player":"1","writes":[{"key":"ready","to":{"boolean":false}}],"version":"7","by":"1"}}'));
  room.handle(server('{"propertiesChanged":{"roomId":"R","writes":[{"key":"turn"}],"version":"8"}}'));
  assert.deepEqual(changes.map((c) => [c.player, c.version, c.by]), [["0", 6, "2"], ["1", 7, "1"], ["0", 8, "0"]]);
  assert.deepEqual(changes[2].changes, { turn: null });
  assert.equal(Object.getPrototypeOf(room.properties), Object.prototype, "a __proto__ key stays a key");
  assert.deepEqual(Object.keys(room.properties), ["__proto__"]);
  assert.equal(Object.getOwnPropertyDescriptor(room.properties, "__proto__").value, "x");
  assert.deepEqual(room.playerProperties("1"), { ready: false });
  assert.equal(room.propertiesVersion, 8);
  room.handle(server('{"presence":{"roomId":"R","leaves":[{"sessionId":"2","name":"b"}]}}'));
  assert.deepEqual(room.playerProperties("2"), {});
});

test("parties: state, invitation, data and left from the server's JSON; matches and ended tickets", async () => {
  const { Parties, Matchmaker } = await import("../dist/esm/index.js");
  const unused = () => { throw new Error("no requests in this test"); };
  const parties = new Parties(unused, unused);
  const seen = [];
  for (const ev of ["state", "invitation", "data", "left"]) parties.on(ev, (v) => seen.push([ev, v]));
  parties.handle(server('{"partyState":{"partyId":"P","leader":"7","maxSize":4,"members":[{"sessionId":"7","name":"lead"},{"sessionId":"9"}],"requests":[{"sessionId":"11"}]}}'));
  const p = parties.parties.get("P");
  assert.deepEqual({ leader: p.leader, open: p.open, maxSize: p.maxSize, ticket: p.ticket }, { leader: "7", open: false, maxSize: 4, ticket: "" });
  assert.deepEqual(p.members.map((m) => m.sessionId), ["7", "9"]);
  assert.deepEqual(p.requests.map((m) => m.sessionId), ["11"]);
  parties.handle(server('{"partyInvite":{"partyId":"Q","from":{"sessionId":"3","name":"x"}}}'));
  parties.handle(server('{"partyData":{"partyId":"P","op":2,"data":"aGk=","sender":"7"}}'));
  assert.equal(parties.handle(server('{"roomData":{"roomId":"R"}}')), false);
  parties.handle(server('{"partyLeft":{"partyId":"P","reason":"kicked"}}'));
  assert.equal(parties.parties.size, 0);
  assert.deepEqual(seen.map(([ev]) => ev), ["state", "invitation", "data", "left"]);
  assert.deepEqual(seen[1][1], { partyId: "Q", from: { sessionId: "3", name: "x", accountId: "" } });
  assert.equal(new TextDecoder().decode(seen[2][1].data), "hi");
  assert.deepEqual(seen[3][1], { partyId: "P", reason: "kicked" });

  const mm = new Matchmaker(unused);
  const events = [];
  mm.on("match", (m) => events.push(["match", m]));
  mm.on("ticketEnded", (t) => events.push(["ended", t]));
  mm.tickets.add("T1").add("T2").add("T3");
  mm.matched(server('{"matchFound":{"ticket":"T1","matchId":"M","roomId":"R","roomType":"relay","reservation":"S","reservationTtlMs":15000,' +
    '"players":[{"presence":{"sessionId":"7","name":"a"},"stringProperties":{"region":"eu"},"numericProperties":{"elo":1500},"partyId":"P"}]}}').body.value);
  mm.ended(server('{"matchmakerTicketEnded":{"ticket":"T2","reason":"party changed"}}').body.value);
  mm.dropAll("session ended");
  assert.equal(mm.tickets.size, 0);
  assert.deepEqual(events[0][1], { ticket: "T1", matchId: "M", roomId: "R", roomType: "relay", reservation: "S", reservationTtlMs: 15000, roomUrl: "",
    players: [{ sessionId: "7", name: "a", accountId: "", stringProperties: { region: "eu" }, numericProperties: { elo: 1500 }, partyId: "P" }] });
  assert.deepEqual(events.slice(1), [["ended", { ticket: "T2", reason: "party changed" }], ["ended", { ticket: "T3", reason: "session ended" }]]);
});
