// A real, throwaway PostgreSQL server for the API tests (the JS port of tests/store/pg_server.cpp):
// initdb into a temp dir, the postmaster on a free loopback port, CREATE DATABASE per craftd,
// fast shutdown and delete on stop(). When the tests run as root, the server runs as the
// `postgres` user via runuser, since initdb refuses root.
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

// Where the PostgreSQL binaries are: $CRAFT_PG_BIN, else the newest /usr/lib/postgresql/*/bin
// holding initdb, postgres and createdb. Empty string if none.
export function pgBinDir() {
  const usable = (dir) => {
    try {
      fs.accessSync(path.join(dir, "initdb"), fs.constants.X_OK);
      fs.accessSync(path.join(dir, "postgres"), fs.constants.X_OK);
      fs.accessSync(path.join(dir, "createdb"), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const env = process.env.CRAFT_PG_BIN;
  if (env) return usable(env) ? env : "";
  let versions = [];
  try {
    versions = fs.readdirSync("/usr/lib/postgresql").filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return "";
  }
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (usable(dir)) return dir;
  }
  return "";
}

export const pgMissingReason = pgBinDir()
  ? ""
  : "PostgreSQL binaries not found (no /usr/lib/postgresql/*/bin/initdb; set CRAFT_PG_BIN or install Debian's postgresql package)";

export async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Every server still running when the process exits is stopped (immediate mode) as a backstop.
// On SIGINT/SIGTERM too (then the signal is raised again, with its default action).
const running = new Set();
process.on("exit", () => {
  for (const s of running) s.stopSync();
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    for (const s of running) s.stopSync();
    process.kill(process.pid, sig);
  });
}

class PgServer {
  constructor(bin, dir, asPostgres) {
    this.bin = bin;
    this.dir = dir;
    this.data = path.join(dir, "data");
    this.asPostgres = asPostgres;
    this.port = 0;
    this.running = false;
    this.nextDb = 1;
  }

  argv(cmd, args) {
    return this.asPostgres ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  }

  // Runs a command (as postgres when needed), output appended to commands.log; resolves with
  // the exit code.
  run(cmd, args, { asPostgres = true } = {}) {
    const [file, full] = asPostgres ? this.argv(cmd, args) : [cmd, args];
    const log = fs.openSync(path.join(this.dir, "commands.log"), "a");
    return new Promise((resolve) => {
      const child = spawn(file, full, { stdio: ["ignore", log, log] });
      child.once("error", () => {
        fs.closeSync(log);
        resolve(-1);
      });
      child.once("exit", (code) => {
        fs.closeSync(log);
        resolve(code ?? -1);
      });
    });
  }

  logTail(file = "server.log", lines = 30) {
    try {
      return fs.readFileSync(path.join(this.dir, file), "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  // Runs the postmaster as our own (grand)child rather than through pg_ctl, so that its exit is
  // reaped here (pg_ctl would leave it to PID 1, which in a container may never reap it).
  // Resolves true once it accepts connections, false if it exited first.
  async postmasterStart() {
    const log = fs.openSync(path.join(this.dir, "server.log"), "a");
    // fsync=off: these tests kill craftd, never PostgreSQL, so what a restarted craftd must
    // find is what PostgreSQL committed, flushed to disk or not; skipping the flushes keeps a
    // busy disk from stalling craftd's startup (its migrations) past craftd.mjs's 10 s.
    const args = ["-D", this.data, "-p", String(this.port), "-k", this.dir, "-c", "listen_addresses=127.0.0.1",
      "-c", "fsync=off", "-c", "synchronous_commit=on", "-c", "max_connections=200"];
    const [file, full] = this.argv(path.join(this.bin, "postgres"), args);
    const child = spawn(file, full, { stdio: ["ignore", log, log] });
    fs.closeSync(log);
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once("error", () => resolve(-1));
      child.once("exit", (code, signal) => resolve(code ?? signal));
    });
    let gone = false;
    this.exited.then(() => { gone = true; });
    const deadline = Date.now() + 60000;
    while (Date.now() < deadline && !gone) {
      await new Promise((r) => setTimeout(r, 50));
      if (/ready to accept connections/.test(this.logTail("server.log", 200))) {
        this.running = true;
        running.add(this);
        return true;
      }
    }
    if (!gone) this.signalPostmaster("SIGQUIT");
    await this.exited;
    return false;
  }

  postmasterPid() {
    try {
      const pid = Number(fs.readFileSync(path.join(this.data, "postmaster.pid"), "utf8").split("\n")[0]);
      return pid > 0 ? pid : 0;
    } catch {
      return 0;
    }
  }

  signalPostmaster(signal) {
    const pid = this.postmasterPid();
    try {
      if (pid) process.kill(pid, signal);
      else this.child?.kill(signal);
    } catch {}
  }

  // libpq URL for database `db` as the superuser `craft`.
  url(db) {
    return `postgresql://craft@127.0.0.1:${this.port}/${db}?connect_timeout=10`;
  }

  // CREATE DATABASE with a fresh name (or the given one); resolves with the name.
  async createDatabase(name = `craft_${process.pid}_${this.nextDb++}`) {
    const createdb = path.join(this.bin, "createdb");
    const code = await this.run(createdb, ["-h", "127.0.0.1", "-p", String(this.port), "-U", "craft", name], { asPostgres: false });
    if (code !== 0) throw new Error(`createdb ${name} failed (exit ${code}):\n${this.logTail("commands.log")}\n${this.logTail()}`);
    return name;
  }

  // Fast shutdown (SIGINT), then removes the temp dir.
  async stop() {
    if (this.running) {
      this.signalPostmaster("SIGINT");
      const timer = setTimeout(() => this.signalPostmaster("SIGQUIT"), 20000);
      await this.exited;
      clearTimeout(timer);
      this.running = false;
    }
    running.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  stopSync() {
    if (this.running) {
      this.signalPostmaster("SIGQUIT");  // immediate shutdown; the process is exiting anyway
      this.running = false;
    }
    running.delete(this);
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {}
  }
}

// Starts a server; throws with the reason when it cannot.
export async function startPostgres() {
  const bin = pgBinDir();
  if (!bin) throw new Error(pgMissingReason);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "craft-api-pg-"));
  let asPostgres = false;
  if (process.getuid && process.getuid() === 0) {
    let uid, gid;
    try {
      const ids = execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim();
      uid = Number(ids);
      gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    } catch {
      fs.rmSync(dir, { recursive: true, force: true });
      throw new Error("running as root and there is no postgres user to run the server as (initdb refuses root)");
    }
    fs.chownSync(dir, uid, gid);
    asPostgres = true;
  }
  fs.chmodSync(dir, 0o755);
  const s = new PgServer(bin, dir, asPostgres);
  const init = await s.run(path.join(bin, "initdb"), ["-D", s.data, "-A", "trust", "-U", "craft", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"]);
  if (init !== 0) {
    const log = s.logTail("commands.log");
    s.stopSync();
    throw new Error(`initdb failed (exit ${init}):\n${log}`);
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    s.port = await freePort();
    if (await s.postmasterStart()) return s;
  }
  const log = s.logTail();
  s.stopSync();
  throw new Error(`postgres did not start (5 attempts):\n${log}`);
}
