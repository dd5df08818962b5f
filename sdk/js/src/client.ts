// The craft client: one WebSocket, requests matched by cid, rooms, keep-alive, reconnect.
import type { Envelope } from "./gen/craft_pb.js";
import { type EnvelopeInit, type Format, decodeEnvelope, encodeEnvelope, makeEnvelope, toBytes } from "./codec.js";
import { type ClientErrorCode, type CraftErrorCode, CloseCode, CraftError } from "./errors.js";
import type { OpMap, RoomOps } from "./ops.js";
import { type RawRoom, Room, type RoomTransport } from "./room.js";

export interface ReconnectOptions {
  enabled?: boolean;
  minDelayMs?: number;
  maxDelayMs?: number;
  maxAttempts?: number;
}
export interface ClientOptions {
  /** "binary" (protobuf, default) or "json" (text frames). */
  format?: Format;
  /** Display name sent in hello. */
  name?: string;
  /**
   * A session token from the accounts API (Api.session.token), sent in hello: the session
   * becomes that account's (client.accountId, client.username). Change it with client.token.
   */
  token?: string;
  /** A WebSocket implementation for Node (e.g. the `ws` package); browsers have one. */
  WebSocket?: any;
  reconnect?: ReconnectOptions;
  /** Per request, default 10 s. */
  requestTimeoutMs?: number;
  /** Ping while connected, default 20 s (the server closes sockets idle for 60 s). */
  keepAliveMs?: number;
}
export interface RoomInfo {
  roomId: string;
  type: string;
  clients: number;
  maxClients: number;
  label: string;
  locked: boolean;
}
/** The events of a Client and what their handlers get, for client.on(event, handler). */
export interface ClientEvents {
  /** The socket dropped and a reconnect attempt is about to start after delayMs. */
  reconnecting: { attempt: number; delayMs: number };
  /** A reconnect succeeded: a new session (rooms are not rejoined). */
  reconnected: { sessionId: string };
  /** The socket closed, with the WebSocket close code and reason (CloseCode). */
  disconnect: { code: number; reason: string };
  /**
   * An error not tied to a request: an error envelope with cid 0, a message that did not
   * decode (BAD_MESSAGE), a socket failure (SOCKET_ERROR), or a reconnect's refused hello.
   */
  error: CraftError;
}
export type ClientEvent = keyof ClientEvents;

/** The last argument of the join calls. */
export interface JoinOptions<Ops extends OpMap> {
  /** The room's typed message map, from ops<Ops>(codecs?): send and onMessage are checked against it. */
  ops: RoomOps<Ops>;
}

interface Pending {
  resolve: (e: Envelope) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

// Codes after which reconnecting would only repeat the problem.
const FINAL_CLOSES = new Set<number>([
  CloseCode.protocolError, CloseCode.invalidPayload, CloseCode.messageTooBig, CloseCode.flood,
  CloseCode.unsupportedVersion, CloseCode.authFailed,
]);
// Client-side failures of a reconnect attempt worth retrying; an error the server answered
// the hello with (UNAUTHORIZED, TOKEN_EXPIRED, ...) would only come again.
const TRANSIENT = new Set<CraftErrorCode>(["CONNECT_FAILED", "CLOSED", "TIMEOUT"] satisfies ClientErrorCode[]);

const optionsText = (o?: string | object) => (o === undefined ? new Uint8Array() : toBytes(o));

export class Client implements RoomTransport {
  sessionId = "";
  /** From welcome: the account of the hello's token ("" for an anonymous session). */
  accountId = "";
  username = "";
  /** The session token the next hello sends (options.token at first). */
  token: string;
  private ws: any;
  private nextCid = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly rooms = new Map<string, Room<any>>();
  private readonly listeners = new Map<ClientEvent, Set<(info: never) => void>>();
  private readonly format: Format;
  private readonly WS: any;
  private closedByUser = false;
  private keepAlive?: ReturnType<typeof setInterval>;
  private offsetMs = 0;
  private attempts = 0;
  private reconnecting = false;

  constructor(
    readonly url: string,
    private readonly options: ClientOptions = {},
  ) {
    this.format = options.format ?? "binary";
    this.WS = options.WebSocket ?? (globalThis as any).WebSocket;
    if (!this.WS) throw new Error("no WebSocket: pass options.WebSocket (e.g. the ws package) in Node");
    this.token = options.token ?? "";
  }

  /**
   * Opens the socket and says hello. A refused token rejects with its CraftError
   * (UNAUTHORIZED, TOKEN_EXPIRED, TOKEN_REVOKED, ACCOUNT_BANNED); the server then closes
   * with 4005 and the client does not reconnect.
   */
  async connect(): Promise<{ sessionId: string; serverTimeUs: number; accountId: string; username: string }> {
    this.closedByUser = false;
    await this.open();
    const reply = await this.request({
      body: { case: "hello", value: { protocolVersion: 1, name: this.options.name ?? "", token: this.token } },
    });
    if (reply.body.case !== "welcome") throw new CraftError("BAD_REPLY", "expected welcome");
    const welcome = reply.body.value;
    this.sessionId = welcome.sessionId.toString();
    this.accountId = welcome.accountId;
    this.username = welcome.username;
    const serverTimeUs = Number(welcome.serverTimeUs);
    this.offsetMs = serverTimeUs / 1000 - Date.now();
    this.keepAlive = setInterval(() => this.ping().catch(() => {}), this.options.keepAliveMs ?? 20000);
    return { sessionId: this.sessionId, serverTimeUs, accountId: this.accountId, username: this.username };
  }

