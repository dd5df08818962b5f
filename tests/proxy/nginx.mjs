// Debian's nginx in a temp prefix, for the tests in this directory: the repository's config
// files (docs/deploy/) with their ports and paths substituted, in the frame Debian's
// /etc/nginx/nginx.conf gives conf.d files.
import { spawn, execFileSync } from "node:child_process";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const nginxBinary = ["/usr/sbin/nginx", "/usr/bin/nginx"].find((p) => fs.existsSync(p));

/** A deploy file's text (docs/deploy/<name>). */
export const deployFile = (name) => fs.readFileSync(path.join(repo, "docs/deploy", name), "utf8");

// Replaces `from` in `text` and fails if it is not there: the deploy file must keep the
// lines the test substitutes, or the test would silently run something else.
export function substitute(text, from, to, file = "the deploy file") {
  assert.ok(text.includes(from), `${file} no longer contains "${from}"`);
  return text.split(from).join(to);
}

/** A self-signed certificate for 127.0.0.1 made by the openssl CLI: {cert, key} paths. */
export function selfSigned(dir) {
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    { stdio: "pipe" });
  return { cert, key };
}

async function waitForPort(port, host, exited, log) {
  const deadline = Date.now() + 10000;
  for (;;) {
    if (exited()) throw new Error(`nginx exited before listening:\n${log()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect(port, host, () => (s.destroy(), resolve(true)));
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx did not listen on ${port} in 10 s:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Runs nginx in `dir` with `http` (the http block's include) and optionally `stream` (the
 * stream block's), waiting until it listens on `port`. stop() ends it (SIGQUIT, then SIGKILL).
 */
export async function startNginx(dir, { port, http, stream }) {
  fs.writeFileSync(path.join(dir, "craft.conf"), http);
  if (stream !== undefined) fs.writeFileSync(path.join(dir, "craft-stream.conf"), stream);
  // Debian's nginx loads the stream module from modules-enabled; here it is loaded by hand.
  const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so";
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((t) => `  ${t}_temp_path ${path.join(dir, t)};`)
    .join("\n");
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root;\n" : ""}${stream !== undefined ? `load_module ${streamModule};\n` : ""}daemon off;
worker_processes 1;
pid ${path.join(dir, "nginx.pid")};
error_log ${path.join(dir, "error.log")} info;
events { worker_connections 256; }
http {
  access_log ${path.join(dir, "access.log")};
${temp}
  include ${path.join(dir, "craft.conf")};
}
${stream !== undefined ? `stream {\n  include ${path.join(dir, "craft-stream.conf")};\n}\n` : ""}`,
  );
  const child = spawn(nginxBinary, ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  let exit = null;
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve((exit = { code, signal }))));
  const log = () => `${stderr}\n${fs.existsSync(path.join(dir, "error.log")) ? fs.readFileSync(path.join(dir, "error.log"), "utf8").slice(-4000) : ""}`;
  try {
    await waitForPort(port, "127.0.0.1", () => exit, log);
  } catch (e) {
    child.kill("SIGKILL");  // started but never listening: leave nothing behind
    throw e;
  }
  return {
    log,
    pid: child.pid,
    async stop() {
      if (!exit) child.kill("SIGQUIT");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
