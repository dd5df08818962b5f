// A craft client written from docs/protocol.md alone.
//
// Client speaks WebSocket, JSON in text frames by default (format "json") or protobuf in
// binary frames (format "binary", with the hand-written codec in proto.mjs). TcpClient
// speaks the length-prefixed TCP transport. Both match replies to requests by cid and
// queue everything else (cid 0 or unknown cid) as events for waitFor().
//
// Messages are plain objects in the shape of protobuf's JSON mapping for either format:
// camelCase names, 64-bit integers as decimal strings, bytes as base64, enums by name.
import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import { decodeEnvelope, encodeEnvelope } from "./proto.mjs";

export class CraftError extends Error {
  constructor(code, message, cid) {
    super(`${code}: ${message}`);
    this.code = code;
    this.cid = cid;
  }
}

export const b64 = (data) => Buffer.from(data).toString("base64");
export const unb64 = (s) => Buffer.from(s ?? "", "base64");

// Requests by cid, an event queue, close capture. Subclasses provide sendEnvelope().
export class Endpoint {
  constructor() {
    this.nextCid = 1;
    this.lastCid = 0;
    this.pending = new Map();
    this.events = [];
    this.waiters = new Set();
    this.closeCode = null;
    this.closeReason = "";
    this.disconnect = null;  // the disconnect envelope, if one came
    this.sessionId = null;
  }

  receive(m) {
    if (m.disconnect) this.disconnect = m.disconnect;
    const waiter = m.cid ? this.pending.get(m.cid) : undefined;
    if (waiter) {
      this.pending.delete(m.cid);
      if (m.error) waiter.reject(new CraftError(m.error.code, m.error.message, m.cid));
      else waiter.resolve(m);
      return;
    }
    this.events.push(m);
    for (const w of [...this.waiters]) w();
  }

