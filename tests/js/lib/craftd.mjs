// Starts a real craftd (path in $CRAFTD) on free loopback ports and stops it with SIGTERM.
import { spawn } from "node:child_process";

export async function startCraftd(flags = []) {
  const bin = process.env.CRAFTD;
  if (!bin) throw new Error("set CRAFTD to the craftd binary");
  // Defaults first; a flag given by the caller replaces its default.
  const defaults = { "--http-port": "0", "--tcp-port": "0", "--shards": "2" };
  const aliases = { "--server.http-port": "--http-port", "--server.tcp-port": "--tcp-port", "--server.shards": "--shards" };
  for (const f of flags) delete defaults[aliases[f] ?? f];
  const child = spawn(bin, [...Object.entries(defaults).flat(), ...flags], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let seen = "";
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`craftd did not start: ${seen}`)), 10000);
    child.stdout.on("data", (chunk) => {
      seen += chunk;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+).*tcp 127\.0\.0\.1:(\d+)/.exec(seen);
      if (m) {
        clearTimeout(timer);
        resolve({ http: Number(m[1]), tcp: Number(m[2]) });
      }
    });
    child.once("exit", (code) => reject(new Error(`craftd exited with ${code}: ${seen}`)));
  });
  return {
    ...ports,
    url: `ws://127.0.0.1:${ports.http}/ws`,
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
      child.kill("SIGTERM");
      return exited;
    },
  };
}
