// What every browser test shares: the real parts it needs (craftd, Debian's chromium, the built
// SDK bundle), Chromium started the same way, and one tab = one browser context = one session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
export const examples = path.resolve(here, "../../../examples");
export const artifacts = path.resolve(here, "../../artifacts");
export const CHROMIUM = "/usr/bin/chromium";

export const missing = !process.env.CRAFTD ? "set CRAFTD to the craftd binary"
  : !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (scripts/setup installs Debian's chromium)`
  : !existsSync(path.join(examples, "sdk/craft.js")) ? "examples/sdk/craft.js is missing (scripts/build makes it)"
  : false;
// Under CI=true a missing real part fails instead of skipping.
export const skip = missing && process.env.CI !== "true" ? `${missing} (with CI=true this fails)` : false;

// Call once at a test file's top level: under CI=true, a missing part is a failing test.
export function requireParts() {
  if (missing && !skip) test("craftd, chromium and the built SDK are present (required when CI=true)", () => assert.fail(missing));
}

// Two tabs in one browser: neither may be throttled as a background page.
export const unthrottled = ["--disable-background-timer-throttling", "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows"];

export async function launchChromium(extraArgs = []) {
  mkdirSync(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

// A new context (its own cookies and storage: its own session) with one page at `url`; page
// errors are collected in `errors`. `contexts`, when given, collects the context for closing.
export async function openTab(browser, url, { viewport = { width: 900, height: 760 }, contexts } = {}) {
  const context = await browser.newContext({ viewport });
  contexts?.push(context);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url);
  return { context, page, errors };
}
