// movement2d's JSON snapshots ({"state": "json"}) still draw on the page, in real headless
// Chromium against a real craftd: replicated state is the room's default, but a room an older
// client created with JSON snapshots is joined like any other (joinOrCreate takes it), and
// view.js interpolates its JSON snapshots instead of room.replicated.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { examples, launchChromium, missing, openTab, requireParts, skip } from "./lib/harness.mjs";
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

test("movement2d: a room on JSON snapshots ({state: \"json\"}) is drawn by the page: the other square moves", { skip }, async () => {
  // An "old client": the SDK in a plain page creates the room with JSON snapshots and walks right.
  const old = await openPage("/");
  const oldId = await old.page.evaluate(async () => {
    const { Client } = await import("/sdk/craft.js");
    const client = new Client(`ws://${location.host}/ws`, { name: "Old" });
    await client.connect();
    const room = await client.create("movement2d", { state: "json" });
    let seq = 0;
    window.walk = setInterval(() => {
      const b = new Uint8Array(6);
      new DataView(b.buffer).setUint32(0, ++seq, true);
      b[4] = seq % 120 < 60 ? 1 : 0xff;  // right for 2 s, then left: never stuck at a wall
      room.send(1, b);
    }, 1000 / 30);
    return client.sessionId;
  });

  const page = await openPage("/movement2d/?name=New");
  await page.page.waitForFunction((id) => window.craftDemo?.players.some((p) => p.id === id), oldId, { timeout: 10000 });
  // The page joined the JSON room (the only one) and draws the old client's square moving,
  // from JSON snapshots: none replicated.
  await page.page.waitForFunction((id) => window.craftDemo.positions()[id], oldId, { timeout: 5000 });
  const x0 = await page.page.evaluate((id) => window.craftDemo.positions()[id].x, oldId);
  await page.page.waitForFunction(({ id, x0 }) => Math.abs(window.craftDemo.positions()[id].x - x0) >= 20,
    { id: oldId, x0 }, { timeout: 10000 });
  // 20 units is 3 ticks of walking: give the count time to reach 10 (a third of a second).
  await page.page.waitForFunction(() => window.craftDemo.snapshots.json >= 10, null, { timeout: 5000 });
  const snapshots = await page.page.evaluate(() => window.craftDemo.snapshots);
  assert.ok(snapshots.json >= 10, JSON.stringify(snapshots));
  assert.equal(snapshots.replicated, 0);
  assert.equal(snapshots.decoded, 0, "no replicated snapshot came from a JSON room");

  // The page's own square is predicted and reconciled from the JSON snapshots' seq: it moves,
  // and every input it sent is acknowledged.
  const own = () => page.page.evaluate(() => window.craftDemo.positions()[window.craftDemo.sessionId]);
  const y0 = (await own()).y;
  const key = y0 < 300 ? "ArrowDown" : "ArrowUp";
  await page.page.keyboard.down(key);
  await page.page.waitForFunction((y0) => Math.abs(window.craftDemo.positions()[window.craftDemo.sessionId].y - y0) >= 40, y0, { timeout: 10000 });
  await page.page.keyboard.up(key);
  await page.page.waitForFunction(() => window.craftDemo.pending === 0, null, { timeout: 5000 });
  assert.ok(Math.abs((await own()).y - y0) >= 40);
  await old.page.evaluate(() => clearInterval(window.walk));
  assert.deepEqual([...old.errors, ...page.errors], []);
});
