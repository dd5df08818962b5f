// A real redis-server on a free loopback port, without persistence; stop() kills it.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { freePort } from "./craftd.mjs";

export const hasRedis = spawnSync("redis-server", ["--version"]).status === 0;

export async function startRedis() {
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start: ${out}`));
    }, 5000);
    child.stdout.on("data", (d) => {
      out += d;
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  let exited = false;
  const gone = new Promise((r) => child.once("exit", () => r((exited = true))));
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    /** One command through redis-cli; its output, trimmed. */
    cli: (...args) => execFileSync("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" }).trim(),
    stop: async () => {
      if (!exited) child.kill("SIGKILL");
      await gone;
    },
  };
}
