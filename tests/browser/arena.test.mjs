// The arena lobby page (examples/arena) in real headless Chromium, several tabs (one browser
// context each, so each is its own session), against a real craftd whose matchmaker creates
// movement2d rooms: matchmaking by region and mode, parties queueing together, the live room list.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { artifacts, examples, launchChromium, missing, openTab, requireParts, skip } from "./lib/harness.mjs";
import { startCraftd } from "../js/lib/craftd.mjs";

requireParts();

let server, browser;
const contexts = [];
before(async () => {
  if (missing) return;
  server = await startCraftd([
    "--static-dir", examples,
    "--matchmaker.room-type", "movement2d",  // what the page plays (README: scripts/start with this flag)
    "--matchmaker.interval-ms", "100",       // a match within a tenth of a second, not a second
    "--lobby.update-interval-ms", "100",
    "--rooms.empty-dispose-ms", "300",       // an emptied room leaves the list quickly
  ]);
  browser = await launchChromium();
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  if (server) assert.equal((await server.stop()).code, 0);
});

// One tab = one browser context = one craft session. Resolves once the page is connected,
// subscribed to the room list and (with ?party=) in the party.
async function openArena(query) {
  const { context, page, errors } = await openTab(browser, `http://127.0.0.1:${server.http}/arena/?${query}`,
    { viewport: { width: 900, height: 1000 }, contexts });
  await page.waitForFunction(() => window.arena?.ready, null, { timeout: 10000 });
  return { page, errors, context };
}
const read = (tab, f, arg) => tab.page.evaluate(f, arg);
async function queue(tab, region, mode) {
  await tab.page.selectOption("#region", region);
  await tab.page.selectOption("#mode", mode);
  await tab.page.click("#find");
  await tab.page.waitForFunction(() => ["queued", "matched", "playing"].includes(window.arena.status));
}
const playing = (tab, timeout = 10000) =>
  tab.page.waitForFunction(() => window.arena.status === "playing" && window.arena.roomId, null, { timeout });

// The server side lands in pieces; until the matchmaker and parties (and, for the live list,
// lobby subscriptions) answer, craftd says "... is not available yet" and a test that needs
// them skips with that reason (any other error fails). The probe's ticket can never match
// and is cancelled at once; its party is left at once.
async function serverFeatures(t, tab, { lobby }) {
  const lobbyError = await read(tab, () => window.arena.lobbyError);
  const probe = await read(tab, async () => {
    const { client } = window.arena;
    try {
      await client.matchmaker.remove(await client.matchmaker.add({ stringProperties: { probe: "yes" }, query: "+probe:never" }));
      const p = await client.parties.create({ open: false });
      await client.parties.leave(p.partyId);
      return "";
    } catch (e) {
      return String(e.message ?? e);
    }
  });
  const notYet = [lobby ? lobbyError : "", probe].filter((m) => /not available yet/.test(m));
  // Tickets and parties landed before the matcher was wired to them (main: "merge social:
  // ... matching not wired yet"): until /metrics shows a matchmaker metric besides the
  // tickets gauge (the matcher's runs or matches), no ticket can be matched.
  const metrics = await (await fetch(`http://127.0.0.1:${server.http}/metrics`)).text();
  if (!/^craft_matchmaker_(?!tickets\b)\w+/m.test(metrics)) notYet.push("tickets queue but the matcher is not wired yet (no craft_matchmaker_* metric but the tickets gauge)");
  if (notYet.length) {
    t.skip(`craftd: ${notYet.join("; ")}`);
    return false;
  }
  if (lobby) assert.equal(lobbyError, "", "the page subscribed to the movement2d room list");
  assert.equal(probe, "", "a ticket and a party could be made");
  return true;
}

test("arena: two players who pick the same region and mode are matched into one room and see each other move", { skip }, async (t) => {
  const a = await openArena("name=Alice");
  if (!(await serverFeatures(t, a, { lobby: false }))) return;
  const b = await openArena("name=Bob");
  const c = await openArena("name=Carol");
  await queue(c, "na", "duel");  // another region: must not be matched with Alice and Bob
  await queue(a, "eu", "duel");
  await queue(b, "eu", "duel");
  await playing(a);
  await playing(b);
  const roomA = await read(a, () => window.arena.roomId);
  assert.equal(await read(b, () => window.arena.roomId), roomA, "Alice and Bob play in the same room");
  const [aId, bId] = [await read(a, () => window.arena.sessionId), await read(b, () => window.arena.sessionId)];
  assert.deepEqual((await read(a, () => window.arena.matchPlayers)).sort(), [aId, bId].sort());
  assert.equal(await read(c, () => window.arena.status), "queued", "Carol (na) is still searching");
  assert.equal(await read(c, () => window.arena.roomId), "");

  // Alice moves; Bob sees her square move (the server's snapshots, interpolated).
  await b.page.waitForFunction((id) => window.arena.positions()[id], aId, { timeout: 5000 });
  const before = await read(b, (id) => window.arena.positions()[id], aId);
  const key = before.x < 400 ? "ArrowRight" : "ArrowLeft";
  const sign = key === "ArrowRight" ? 1 : -1;
  await a.page.keyboard.down(key);
  await b.page.waitForFunction(({ id, x0, sign }) => sign * (window.arena.positions()[id]?.x - x0) >= 60,
    { id: aId, x0: before.x, sign }, { timeout: 15000 });
  await a.page.keyboard.up(key);
  // And Alice sees Bob, standing where he started.
  await a.page.waitForFunction((id) => window.arena.positions()[id], bId, { timeout: 5000 });
  // The matched movement2d room sends replicated state (its default): both pages decoded it
  // (room.replicated, movement2d/view.js) and got no JSON snapshot.
  for (const tab of [a, b]) {
    const snapshots = await read(tab, () => window.arena.snapshots);
    assert.equal(snapshots.json, 0, "no JSON snapshot arrived");
    assert.ok(snapshots.replicated >= 5 && snapshots.decoded >= snapshots.replicated, JSON.stringify(snapshots));
  }

  // Carol cancels: her ticket ends, she is not queued any more.
  await c.page.click("#cancel");
  await c.page.waitForFunction(() => window.arena.status === "idle");
  await a.page.screenshot({ path: path.join(artifacts, "arena-a.png") });
  await b.page.screenshot({ path: path.join(artifacts, "arena-b.png") });
  for (const tab of [a, b]) await tab.page.click("#leave-room");
  assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
});

