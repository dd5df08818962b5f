// Starts a real craftd (path in $CRAFTD) on free loopback ports and stops it with SIGTERM.
import { spawn } from "node:child_process";
import net from "node:net";
import assert from "node:assert/strict";

export const craftdPath = process.env.CRAFTD;
// Without $CRAFTD the tests that need a server skip, except under CI=true: there a missing
// real part must fail, so the skip reason is false and startCraftd() throws.
const missing = "CRAFTD is not set: point it at a craftd binary (e.g. CRAFTD=build/apps/craftd/craftd node --test tests/js/)";
export const skipReason = craftdPath || process.env.CI === "true" ? false : `${missing} (with CI=true this fails)`;

// flags: extra command-line flags, e.g. ["--limits.max-message-size", "1024"]. The
// defaults --http-port 0 --tcp-port 0 --shards 2 apply unless the caller passes its own.
export async function startCraftd(flags = []) {
  if (!craftdPath) throw new Error(process.env.CI === "true" ? `${missing}. CI=true: the tests must run, not be skipped` : missing);
  const defaults = { "--http-port": "0", "--tcp-port": "0", "--shards": "2" };
  const aliases = { "--server.http-port": "--http-port", "--server.tcp-port": "--tcp-port", "--server.shards": "--shards" };
  for (const f of flags) delete defaults[aliases[f] ?? f];
  const args = [...Object.entries(defaults).flat(), ...flags];
  const child = spawn(craftdPath, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk) => {
    stderr = (stderr + chunk).slice(-8000);  // shown only when something goes wrong
  });
  let exit = null;
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    }),
  );
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`craftd ${args.join(" ")} did not start in 10 s:\n${stdout}\n${stderr}`)), 10000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const http = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
      const tcp = /tcp 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (http && tcp) {
        clearTimeout(timer);
        resolve({ http: Number(http[1]), tcp: Number(tcp[1]) });
      }
    });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`craftd ${args.join(" ")} exited (code ${code}, signal ${signal}) before listening:\n${stdout}\n${stderr}`));
    });
  });
  const secure = /listening on https:/.test(stdout);  // tls.cert_file set
  return {
    ...ports,
    url: `${secure ? "wss" : "ws"}://127.0.0.1:${ports.http}/ws`,
    httpUrl: `${secure ? "https" : "http"}://127.0.0.1:${ports.http}`,
    pid: child.pid,
    get exit() { return exit; },
    get stderr() { return stderr; },
    // SIGTERM, then asserts a clean exit (code 0) within 10 s.
    async stop() {
      if (!exit) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10000);
      const result = await exited;
      clearTimeout(timer);
      assert.deepEqual(result, { code: 0, signal: null }, `craftd should exit 0 on SIGTERM; stderr:\n${stderr}`);
      return result;
    },
  };
}

// A loopback port that was free a moment ago (for tests that need a port nobody listens on).
export async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