  /**
   * Joins a room of this type with space, or creates one. options: the room's join options
   * (a string as UTF-8, an object as JSON). join.ops: the room's typed message map.
   */
  joinOrCreate(type: string, options?: string | object): Promise<RawRoom>;
  joinOrCreate<Ops extends OpMap>(type: string, options: string | object | undefined, join: JoinOptions<Ops>): Promise<Room<Ops>>;
  joinOrCreate(type: string, options?: string | object, join?: JoinOptions<OpMap>): Promise<Room<any>> {
    return this.joinRequest({ case: "roomJoinOrCreate", value: { type, options: optionsText(options) } }, join?.ops);
  }
  /** Creates a room (private: not listed, joinable by id only). */
  create(type: string, options?: string | object, opts?: { private?: boolean }): Promise<RawRoom>;
  create<Ops extends OpMap>(type: string, options: string | object | undefined, opts: { private?: boolean } & JoinOptions<Ops>): Promise<Room<Ops>>;
  create(type: string, options?: string | object, opts: { private?: boolean; ops?: RoomOps<OpMap> } = {}): Promise<Room<any>> {
    return this.joinRequest({ case: "roomCreate", value: { type, options: optionsText(options), private: !!opts.private } }, opts.ops);
  }
  joinById(roomId: string, options?: string | object): Promise<RawRoom>;
  joinById<Ops extends OpMap>(roomId: string, options: string | object | undefined, join: JoinOptions<Ops>): Promise<Room<Ops>>;
  joinById(roomId: string, options?: string | object, join?: JoinOptions<OpMap>): Promise<Room<any>> {
    return this.joinRequest({ case: "roomJoin", value: { roomId, options: optionsText(options) } }, join?.ops);
  }

  async listRooms(type = ""): Promise<RoomInfo[]> {
    const reply = await this.request({ body: { case: "roomList", value: { type } } });
    if (reply.body.case !== "roomListResult") throw new CraftError("BAD_REPLY", "expected room_list_result");
    return reply.body.value.rooms.map((r) => ({
      roomId: r.roomId, type: r.type, clients: r.clients, maxClients: r.maxClients, label: r.label, locked: r.locked,
    }));
  }

  /** Round trip and clock offset; updates serverNow(). */
  async ping(): Promise<{ rttMs: number; offsetMs: number }> {
    const sent = Date.now();
    const reply = await this.request({ body: { case: "ping", value: { clientTimeUs: BigInt(sent) * 1000n } } });
    if (reply.body.case !== "pong") throw new CraftError("BAD_REPLY", "expected pong");
    const now = Date.now();
    const rttMs = now - sent;
    this.offsetMs = Number(reply.body.value.serverTimeUs) / 1000 - (sent + rttMs / 2);
    return { rttMs, offsetMs: this.offsetMs };
  }

  /** The server's clock estimate, ms since the Unix epoch. */
  serverNow(): number {
    return Date.now() + this.offsetMs;
  }