test("arena: a party of two queues together (the leader queues for both) and lands in one room", { skip }, async (t) => {
  const leader = await openArena("name=Lea");
  if (!(await serverFeatures(t, leader, { lobby: false }))) return;
  await leader.page.click("#create-party");
  await leader.page.waitForFunction(() => window.arena.partyId);
  const partyId = await read(leader, () => window.arena.partyId);
  // The invite link joins the party.
  const link = await leader.page.getAttribute("#party-info a", "href");
  assert.ok(link.endsWith(`/arena/?party=${encodeURIComponent(partyId)}`), link);
  const friend = await openArena(`party=${encodeURIComponent(partyId)}&name=Finn`);
  const ids = [await read(leader, () => window.arena.sessionId), await read(friend, () => window.arena.sessionId)];
  // Members see each other.
  for (const tab of [leader, friend]) {
    await tab.page.waitForFunction((n) => window.arena.partyMembers.length === n, 2, { timeout: 5000 });
    assert.deepEqual((await read(tab, () => window.arena.partyMembers)).sort(), [...ids].sort());
  }
  await friend.page.waitForFunction(() => document.getElementById("members").textContent.includes("Lea"));
  // Only the leader queues; the friend's button stays off.
  assert.equal(await friend.page.isDisabled("#find"), true, "a member does not queue for itself");

  // 2 vs 2 in Asia: the party (2) and two players on their own (1 + 1).
  const solo1 = await openArena("name=Sol");
  const solo2 = await openArena("name=Sam");
  await queue(leader, "asia", "team");
  // The friend sees the party's ticket, and the leader's pick.
  await friend.page.waitForFunction(() => window.arena.partyTicket && window.arena.status === "queued", null, { timeout: 5000 });
  assert.equal(await friend.page.inputValue("#mode"), "team");
  assert.equal(await friend.page.inputValue("#region"), "asia");
  await queue(solo1, "asia", "team");
  await queue(solo2, "asia", "team");
  for (const tab of [leader, friend, solo1, solo2]) await playing(tab);
  const room = await read(leader, () => window.arena.roomId);
  for (const tab of [friend, solo1, solo2]) assert.equal(await read(tab, () => window.arena.roomId), room);
  const players = await read(friend, () => window.arena.matchPlayers);
  assert.equal(players.length, 4);
  for (const id of ids) assert.ok(players.includes(id), "the party was matched as a whole");
  await friend.page.screenshot({ path: path.join(artifacts, "arena-party.png") });
  for (const tab of [leader, friend, solo1, solo2]) await tab.page.click("#leave-room");
  assert.deepEqual([leader, friend, solo1, solo2].flatMap((tab) => tab.errors), []);
});

test("arena: the room list shows a room another tab opens by region and mode (join_or_create), live, and drops it when emptied", { skip }, async (t) => {
  const watcher = await openArena("name=Vic");
  const lobbyError = await read(watcher, () => window.arena.lobbyError);
  if (/not available yet/.test(lobbyError)) return t.skip(`craftd: ${lobbyError}`);
  assert.equal(lobbyError, "");
  const a = await openArena("name=Ivy");
  const b = await openArena("name=Jon");
  // movement2d's filter keys: the same region and mode land in the same room.
  const open = (tab) => read(tab, async () => (window.joined = await window.arena.client.joinOrCreate("movement2d", { region: "na", mode: "team" })).id);
  const roomId = await open(a);
  assert.equal(await open(b), roomId, "join_or_create by region + mode joined the same room");
  await watcher.page.waitForFunction((id) => window.arena.lobbyRooms().some((r) => r.roomId === id && r.clients === 2),
    roomId, { timeout: 5000 });
  const row = await watcher.page.textContent(`#rooms tr[data-room="${roomId}"]`);
  assert.ok(row.includes("na") && row.includes("team") && /2\/\d+/.test(row), row);
  for (const tab of [a, b]) await read(tab, () => window.joined.leave());
  await watcher.page.waitForFunction((id) => window.arena.lobbyLog.some((e) => e.event === "remove" && e.roomId === id),
    roomId, { timeout: 10000 });
  assert.equal(await watcher.page.$(`#rooms tr[data-room="${roomId}"]`), null);
  assert.deepEqual([...watcher.errors, ...a.errors, ...b.errors], []);
});
