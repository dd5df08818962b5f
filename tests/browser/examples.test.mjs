// The example pages in real headless Chromium, two pages each, against a real craftd.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { artifacts, examples, launchChromium, missing, openTab, requireParts, skip } from "./lib/harness.mjs";
import { startCraftd } from "../js/lib/craftd.mjs";

requireParts();

let server, browser;
before(async () => {
  if (missing) return;
  server = await startCraftd(["--static-dir", examples]);
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  if (server) assert.equal((await server.stop()).code, 0);
});

const openPage = (pathname) => openTab(browser, `http://127.0.0.1:${server.http}${pathname}`);

test("chat: a message typed in page A appears in page B with A's name", { skip }, async () => {
  const a = await openPage("/chat/");
  const b = await openPage("/chat/");
  await a.page.fill("#name", "Alice");
  await a.page.click("#join");
  await a.page.waitForSelector("#text:not([disabled])");
  await b.page.fill("#name", "Bob");
  await b.page.click("#join");
  await b.page.waitForSelector("#text:not([disabled])");
  await a.page.waitForFunction(() => document.getElementById("members").textContent.includes("Bob"));
  await a.page.fill("#text", "hello from the browser");
  await a.page.press("#text", "Enter");
  await b.page.waitForFunction(() => document.getElementById("log").textContent.includes("Alice: hello from the browser"),
    null, { timeout: 5000 });
  await a.page.screenshot({ path: path.join(artifacts, "chat-a.png") });
  await b.page.screenshot({ path: path.join(artifacts, "chat-b.png") });
  assert.deepEqual([...a.errors, ...b.errors], []);
});

test("movement2d: holding a key in page A moves A's square as seen in page B", { skip }, async () => {
  const a = await openPage("/movement2d/?name=Alice");
  await a.page.waitForFunction(() => window.craftDemo?.sessionId);
  const b = await openPage("/movement2d/?name=Bob");
  await b.page.waitForFunction(() => window.craftDemo?.sessionId);
  const aId = await a.page.evaluate(() => window.craftDemo.sessionId);
  const seenByB = () => b.page.evaluate((id) => window.craftDemo.positions()[id], aId);
  await b.page.waitForFunction((id) => window.craftDemo.positions()[id], aId, { timeout: 5000 });
  const before = await seenByB();

  const direction = before.x < 400 ? "ArrowRight" : "ArrowLeft";  // room to move either way
  const sign = direction === "ArrowRight" ? 1 : -1;
  // Hold the key until A's own square has moved 150 units, however long that takes here; the
  // page times how long it saw the key down.
  await a.page.evaluate(() => {
    addEventListener("keydown", () => (window.keyDownAt ??= performance.now()));
    addEventListener("keyup", () => (window.keyUpAt = performance.now()));
  });
  await a.page.keyboard.down(direction);
  // While A moves, B draws A between snapshots: sampled every few ms for 400 ms, B's drawn x
  // is mostly a value no snapshot had (interpolated on server tick time), not a jump from one
  // snapshot's position to the next at each tick.
  await b.page.waitForFunction(({ id, x0, sign }) => sign * (window.craftDemo.positions()[id].x - x0) >= 10,
    { id: aId, x0: before.x, sign }, { timeout: 10000 });
  const drawn = await b.page.evaluate(async (id) => {
    const ticks = [];
    const off = window.craftDemo.room.replicated.onSnapshot(() => {
      for (const e of window.craftDemo.room.replicated.entities.values()) if (String(e.player?.id) === id) ticks.push(e.pos.x);
    });
    const xs = [];
    for (const end = performance.now() + 400; performance.now() < end; ) {
      xs.push(window.craftDemo.positions()[id].x);
      await new Promise((r) => setTimeout(r, 4));
    }
    off();
    return { xs, ticks };
  }, aId);
  const snapshotXs = new Set(drawn.ticks.map((x) => x.toFixed(2)));
  const moves = drawn.xs.filter((x, i) => i > 0 && x !== drawn.xs[i - 1]);
  const between = moves.filter((x) => !snapshotXs.has(x.toFixed(2)));
  assert.ok(drawn.ticks.length >= 5, `B decoded ${drawn.ticks.length} snapshots of A in 400 ms`);
  // (How many samples a busy machine's timers allow varies; a page that jumps from snapshot to
  // snapshot draws none between, however often it is sampled.)
  assert.ok(moves.length >= 5 && between.length >= 0.5 * moves.length,
    `B drew A at ${moves.length} new positions, ${between.length} of them between snapshots, over ${snapshotXs.size} snapshot positions: ${drawn.xs.map((x) => x.toFixed(2)).join(" ")}`);
  await a.page.waitForFunction(({ x0, sign }) =>
    sign * (window.craftDemo.positions()[window.craftDemo.sessionId].x - x0) >= 150, { x0: before.x, sign }, { timeout: 20000 });
  await a.page.keyboard.up(direction);
  const held = await a.page.evaluate(() => (window.keyUpAt - window.keyDownAt) / 1000);

  // Wait until B's view of A (100 ms behind, interpolated) has caught up with A's own.
  const ownX = () => a.page.evaluate(() => window.craftDemo.positions()[window.craftDemo.sessionId].x);
  let after;
  for (const deadline = Date.now() + 20000; ; ) {
    after = await seenByB();
    const own = await ownX();
    if (Math.abs(after.x - own) < 1) break;
    assert.ok(Date.now() < deadline, `A's predicted position ${own} never matched what B sees ${after.x}`);
    await new Promise((r) => setTimeout(r, 50));  // poll interval, not a wait for an event
  }
  const moved = sign * (after.x - before.x);
  assert.ok(moved >= 149, `A moved ${moved} units as seen by B`);
  // The speed limit against the time the page saw the key held (a slow machine only loosens
  // the check): 200 units/s, one input per 30 Hz tick, plus a tick at each end.
  assert.ok(moved <= 200 * held + 2 * 200 / 30 + 1, `A moved ${moved} units in ${held} s: faster than the speed limit allows`);
  assert.ok(Math.abs(after.y - before.y) < 0.01, "no vertical movement");
  // Both pages played on replicated state: the SDK decoded the snapshots, no JSON one came.
  for (const tab of [a, b]) {
    const snapshots = await tab.page.evaluate(() => window.craftDemo.snapshots);
    assert.equal(snapshots.json, 0, "no JSON snapshot arrived");
    assert.ok(snapshots.replicated >= 10 && snapshots.decoded >= snapshots.replicated, JSON.stringify(snapshots));
    assert.equal(snapshots.dropped, 0, "no replicated snapshot was dropped");
  }
  await a.page.screenshot({ path: path.join(artifacts, "movement2d-a.png") });
  await b.page.screenshot({ path: path.join(artifacts, "movement2d-b.png") });
  assert.deepEqual([...a.errors, ...b.errors], []);
});