  // Sends body with a fresh cid; resolves with the whole reply envelope, rejects with a
  // CraftError when the reply is an error.
  request(body, timeoutMs = 5000) {
    const cid = this.nextCid++;
    this.lastCid = cid;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cid);
        reject(new Error(`no reply to cid ${cid} (${Object.keys(body)})`));
      }, timeoutMs);
      this.pending.set(cid, {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.sendEnvelope({ cid, ...body });
    });
  }

  // Resolves with the first queued or future event matching pred, removing it from the queue.
  waitFor(pred, timeoutMs = 3000, what = "an event") {
    return new Promise((resolve, reject) => {
      let timer;
      const check = () => {
        const i = this.events.findIndex((m) => pred(m));
        if (i < 0) return false;
        const [m] = this.events.splice(i, 1);
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(m);
        return true;
      };
      if (check()) return;
      timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; queued: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  // Resolves (with nothing) if no event matching pred arrives within ms; rejects if one does.
  async expectNone(pred, ms = 200) {
    try {
      const m = await this.waitFor(pred, ms);
      throw new Error(`unexpected event: ${JSON.stringify(m)}`);
    } catch (e) {
      if (!String(e.message).startsWith("timed out")) throw e;
    }
  }

  async hello(name, extra = {}) {
    const m = await this.request({ hello: { protocolVersion: 1, name, ...extra } });
    this.sessionId = String(m.welcome.sessionId);
    this.welcome = m.welcome;
    return m.welcome;
  }
  async ping(clientTimeUs = String(Date.now() * 1000)) {
    return (await this.request({ ping: { clientTimeUs } })).pong;
  }
  async create(type, { isPrivate = false, options } = {}) {
    const roomCreate = { type };
    if (isPrivate) roomCreate.private = true;
    if (options !== undefined) roomCreate.options = b64(options);
    return (await this.request({ roomCreate })).roomJoined;
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
  // room_data has no reply on success; pass cid to have errors come back with it.
  send(roomId, op, data, targets = [], cid = 0) {
    const roomData = { roomId, op, data: b64(data) };
    if (targets.length) roomData.targets = targets.map(String);
    const envelope = { roomData };
    if (cid) envelope.cid = cid;
    this.sendEnvelope(envelope);
  }
}

export class Client extends Endpoint {
  // wsOptions go to ws (e.g. { ca } for wss:// against a test certificate).
  constructor(url, { format = "json", wsOptions = {} } = {}) {
    super();
    this.url = url;
    this.format = format;
    this.wsOptions = wsOptions;
  }

  async connect() {
    this.ws = new WebSocket(this.url, { perMessageDeflate: false, ...this.wsOptions });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("message", (data, isBinary) => {
      this.receive(isBinary ? { ...decodeEnvelope(data), binary: true } : { ...JSON.parse(data.toString()), binary: false });
    });
    this.ws.on("error", () => {});  // failures show up as close codes
    this.closed = new Promise((resolve) =>
      this.ws.on("close", (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
    await new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      this.ws.once("error", reject);
    });
    return this;
  }

  sendEnvelope(envelope) {
    if (this.format === "binary") this.ws.send(encodeEnvelope(envelope), { binary: true });
    else this.ws.send(JSON.stringify(envelope));
  }
  sendRaw(data, options) {
    this.ws.send(data, options);
  }
  // Writes one WebSocket frame by hand (for frames ws refuses to make): masked unless told otherwise.
  writeFrame(opcode, payload, { fin = true, mask = [0x11, 0x22, 0x33, 0x44], rsv = 0 } = {}) {
    const body = Buffer.from(payload);
    const head = [(fin ? 0x80 : 0) | (rsv << 4) | opcode];
    const maskBit = mask ? 0x80 : 0;
    if (body.length < 126) head.push(maskBit | body.length);
    else if (body.length <= 0xffff) head.push(maskBit | 126, body.length >> 8, body.length & 0xff);
    else throw new Error("frame too long for this helper");
    const masked = mask ? Buffer.from(body.map((x, i) => x ^ mask[i % 4])) : body;
    this.ws._socket.write(Buffer.concat([Buffer.from(head), Buffer.from(mask ?? []), masked]));
  }
  close() {
    if (this.closeCode === null) this.ws.close();
    return this.closed;
  }
}

// The TCP transport: each Envelope is a 4-byte big-endian length and protobuf bytes.
export class TcpClient extends Endpoint {
  // tlsOptions: speak TLS first (node:tls options such as { ca, servername }); null = plain TCP.
  // localAddress: the source address to bind; preamble: bytes written first (a PROXY header).
  constructor(port, host = "127.0.0.1", tlsOptions = null, { localAddress, preamble } = {}) {
    super();
    this.port = port;
    this.host = host;
    this.tlsOptions = tlsOptions;
    this.localAddress = localAddress;
    this.preamble = preamble;
    this.buffer = Buffer.alloc(0);
  }

  async connect() {
    const where = { port: this.port, host: this.host, localAddress: this.localAddress };
    this.socket = this.tlsOptions ? tls.connect({ ...where, ...this.tlsOptions }) : net.connect(where);
    this.socket.on("data", (chunk) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      while (this.buffer.length >= 4) {
        const length = this.buffer.readUInt32BE(0);
        if (this.buffer.length < 4 + length) break;
        const body = this.buffer.subarray(4, 4 + length);
        this.buffer = this.buffer.subarray(4 + length);
        this.receive({ ...decodeEnvelope(body), binary: true });
      }
    });
    this.socket.on("error", () => {});
    this.closed = new Promise((resolve) => this.socket.on("close", () => resolve(this.disconnect?.code ?? null)));
    await new Promise((resolve, reject) => {
      this.socket.once(this.tlsOptions ? "secureConnect" : "connect", resolve);
      this.socket.once("error", reject);
    });
    if (this.preamble) this.socket.write(this.preamble);
    return this;
  }

  static frame(bytes) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  }
  sendEnvelope(envelope) {
    this.socket.write(TcpClient.frame(encodeEnvelope(envelope)));
  }
  sendRaw(bytes) {
    this.socket.write(bytes);
  }
  close() {
    this.socket.end();
    return this.closed;
  }
}

export async function connectAs(url, name, options) {
  const c = await new Client(url, options).connect();
  await c.hello(name);
  return c;
}
