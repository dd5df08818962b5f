// The arena shooter page (examples/arena/play.html) in real headless Chromium, two tabs (one
// browser context each: two sessions, two device accounts) in one `arena` room of a real craftd
// without bots: each sees the other move (interpolated replicated state), Alice shoots Bob
// dead (real mouse aim and click; the server's lag-compensated hitscan decides), both kill
// feeds and scoreboards say so, the round ends with the overlay and Alice's kill is on the
// arena_kills leaderboard.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { artifacts, examples, launchChromium, missing, openTab, requireParts, skip, unthrottled } from "./lib/harness.mjs";
import { startCraftd } from "../js/lib/craftd.mjs";

const ADMIN_KEY = "arena-shooter-test";
const ROUND_SECONDS = 35;  // from Alice's Play: walking into range and the kill took 15-20 s on a loaded 2-core machine
requireParts();

let server, browser;
const contexts = [];
before(async () => {
  if (missing) return;
  server = await startCraftd(["--static-dir", examples, "--store.sqlite-path", ":memory:", "--auth.admin-key", ADMIN_KEY]);
  // The operator's part (README "Shooter"): the board the room writes each round's kills to.
  const res = await fetch(`${server.httpUrl}/v1/leaderboard/create`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${ADMIN_KEY}` },
    body: JSON.stringify({ id: "arena_kills", sort: "DESCENDING", operator: "INCREMENT", authoritative: true }),
  });
  assert.ok(res.status === 200 || res.status === 409, `leaderboard create: ${res.status} ${await res.text()}`);
  browser = await launchChromium(unthrottled);
});
after(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  if (server) assert.equal((await server.stop()).code, 0);
});

async function openShooter(name) {
  const { page, errors } = await openTab(browser,
    `http://127.0.0.1:${server.http}/arena/play.html?name=${name}&bots=0&roundSeconds=${ROUND_SECONDS}`,
    { viewport: { width: 1300, height: 1100 }, contexts });
  await page.waitForFunction(() => window.arena?.ready, null, { timeout: 10000 });
  return { page, errors, name };
}
const read = (tab, f, arg) => tab.page.evaluate(f, arg);
// Clicks Play; "" once playing, else the error the page shows.
async function play(tab) {
  await tab.page.click("#play");
  await tab.page.waitForFunction(() => window.arena.status === "playing" || document.getElementById("error").textContent, null, { timeout: 10000 });
  if ((await read(tab, () => window.arena.status)) === "playing") {
    await tab.page.waitForFunction(() => window.arena.positions()[window.arena.you], null, { timeout: 5000 });
    return "";
  }
  return tab.page.textContent("#error");
}

// Geometry on the walls the page draws (its join state): is the segment clear of every wall
// grown by `pad` (a circle of radius pad moving along it touches none)?
function clear(walls, a, b, pad) {
  const steps = Math.ceil(Math.hypot(b.x - a.x, b.y - a.y) / 4) + 1;
  for (let i = 0; i <= steps; i++) {
    const x = a.x + ((b.x - a.x) * i) / steps, y = a.y + ((b.y - a.y) * i) / steps;
    for (const [wx, wy, ww, wh] of walls) if (x > wx - pad && x < wx + ww + pad && y > wy - pad && y < wy + wh + pad) return false;
  }
  return true;
}
const ARROWS = { "1,0": ["ArrowRight"], "-1,0": ["ArrowLeft"], "0,1": ["ArrowDown"], "0,-1": ["ArrowUp"] };
const position = (tab, id) => read(tab, (i) => window.arena.positions()[i], id);
// Walks `tab`'s player to `to` with the arrow keys held down: diagonal first, then straight
// (the path the caller checked), until its own (predicted) position is there.
async function walk(tab, id, to) {
  for (let leg = 0; leg < 3; leg++) {
    const at = await position(tab, id);
    const dx = to.x - at.x, dy = to.y - at.y;
    const keys = [];
    if (Math.abs(dx) >= 10) keys.push(dx > 0 ? "ArrowRight" : "ArrowLeft");
    if (Math.abs(dy) >= 10) keys.push(dy > 0 ? "ArrowDown" : "ArrowUp");
    if (!keys.length) return;
    for (const k of keys) await tab.page.keyboard.down(k);
    try {
      // Until one of the axes being walked is there.
      await tab.page.waitForFunction(({ id, to, sx, sy }) => {
        const p = window.arena.positions()[id];
        return (sx && sx * (to.x - p.x) < 6) || (sy && sy * (to.y - p.y) < 6);
      }, { id, to, sx: Math.abs(dx) >= 10 ? Math.sign(dx) : 0, sy: Math.abs(dy) >= 10 ? Math.sign(dy) : 0 }, { timeout: 10000 });
    } finally {
      for (const k of keys) await tab.page.keyboard.up(k);
    }
  }
}

// `watcher` sees `mover` walk: the mover holds a key toward open space and the watcher's drawn
// (interpolated) position of it follows by at least 50 units in that direction.
async function seesMove(mover, moverId, watcher) {
  const walls = await read(mover, () => window.arena.walls);
  const r = await read(mover, () => window.arena.radius);
  const at = await read(mover, (i) => window.arena.positions()[i], moverId);
  const dir = Object.keys(ARROWS).map((k) => k.split(",").map(Number)).find(([dx, dy]) => {
    const to = { x: at.x + dx * 160, y: at.y + dy * 160 };
    return to.x > r && to.x < 1600 - r && to.y > r && to.y < 1200 - r && clear(walls, at, to, r + 2);
  });
  assert.ok(dir, `no open direction around ${JSON.stringify(at)}`);
  await watcher.page.waitForFunction((i) => window.arena.positions()[i], moverId, { timeout: 5000 });
  const seen = await read(watcher, (i) => window.arena.positions()[i], moverId);
  for (const k of ARROWS[dir.join(",")]) await mover.page.keyboard.down(k);
  await watcher.page.waitForFunction(({ i, x0, y0, dx, dy }) => {
    const p = window.arena.positions()[i];
    return p && (p.x - x0) * dx + (p.y - y0) * dy >= 50;
  }, { i: moverId, x0: seen.x, y0: seen.y, dx: dir[0], dy: dir[1] }, { timeout: 10000 });
  for (const k of ARROWS[dir.join(",")]) await mover.page.keyboard.up(k);
}

// Where the shooter can stand to see the target: the nearest point on a grid, reachable by the
// walk above (diagonal then straight, clear of walls) and with a clear line of fire.
function firingSpot(walls, r, from, target, range) {
  let best = null;
  for (let x = 2 * r; x <= 1600 - 2 * r; x += 20) {
    for (let y = 2 * r; y <= 1200 - 2 * r; y += 20) {
      const p = { x, y };
      const d = Math.hypot(p.x - target.x, p.y - target.y);
      if (d > range || d < 6 * r || !clear(walls, p, target, 3)) continue;
      const diag = Math.min(Math.abs(p.x - from.x), Math.abs(p.y - from.y));
      const corner = { x: from.x + Math.sign(p.x - from.x) * diag, y: from.y + Math.sign(p.y - from.y) * diag };
      if (!clear(walls, from, corner, r + 4) || !clear(walls, corner, p, r + 4)) continue;
      const cost = Math.hypot(p.x - from.x, p.y - from.y);
      if (!best || cost < best.cost) best = { ...p, cost };
    }
  }
  return best;
}

test("arena shooter: two tabs see each other move, a kill reaches both kill feeds and scoreboards, the round ends on the leaderboard", { skip }, async (t) => {
  const a = await openShooter("Alice");
  const b = await openShooter("Bob");
  for (const tab of [a, b]) assert.ok((await read(tab, () => window.arena.accountId)).length > 0, `${tab.name} has a device account`);
  const started = Date.now();  // the room (and its round clock) starts with Alice's Play
  const marks = [];
  const mark = (what) => marks.push(`${what} ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const refused = await play(a);
  // The room type lands on its own branch; until craftd has it, say so rather than fail.
  if (/UNKNOWN_ROOM_TYPE|no room type/.test(refused)) return t.skip(`craftd: ${refused}`);
  assert.equal(refused, "");
  assert.equal(await play(b), "");
  const roomId = await read(a, () => window.arena.roomId);
  assert.equal(await read(b, () => window.arena.roomId), roomId, "join_or_create put Bob in Alice's room");
  const [aId, bId] = [await read(a, () => window.arena.you), await read(b, () => window.arena.you)];
  assert.notEqual(aId, bId);

  // Bob spawned out of Alice's sight (the spawn farthest from her): Alice walks to where she
  // sees him, within range and with a clear line of fire.
  const walls = await read(a, () => window.arena.walls);
  const r = await read(a, () => window.arena.radius);
  const approach = async () => {
    const from = await position(a, aId), bob = await position(b, bId);
    if (clear(walls, from, bob, 3) && Math.hypot(bob.x - from.x, bob.y - from.y) <= 700) return;
    const spot = firingSpot(walls, r, from, bob, 600);
    assert.ok(spot, `no spot to shoot Bob at ${JSON.stringify(bob)} from ${JSON.stringify(from)}`);
    await walk(a, aId, spot);
  };
  mark("both playing");
  await approach();
  mark("in range");

  // Each sees the other move; once the mover stops, its predicted position (replayed on the
  // server's after each snapshot) is where the other tab draws it: prediction agrees with the room.
  for (const [mover, id, watcher] of [[a, aId, b], [b, bId, a]]) {
    await seesMove(mover, id, watcher);
    let own, seen;
    for (const until = Date.now() + 5000; ; await mover.page.waitForTimeout(100)) {
      [own, seen] = [await position(mover, id), await position(watcher, id)];
      if (Math.hypot(own.x - seen.x, own.y - seen.y) < 0.5) break;
      assert.ok(Date.now() < until, `${mover.name}'s predicted position ${JSON.stringify(own)} never matched what ${watcher.name} sees ${JSON.stringify(seen)}`);
    }
  }

  mark("seen moving");
  // Alice aims at Bob with the mouse (where her page draws him) and holds the button.
  await approach();
  await a.page.waitForFunction((i) => window.arena.positions()[i], bId, { timeout: 5000 });
  const aim = async () => {
    const target = await read(a, (i) => window.arena.positions()[i], bId);
    const at = await read(a, ({ x, y }) => window.arena.toPage(x, y), target);
    await a.page.mouse.move(at.x, at.y);
  };
  await aim();
  await a.page.mouse.down();
  const killed = (i) => window.arena.killFeed.some((k) => k.victim === i);
  const deadline = Date.now() + 15000;
  while (!(await read(a, killed, bId))) {
    assert.ok(Date.now() < deadline, `Bob not dead after 15 s: shots ${await read(a, () => window.arena.shotsFired)} (the room fired ${await read(a, () => window.arena.shotsConfirmed)}), hits ${JSON.stringify(await read(a, () => window.arena.hits))}`);
    await a.page.waitForTimeout(100);
    await aim();
  }
  await a.page.mouse.up();
  // The round must not end before this: the margin, for a slow machine.
  mark("Bob dead");
  const corrections = [await read(a, () => window.arena.correction), await read(b, () => window.arena.correction)];
  t.diagnostic(`${marks.join(", ")} (round: ${ROUND_SECONDS} s); shots ${await read(a, () => window.arena.shotsFired)} (the room fired ${await read(a, () => window.arena.shotsConfirmed)}), hits ${(await read(a, () => window.arena.hits)).length}; largest prediction corrections ${corrections.map((c) => c.toFixed(3)).join(", ")} units`);
  // Not asserted: on an idle machine the largest correction is the 1/16 quantization (0.042
  // measured), but when craftd or the page is starved the room skips ticks or drops inputs past
  // its queue of 8 and a snapshot rightly pulls the prediction back (51 units seen under a
  // load average of 17). The check that stays is the one above: at rest, prediction and room agree.
  assert.ok((await read(a, () => window.arena.hits)).some((h) => h.shooter === aId && h.target === bId), "Alice got hit events on Bob");
  // Bob's page drew Alice's shots as tracers, from the room's shot events (four hits at least).
  await b.page.waitForFunction(() => window.arena.shotEvents >= 4, null, { timeout: 5000 });

  // Both kill feeds: the kill, by the entity ids and the names each page shows.
  for (const tab of [a, b]) {
    await tab.page.waitForFunction((i) => window.arena.killFeed.some((k) => k.victim === i), bId, { timeout: 5000 });
    const kills = await read(tab, () => window.arena.killFeed);
    assert.deepEqual(kills.map(({ killer, victim, killerName, victimName }) => ({ killer, victim, killerName, victimName })),
      [{ killer: aId, victim: bId, killerName: "Alice", victimName: "Bob" }], `${tab.name}'s kill feed`);
    assert.ok((await read(tab, () => window.arena.feedText)).some((s) => s.includes("Alice") && s.includes("Bob")));
  }
  // The scoreboards agree: Alice 1 kill, Bob 1 death (replicated kills and deaths).
  const agreed = ({ aId, bId }) => {
    const rows = window.arena.scoreboard();
    const ra = rows.find((x) => x.id === aId), rb = rows.find((x) => x.id === bId);
    return ra && rb && ra.kills === 1 && ra.deaths === 0 && rb.kills === 0 && rb.deaths === 1;
  };
  for (const tab of [a, b]) await tab.page.waitForFunction(agreed, { aId, bId }, { timeout: 5000 });
  await a.page.screenshot({ path: path.join(artifacts, "arena-shooter-a.png") });

  // Round end: both tabs show the overlay with the final scores.
  for (const tab of [a, b]) {
    await tab.page.waitForFunction(() => window.arena.overlay, null, { timeout: (ROUND_SECONDS + 10) * 1000 });
    const { scores } = await read(tab, () => window.arena.overlay);
    assert.deepEqual(scores.map(({ id, kills, deaths }) => ({ id, kills, deaths })),
      [{ id: aId, kills: 1, deaths: 0 }, { id: bId, kills: 0, deaths: 1 }], `${tab.name}'s round-over scores`);
  }
  await b.page.screenshot({ path: path.join(artifacts, "arena-shooter-over.png") });

  // The leaderboard has Alice's kill: read through the HTTP API as a third account, and on her page.
  const aliceAccount = await read(a, () => window.arena.accountId);
  const reader = await (await fetch(`${server.httpUrl}/v1/auth/device`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ deviceId: "arena-shooter-test-reader", create: true }),
  })).json();
  let record;
  for (const until = Date.now() + 5000; !record && Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    const res = await fetch(`${server.httpUrl}/v1/leaderboard/list`, {
      method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${reader.token}` },
      body: JSON.stringify({ leaderboardId: "arena_kills", limit: 10 }),
    });
    record = (await res.json()).records?.find((x) => x.ownerId === aliceAccount);
  }
  assert.ok(record, "Alice's record is on arena_kills");
  assert.equal(Number(record.score), 1);
  await a.page.waitForFunction((id) => window.arena.leaderboard.some((x) => x.ownerId === id && x.score === 1), aliceAccount, { timeout: 5000 });
  assert.deepEqual([...a.errors, ...b.errors], []);
});