  /** Listens to a client event (see ClientEvents). Returns an unsubscribe. */
  on<E extends ClientEvent>(event: E, cb: (info: ClientEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const f = cb as (info: never) => void;
    set.add(f);
    return () => set!.delete(f);
  }

  async close(): Promise<void> {
    this.closedByUser = true;
    this.stopKeepAlive();
    const ws = this.ws;
    if (!ws || ws.readyState === 3) return;
    await new Promise<void>((resolve) => {
      ws.addEventListener("close", () => resolve());
      ws.close(CloseCode.normal);
    });
  }

  /** @internal RoomTransport */
  sendRoomData(roomId: string, op: number, data: Uint8Array, targets: string[]): void {
    this.send(makeEnvelope({ body: { case: "roomData", value: { roomId, op, data, targets: targets.map(BigInt) } } }));
  }
  /** @internal RoomTransport */
  reportError(error: CraftError): void {
    this.emit("error", error);
  }
  /** @internal RoomTransport */
  async leaveRoom(roomId: string): Promise<void> {
    await this.request({ body: { case: "roomLeave", value: { roomId } } });
    this.rooms.delete(roomId);
  }

  /** Sends any envelope and waits for the reply with its cid. */
  request(init: EnvelopeInit, timeoutMs = this.options.requestTimeoutMs ?? 10000): Promise<Envelope> {
    const cid = this.nextCid++;
    const envelope = makeEnvelope({ ...init, cid });
    return new Promise<Envelope>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(cid);
        reject(new CraftError("TIMEOUT", `no reply to cid ${cid} within ${timeoutMs} ms`, cid));
      }, timeoutMs);
      this.pending.set(cid, { resolve, reject, timer });
      try {
        this.send(envelope);
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(cid);
        reject(e as Error);
      }
    });
  }

  private async joinRequest(body: NonNullable<EnvelopeInit>["body"], ops?: RoomOps<OpMap>): Promise<Room<any>> {
    const reply = await this.request({ body });
    if (reply.body.case !== "roomJoined") throw new CraftError("BAD_REPLY", "expected room_joined");
    const room: Room<any> = new Room(this, reply.body.value, ops);
    this.rooms.set(room.id, room);
    setTimeout(() => room.announceState(), 0);  // after the caller's await registered its listeners
    return room;
  }

  private send(envelope: Envelope): void {
    if (!this.ws || this.ws.readyState !== 1) throw new CraftError("CLOSED", "not connected");
    this.ws.send(encodeEnvelope(envelope, this.format));
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const ws = new this.WS(this.url);
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        resolve();
      });
      ws.addEventListener("error", (e: any) => {
        if (!opened) reject(new CraftError("CONNECT_FAILED", `cannot connect to ${this.url}`));
        else this.emit("error", new CraftError("SOCKET_ERROR", e?.message || e?.error?.message || `socket error on ${this.url}`));
      });
      ws.addEventListener("message", (e: any) => this.receive(e.data));
      ws.addEventListener("close", (e: any) => {
        if (this.ws === ws) this.onClose(e.code, e.reason);
      });
    });
  }

  private receive(data: ArrayBuffer | string): void {
    let e: Envelope;
    try {
      e = decodeEnvelope(typeof data === "string" ? data : new Uint8Array(data));
    } catch (err) {
      this.emit("error", new CraftError("BAD_MESSAGE", `undecodable message: ${(err as Error).message}`));
      return;
    }
    const waiter = e.cid ? this.pending.get(e.cid) : undefined;
    if (waiter) {
      this.pending.delete(e.cid);
      clearTimeout(waiter.timer);
      if (e.body.case === "error") {
        waiter.reject(CraftError.fromServer(e.body.value.code, e.body.value.message, e.cid));
      } else {
        waiter.resolve(e);
      }
      return;
    }
    const body = e.body;
    const roomId =
      body.case === "roomData" || body.case === "presence" || body.case === "roomLeft" ? body.value.roomId : undefined;
    if (roomId !== undefined) {
      this.rooms.get(roomId)?.handle(e);
      if (body.case === "roomLeft") this.rooms.delete(roomId);
    } else if (body.case === "error") {
      this.emit("error", CraftError.fromServer(body.value.code, body.value.message, e.cid));
    }
  }

  private onClose(code: number, reason: string): void {
    this.stopKeepAlive();
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CraftError("CLOSED", `connection closed (${code})`));
    }
    this.pending.clear();
    for (const [, room] of this.rooms) room.left("disconnected");
    this.rooms.clear();
    this.emit("disconnect", { code, reason });
    const r = this.options.reconnect ?? {};
    // A failed attempt's socket closes too: the running loop retries, not a second one.
    if (this.closedByUser || r.enabled === false || FINAL_CLOSES.has(code) || this.reconnecting) return;
    void this.reconnect(r);
  }

  private async reconnect(r: ReconnectOptions): Promise<void> {
    this.reconnecting = true;
    try {
      await this.reconnectLoop(r);
    } finally {
      this.reconnecting = false;
    }
  }

  private async reconnectLoop(r: ReconnectOptions): Promise<void> {
    const min = r.minDelayMs ?? 250, max = r.maxDelayMs ?? 5000, limit = r.maxAttempts ?? Infinity;
    while (!this.closedByUser && this.attempts < limit) {
      const attempt = ++this.attempts;
      // Exponential backoff with full jitter, so a restarted server is not hit by everyone at once.
      const delayMs = Math.round(Math.random() * Math.min(max, min * 2 ** (attempt - 1))) + min / 2;
      this.emit("reconnecting", { attempt, delayMs });
      await new Promise((res) => setTimeout(res, delayMs));
      if (this.closedByUser) return;
      try {
        await this.connect();
        this.attempts = 0;
        this.emit("reconnected", { sessionId: this.sessionId });
        return;
      } catch (e) {
        if (e instanceof CraftError && !TRANSIENT.has(e.code)) {
          // The server refused the hello (e.g. TOKEN_EXPIRED): set client.token and connect() again.
          this.attempts = 0;
          this.emit("error", e);
          return;
        }
        // try again
      }
    }
  }

  private stopKeepAlive(): void {
    if (this.keepAlive) clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private emit<E extends ClientEvent>(event: E, info: ClientEvents[E]): void {
    for (const f of [...(this.listeners.get(event) ?? [])]) (f as (info: ClientEvents[E]) => void)(info);
  }
}
