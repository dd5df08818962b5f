// The JS SDK's resume in real Chromium against a real craftd: the browser goes offline
// (context.setOffline) and back; the page's client resumes the same session and gets what
// the other member sent meanwhile, once and in order.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";
import { startCraftd } from "../js/lib/craftd.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const sdk = path.resolve(here, "../../sdk/js");
const CHROMIUM = "/usr/bin/chromium";
const missing = !process.env.CRAFTD ? "set CRAFTD to the craftd binary"
  : !existsSync(path.join(sdk, "node_modules/esbuild")) ? "sdk/js/node_modules is missing (scripts/setup runs npm ci there)"
  : !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (scripts/setup installs Debian's chromium)`
  : false;
const skip = missing && process.env.CI !== "true" ? `${missing} (with CI=true this fails)` : false;
if (missing && !skip) test("craftd, chromium and sdk/js/node_modules are present (required when CI=true)", () => assert.fail(missing));

// A page with the SDK's classic bundle that records what its client sees.
const page = `<!doctype html><meta charset="utf-8"><script src="/craft.global.js"></script>
<script>
window.log = [];
window.got = [];
window.start = async (name, roomId) => {
  const c = new Craft.Client("ws://" + location.host + "/ws", { name, reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
  window.client = c;
  for (const e of ["state", "dropped", "resumed", "reconnected"]) c.on(e, (i) => log.push(e + " " + (i.state ?? i.code ?? i.sessionId)));
  await c.connect();
  const room = roomId ? await c.joinById(roomId) : await c.create("relay");
  window.room = room;
  for (const e of ["join", "leave", "drop", "resume"]) room.on(e, (p) => log.push(e + " " + p.sessionId));
  room.onMessage(1, (d) => got.push(Number(new TextDecoder().decode(d))));
  return { sessionId: c.sessionId, roomId: room.id };
};
</script>`;

let work, server, browser;
before(async () => {
  if (missing) return;
  work = mkdtempSync(path.join(tmpdir(), "craft-jssdk-resume-"));
  const www = path.join(work, "www");
  mkdirSync(www);
  // The bundle from the sources as they are (the package test checks the packed one).
  const { build } = await import(pathToFileURL(path.join(sdk, "node_modules/esbuild/lib/main.js")).href);
  await build({ entryPoints: [path.join(sdk, "src/index.ts")], bundle: true, format: "iife", globalName: "Craft",
    target: "es2022", outfile: path.join(www, "craft.global.js"), logLevel: "warning" });
  writeFileSync(path.join(www, "index.html"), page);
  server = await startCraftd(["--static-dir", www]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});
after(async () => {
  if (browser) await browser.close();
  if (server) assert.equal((await server.stop()).code, 0);
  if (work) rmSync(work, { recursive: true, force: true });
});

test("offline for 2 s then online: the same session, nothing lost or doubled, the other member sees no leave", { skip, timeout: 60000 }, async () => {
  const annContext = await browser.newContext();
  const bobContext = await browser.newContext();
  const errors = [];
  const open = async (context) => {
    const p = await context.newPage();
    p.on("pageerror", (e) => errors.push(e.message));
    await p.goto(`${server.httpUrl}/index.html`);
    return p;
  };
  const bob = await open(bobContext);
  const ann = await open(annContext);
  const { roomId, sessionId: bobId } = await bob.evaluate(() => window.start("bob"));
  const { sessionId: annId } = await ann.evaluate((id) => window.start("ann", id), roomId);
  await bob.waitForFunction((id) => window.log.includes(`join ${id}`), annId);

  await annContext.setOffline(true);
  await ann.waitForFunction(() => window.client.state === "reconnecting", null, { timeout: 5000 });
  await bob.evaluate(async () => {
    for (let i = 1; i <= 30; i++) {
      window.room.send(1, String(i));
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  await new Promise((r) => setTimeout(r, 2000));
  await annContext.setOffline(false);
  await ann.waitForFunction(() => window.client.state === "connected" && window.got.length >= 30, null, { timeout: 15000 });
  await new Promise((r) => setTimeout(r, 300));

  const annSide = await ann.evaluate(() => ({ log: window.log, got: window.got, sessionId: window.client.sessionId }));
  assert.equal(annSide.sessionId, annId, "the same session");
  assert.deepEqual(annSide.got, Array.from({ length: 30 }, (_, i) => i + 1));
  assert.deepEqual(annSide.log.filter((l) => /^(state|dropped|resumed|reconnected)/.test(l)),
    ["state connecting", "state connected", "state reconnecting", "dropped 1006", "state connected", "resumed " + annId]);
  const bobLog = await bob.evaluate(() => window.log);
  assert.ok(!bobLog.includes(`leave ${annId}`), bobLog.join());
  assert.deepEqual(errors, []);
  await annContext.close();
  await bobContext.close();
});
