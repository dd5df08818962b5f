// A craft client written from docs/protocol.md alone: JSON (text frames) or protobuf
// (binary frames, with the tiny encoder in proto.mjs), requests matched by cid.
import WebSocket from "ws";
import { decodeEnvelope, encodeEnvelope } from "./proto.mjs";

export class CraftError extends Error {
  constructor(code, message, cid) {
    super(`${code}: ${message}`);
    this.code = code;
    this.cid = cid;
  }
}

export class Client {
  constructor(url, { format = "json" } = {}) {
    this.url = url;
    this.format = format;
    this.nextCid = 1;
    this.pending = new Map();
    this.events = [];
    this.waiters = [];
    this.closeCode = null;
    this.disconnect = null;
  }

  async connect() {
    this.ws = new WebSocket(this.url);
    this.ws.binaryType = "nodebuffer";
    this.ws.on("message", (data, isBinary) => this.#receive(isBinary ? decodeEnvelope(data) : JSON.parse(data)));
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code) => {
        this.closeCode = code;
        resolve(code);
      }),
    );
    await new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("error", reject);
    });
    return this;
  }

  #receive(m) {
    if (m.disconnect) this.disconnect = m.disconnect;
    const waiter = m.cid && this.pending.get(m.cid);
    if (waiter) {
      this.pending.delete(m.cid);
      if (m.error) waiter.reject(new CraftError(m.error.code, m.error.message, m.cid));
      else waiter.resolve(m);
      return;
    }
    this.events.push(m);
    for (const w of [...this.waiters]) w();
  }

  sendRaw(data) {
    this.ws.send(data);
  }

  sendEnvelope(envelope) {
    if (this.format === "binary") this.ws.send(encodeEnvelope(envelope));
    else this.ws.send(JSON.stringify(envelope));
  }

  request(body, timeoutMs = 5000) {
    const cid = this.nextCid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to cid ${cid}`)), timeoutMs);
      this.pending.set(cid, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.sendEnvelope({ cid, ...body });
    });
  }

  // Resolves with the first queued or future event matching pred (consuming it).
  waitFor(pred, timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.events.findIndex(pred);
        if (i < 0) return false;
        const [m] = this.events.splice(i, 1);
        this.waiters = this.waiters.filter((w) => w !== check);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error("timed out waiting for an event"));
      }, timeoutMs);
      if (!check()) this.waiters.push(check);
    });
  }

  async hello(name) {
    const m = await this.request({ hello: { protocolVersion: 1, name } });
    this.sessionId = String(m.welcome.sessionId);
    return m.welcome;
  }
  async ping() {
    const sent = Date.now() * 1000;
    const m = await this.request({ ping: { clientTimeUs: sent } });
    return m.pong;
  }
  async create(type, { isPrivate = false } = {}) {
    return (await this.request({ roomCreate: { type, private: isPrivate } })).roomJoined;
  }
  async join(roomId) {
    return (await this.request({ roomJoin: { roomId } })).roomJoined;
  }
  async joinOrCreate(type) {
    return (await this.request({ roomJoinOrCreate: { type } })).roomJoined;
  }
  async leave(roomId) {
    return (await this.request({ roomLeave: { roomId } })).roomLeft;
  }
  async list(type = "") {
    return (await this.request({ roomList: { type } })).roomListResult.rooms ?? [];
  }
  send(roomId, op, data, targets = []) {
    const roomData = { roomId, op, data: Buffer.from(data).toString("base64") };
    if (targets.length) roomData.targets = targets;
    this.sendEnvelope({ roomData });
  }
  close() {
    this.ws.close();
    return this.closed;
  }
}

export async function connectAs(url, name, options) {
  const c = await new Client(url, options).connect();
  await c.hello(name);
  return c;
}
