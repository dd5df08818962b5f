// The socket under a Client: hello, requests matched by cid, keep-alive, and a session that
// outlives a lost connection (docs/protocol.md §3.1-§3.2): it is resumed on a new socket with
// nothing lost or doubled, or, when the server no longer has it, replaced by a new session
// whose rooms the Client rejoins.
import type { Envelope, Welcome } from "./gen/craft_pb.js";
import { type EnvelopeInit, type Format, decodeEnvelope, encodeEnvelope, makeEnvelope } from "./codec.js";
import { type CraftErrorCode, CloseCode, CraftError } from "./errors.js";
import type { ClientEvent, ClientEvents, ClientOptions, ConnectionState } from "./events.js";
import { PendingRequests } from "./requests.js";
import { ACK_AFTER_MS, ACK_EVERY_MESSAGES, Sequencer, isSequenced } from "./resume.js";

export type { ClientEvent, ClientEvents, ClientOptions, ConnectionState, ReconnectOptions } from "./events.js";

// Closes after which reconnecting would only repeat the problem.
const FINAL_CLOSES = new Set<number>([
  CloseCode.protocolError, CloseCode.invalidPayload, CloseCode.messageTooBig, CloseCode.flood,
  CloseCode.unsupportedVersion, CloseCode.authFailed, CloseCode.sessionReplaced,
]);
// Failures of a reconnect attempt worth another attempt; an error the server answered the
// hello with (UNAUTHORIZED, SESSION_EXISTS, ...) would only come again.
const TRANSIENT = new Set<CraftErrorCode>(["CONNECT_FAILED", "CLOSED", "TIMEOUT"]);
// Hello errors the server follows with a close (§4.1); after the others the socket stays open.
const CLOSING_HELLO_ERRORS = new Set<CraftErrorCode>([
  "UNAUTHORIZED", "TOKEN_EXPIRED", "TOKEN_REVOKED", "ACCOUNT_BANNED", "UNSUPPORTED_VERSION",
]);
const ABNORMAL_CLOSE = 1006;
// Closes after which the server holds a resumable session: none at all (1005, 1006) or 4001.
const HELD_AFTER = new Set<number>([1005, ABNORMAL_CLOSE, CloseCode.idleTimeout]);

/** The connection half of Client (see client.ts); not used on its own. */
export abstract class Connection {
  /** From welcome: our session id ("" before connect). The same across a resume; new after "reconnected". */
  sessionId = "";
  /** From welcome: the account of the hello's token ("" for an anonymous session). */
  accountId = "";
  username = "";
  /** The session token the next hello sends (options.token at first). */
  token: string;

  private ws: any;
  /** The current socket got its welcome: requests can go out. */
  private linkUp = false;
  private connState: ConnectionState = "disconnected";
  /** The counters and resend buffer of a resumable session. */
  private seq?: Sequencer;
  private resumeToken = "";
  private nextCid = 1;
  private readonly pending = new PendingRequests();
  private readonly listeners = new Map<ClientEvent, Set<(info: never) => void>>();
  private readonly format: Format;
  private readonly WS: any;
  private readonly resumable: boolean;
  private keepAlive?: ReturnType<typeof setInterval>;
  private ackTimer?: ReturnType<typeof setTimeout>;
  private attemptTimer?: ReturnType<typeof setTimeout>;
  private attempts = 0;
  private lastClose = 0;
  /** The code of the server's disconnect envelope, for a close event that lost it (1005/1006). */
  private lastDisconnect?: { code: number; reason: string };
  /** Browser sockets given up on without a close frame (which would end the session): closed after the next welcome. */
  private abandoned: any[] = [];
  /** Rooms being rejoined in a new session: "reconnected" comes when none is left. */
  private rejoinsLeft = 0;
  private rejoinGen = 0;
  private unwatchNetwork?: () => void;
  private offsetMs = 0;

  constructor(
    readonly url: string,
    protected readonly options: ClientOptions = {},
  ) {
    this.format = options.format ?? "binary";
    this.WS = options.WebSocket ?? (globalThis as any).WebSocket;
    if (!this.WS) throw new Error("no WebSocket: pass options.WebSocket (e.g. the ws package) in Node");
    this.token = options.token ?? "";
    this.resumable = options.resume !== false;
  }

  /** "connecting" | "connected" | "reconnecting" | "disconnected"; the "state" event tells changes. */
  get state(): ConnectionState {
    return this.connState;
  }

  /**
   * Opens the socket and says hello. A refused token rejects with its CraftError
   * (UNAUTHORIZED, TOKEN_EXPIRED, TOKEN_REVOKED, ACCOUNT_BANNED); the server then closes
   * with 4005 and the client does not reconnect.
   */
  async connect(): Promise<{ sessionId: string; serverTimeUs: number; accountId: string; username: string }> {
    if (this.connState !== "disconnected") throw new Error(`connect(): the client is already ${this.connState}`);
    this.sessionId = "";
    this.setState("connecting");
    let welcome: Welcome;
    try {
      await this.openSocket();
      welcome = await this.hello(false);
    } catch (e) {
      // Unless close() came first: a refused hello leaves the socket to the server's close.
      if ((this.connState as ConnectionState) === "connecting") this.finish(e as Error, serverCloses(e));
      throw e;
    }
    this.watchNetwork();
    return { sessionId: this.sessionId, serverTimeUs: Number(welcome.serverTimeUs), accountId: this.accountId, username: this.username };
  }

  /** Round trip and clock offset; updates serverNow(). */
  async ping(timeoutMs?: number): Promise<{ rttMs: number; offsetMs: number }> {
    const sent = Date.now();
    const reply = await this.request({ body: { case: "ping", value: { clientTimeUs: BigInt(sent) * 1000n } } }, timeoutMs);
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

  /**
   * Says goodbye (WebSocket close 1000): the session ends, its rooms see us leave, and
   * nothing is resumed. Pending requests reject with CLOSED.
   */
  async close(): Promise<void> {
    const ws = this.ws;
    this.ws = undefined;
    if (this.connState !== "disconnected") this.finish(new CraftError("CLOSED", "the client closed the connection"));
    if (!ws || ws.readyState !== 1) {
      if (ws) closeQuietly(ws);
      return;
    }
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const timer = setTimeout(() => resolve({ code: ABNORMAL_CLOSE, reason: "no close answer within 2 s" }), 2000);
      ws.addEventListener("close", (e: any) => {
        clearTimeout(timer);
        resolve({ code: e.code, reason: e.reason });
      });
    });
    ws.close(CloseCode.normal);
    this.emit("disconnect", await closed);
  }

  /** Sends any envelope and waits for the reply with its cid. */
  request(init: EnvelopeInit, timeoutMs?: number): Promise<Envelope> {
    return this.call(init, (e) => e, timeoutMs);
  }

  /**
   * Sends a request; settle turns the reply into the result, synchronously, before any later
   * message is handled (so a room exists before its first message).
   */
  protected call<T>(init: EnvelopeInit, settle: (e: Envelope) => T, timeoutMs = this.options.requestTimeoutMs ?? 10000): Promise<T> {
    const cid = this.nextCid++;
    const envelope = makeEnvelope({ ...init, cid });
    const sequenced = isSequenced(envelope.body.case);
    const reply = this.pending.add(cid, sequenced, timeoutMs, settle);
    try {
      this.send(envelope);
    } catch (e) {
      this.pending.abandon(cid, e as Error);
      return reply;
    }
    // A request kept while reconnecting starts its clock when it goes out.
    if (this.linkUp || !sequenced) this.pending.start(cid);
    return reply;
  }

  /**
   * Sends a message that needs no reply. While a resumable session is reconnecting it is kept
   * and goes out on resume (and is dropped if the session is replaced instead).
   */
  protected send(envelope: Envelope): void {
    const sequenced = isSequenced(envelope.body.case);
    const open = this.ws !== undefined && this.ws.readyState === 1;
    const seq = this.seq;
    if (sequenced && seq) {
      const up = this.linkUp && open;
      if (!up && this.connState !== "reconnecting") throw new CraftError("CLOSED", "not connected");
      if (up) this.piggybackAck(envelope, seq);
      const frame = encodeEnvelope(envelope, this.format);
      seq.keep(frame);
      if (up) this.ws.send(frame);
      return;
    }
    if (!open || (sequenced && !this.linkUp)) throw new CraftError("CLOSED", "not connected");
    if (seq && this.linkUp) this.piggybackAck(envelope, seq);
    this.ws.send(encodeEnvelope(envelope, this.format));
  }

  protected emit<E extends ClientEvent>(event: E, info: ClientEvents[E]): void {
    for (const f of [...(this.listeners.get(event) ?? [])]) (f as (info: ClientEvents[E]) => void)(info);
  }

  /** A message that is no reply: room data, presence, room_left (for the Client's rooms). */
  protected abstract dispatch(e: Envelope): void;
  /** A new session replaced a lost one: rejoin the rooms; each returned promise settles when its room is back or gone. */
  protected abstract rejoinRooms(): Promise<unknown>[];
  /** The client is disconnected for good: every room is left with this reason. */
  protected abstract dropRooms(reason: string): void;

  private setState(state: ConnectionState): void {
    const previous = this.connState;
    if (previous === state) return;
    this.connState = state;
    this.emit("state", { state, previous });
  }

  private openSocket(): Promise<void> {
    return new Promise((resolve, reject) => {
      let ws: any;
      try {
        ws = new this.WS(this.url);
      } catch (e) {
        reject(new CraftError("CONNECT_FAILED", `cannot connect to ${this.url}: ${(e as Error).message}`));
        return;
      }
      ws.binaryType = "arraybuffer";
      this.ws = ws;
      this.linkUp = false;
      this.lastDisconnect = undefined;
      let opened = false;
      ws.addEventListener("open", () => {
        opened = true;
        if (this.ws === ws) resolve();
        else reject(new CraftError("CLOSED", "closed while connecting"));
      });
      ws.addEventListener("error", (e: any) => {
        if (!opened) reject(new CraftError("CONNECT_FAILED", `cannot connect to ${this.url}`));
        else if (this.ws === ws) this.emit("error", new CraftError("SOCKET_ERROR", e?.message || e?.error?.message || `socket error on ${this.url}`));
      });
      ws.addEventListener("message", (e: any) => {
        if (this.ws === ws) this.receive(e.data);
      });
      ws.addEventListener("close", (e: any) => {
        if (!opened) reject(new CraftError("CONNECT_FAILED", `cannot connect to ${this.url} (${e.code})`));
        if (this.ws === ws) this.socketClosed(e.code, e.reason, opened);
      });
    });
  }

  /** hello (a resume when asked and possible) and its welcome, handled before the next message. */
  private hello(resume: boolean): Promise<Welcome> {
    const asked = resume && this.seq !== undefined && this.resumeToken !== "";
    const value = {
      protocolVersion: 1, name: this.options.name ?? "", token: this.token, resumable: this.resumable,
      resumeToken: asked ? this.resumeToken : "", lastSeq: asked ? BigInt(this.seq!.received) : 0n,
      // Snapshots name the room by its room_joined.room_handle (2 bytes, not the id's 14).
      roomHandles: true,
    };
    return this.call({ body: { case: "hello", value } }, (e) => {
      if (e.body.case !== "welcome") throw new CraftError("BAD_REPLY", "expected welcome");
      this.welcomed(e.body.value, asked);
      return e.body.value;
    });
  }

  private welcomed(w: Welcome, askedResume: boolean): void {
    this.linkUp = true;
    for (const old of this.abandoned.splice(0)) closeQuietly(old);
    const sessionId = w.sessionId.toString();
    this.accountId = w.accountId;
    this.username = w.username;
    if (this.resumable) this.resumeToken = w.resumeToken;
    const seq = this.seq;
    if (askedResume && w.resumed && seq && sessionId === this.sessionId) {
      const frames = seq.resendAfter(Number(w.lastSeq));
      if (frames === null) {
        // The server lacks messages this client no longer has (its buffer overflowed): end
        // that session with a goodbye; the next attempt starts a new one.
        this.resumeToken = "";
        const ws = this.ws;
        this.ws = undefined;
        this.linkUp = false;
        closeQuietly(ws);
        this.scheduleAttempt();
        return;
      }
      seq.acked = seq.received;  // hello.last_seq told the server
      // In their order, before anything new (§3.2).
      for (const f of frames) this.ws.send(f);
      this.pending.start();
      this.startKeepAlive();
      if (this.rejoinsLeft === 0) {
        this.attempts = 0;
        this.setState("connected");
        this.emit("resumed", { sessionId, replayed: frames.length });
      }
      return;
    }
    this.sessionId = sessionId;
    this.offsetMs = Number(w.serverTimeUs) / 1000 - Date.now();  // a resume keeps the pings' better estimate
    this.seq = this.resumable ? new Sequencer(this.options.resendBufferBytes ?? 262144) : undefined;
    this.startKeepAlive();
    if (this.connState === "connecting") {
      this.setState("connected");
      return;
    }
    // A new session replaces the lost one: what the old one was asked is unknown.
    this.pending.fail(new CraftError("CONNECTION_LOST",
      "the connection was lost and the session could not be resumed: the request may or may not have been carried out"));
    const gen = ++this.rejoinGen;
    const rejoins = this.rejoinRooms();
    this.rejoinsLeft = rejoins.length;
    if (rejoins.length === 0) this.reconnected();
    for (const r of rejoins) {
      r.finally(() => {
        if (gen === this.rejoinGen && --this.rejoinsLeft === 0) this.reconnected();
      });
    }
  }

  private reconnected(): void {
    // Lost again while rejoining: the coming resume finishes it.
    if (!this.linkUp || this.connState !== "reconnecting") return;
    this.attempts = 0;
    this.setState("connected");
    this.emit("reconnected", { sessionId: this.sessionId });
  }

  /** The generation of the current rejoin round: a rejoin answered for an older round is ignored. */
  protected get rejoinRound(): number {
    return this.rejoinGen;
  }

  private receive(data: ArrayBuffer | string): void {
    const seq = this.linkUp ? this.seq : undefined;
    let e: Envelope;
    try {
      e = decodeEnvelope(typeof data === "string" ? data : new Uint8Array(data));
    } catch (err) {
      if (seq) this.counted(seq);  // not known to be link-level: the server numbered it
      this.emit("error", new CraftError("BAD_MESSAGE", `undecodable message: ${(err as Error).message}`));
      return;
    }
    const body = e.body;
    if (seq && isSequenced(body.case)) this.counted(seq);
    switch (body.case) {
      case "ack": {
        const n = body.value.seq;
        if (seq && n <= BigInt(seq.sent)) seq.serverHas(Number(n));
        return;
      }
      case "disconnect":
        this.lastDisconnect = { code: body.value.code, reason: body.value.reason };
        return;
      case "ping":
        return;  // the server's keep-alive on TCP; on WebSocket it pings with frames the socket answers
    }
    if (this.pending.answer(e)) return;
    if (body.case === "error") this.emit("error", CraftError.fromServer(body.value.code, body.value.message, e.cid));
    else this.dispatch(e);
  }

  /** One more sequenced message received: ack every 64, or 500 ms after the first unacked (§3.2). */
  private counted(seq: Sequencer): void {
    seq.received++;
    if (seq.received - seq.acked >= ACK_EVERY_MESSAGES) this.sendAck();
    else if (this.ackTimer === undefined) this.ackTimer = setTimeout(() => this.sendAck(), ACK_AFTER_MS);
  }

  private sendAck(): void {
    this.stopAckTimer();
    const seq = this.seq;
    if (!seq || !this.linkUp || seq.received <= seq.acked || this.ws?.readyState !== 1) return;
    seq.acked = seq.received;
    this.ws.send(encodeEnvelope(makeEnvelope({ body: { case: "ack", value: { seq: BigInt(seq.received) } } }), this.format));
  }

  private piggybackAck(envelope: Envelope, seq: Sequencer): void {
    if (seq.received <= seq.acked) return;
    envelope.ackSeq = BigInt(seq.received);
    seq.acked = seq.received;
    this.stopAckTimer();
  }

  private socketClosed(code: number, reason: string, opened: boolean): void {
    const wasUp = this.linkUp;
    this.ws = undefined;
    this.linkUp = false;
    this.stopKeepAlive();
    this.stopAckTimer();
    if ((code === 1005 || code === ABNORMAL_CLOSE) && this.lastDisconnect) ({ code, reason } = this.lastDisconnect);
    this.lastClose = code;
    // hello and pings belong to this socket.
    this.pending.fail(new CraftError("CLOSED", `connection closed (${code})`), true);
    if (opened) this.emit("disconnect", { code, reason });
    // Before a welcome, connect() or the reconnect attempt deals with it through the hello.
    if (wasUp && this.connState !== "disconnected") this.lost(code, reason);
  }

  /** The connection of a session went away without a goodbye from us. */
  private lost(code: number, reason: string): void {
    const r = this.options.reconnect ?? {};
    if (FINAL_CLOSES.has(code) || r.enabled === false) {
      this.finish(new CraftError("CONNECTION_LOST", `connection closed (${code}${reason ? `: ${reason}` : ""})`));
      return;
    }
    // Only a loss without a close from the server (EOF, reset, a socket we gave up on) or its
    // 4001 for silence leaves the session held (§3.2); any other close ended it.
    if (!HELD_AFTER.has(code)) this.resumeToken = "";
    // The clocks of kept requests stop until they can be answered again.
    this.pending.pause();
    if (!this.seq) {
      // Rooms being rejoined stay for the next round.
      this.rejoinGen++;
      this.rejoinsLeft = 0;
      this.pending.fail(new CraftError("CONNECTION_LOST",
        `connection closed (${code}): the request may or may not have been carried out (plain session, resume off)`));
    }
    if (this.connState === "connected") {
      this.setState("reconnecting");
      this.emit("dropped", { code, reason });
    }
    this.scheduleAttempt();
  }

  /** The client gave up on a socket that still looks open (no pong, browser offline). */
  private cut(reason: string): void {
    const ws = this.ws;
    if (!ws) return;
    this.giveUp(ws);
    this.socketClosed(ABNORMAL_CLOSE, reason, true);
  }

  /**
   * Drops a socket without a close frame, which would end the session if it got through.
   * Node's ws can drop the TCP connection; a browser socket is closed once a newer connection
   * has its welcome (a resume has replaced it on the server by then).
   */
  private giveUp(ws: any): void {
    if (typeof ws.terminate === "function") ws.terminate();
    else this.abandoned.push(ws);
  }

  private scheduleAttempt(): void {
    const r = this.options.reconnect ?? {};
    const min = r.minDelayMs ?? 250, max = r.maxDelayMs ?? 5000, limit = r.maxAttempts ?? Infinity;
    if (this.attempts >= limit) {
      this.finish(new CraftError("CONNECTION_LOST", `no connection after ${limit} attempts`));
      return;
    }
    const attempt = ++this.attempts;
    // Exponential backoff with full jitter, so a restarted server is not hit by everyone at once.
    const delayMs = Math.round(Math.random() * Math.min(max, min * 2 ** (attempt - 1))) + min / 2;
    clearTimeout(this.attemptTimer);
    this.attemptTimer = setTimeout(() => {
      this.attemptTimer = undefined;
      void this.attempt();
    }, delayMs);
    this.emit("reconnecting", { attempt, delayMs });
  }

  private async attempt(): Promise<void> {
    if (this.connState !== "reconnecting") return;
    try {
      await this.openSocket();
      if (this.seq && this.resumeToken) {
        try {
          await this.hello(true);
          return;
        } catch (e) {
          if (!(e instanceof CraftError) || (e.code !== "RESUME_FAILED" && e.code !== "REPLAY_GAP")) throw e;
          // The session is over; the connection stays open for a new one (§3.2).
          this.resumeToken = "";
        }
      }
      await this.hello(false);
    } catch (e) {
      if (this.connState !== "reconnecting") return;  // closed by the user meanwhile
      const retry = e instanceof CraftError && TRANSIENT.has(e.code) && !FINAL_CLOSES.has(this.lastClose);
      if (!retry) {
        // The server refused the hello (e.g. TOKEN_EXPIRED): set client.token and connect() again.
        this.emit("error", e instanceof CraftError ? e : new CraftError("CONNECT_FAILED", String(e)));
        this.finish(new CraftError("CONNECTION_LOST", `reconnecting failed: ${(e as Error).message}`), serverCloses(e));
        return;
      }
      const ws = this.ws;  // a hello that timed out on an open socket
      this.ws = undefined;
      if (ws) this.giveUp(ws);
      this.scheduleAttempt();
    }
  }

  /**
   * The end: "disconnected", pending requests rejected with err, rooms left. keepSocket: the
   * server is about to close it (a refused hello), and its close is still reported.
   */
  private finish(err: Error, keepSocket = false): void {
    this.stopKeepAlive();
    this.stopAckTimer();
    clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
    if (!keepSocket) {
      const ws = this.ws;
      this.ws = undefined;
      closeQuietly(ws);
    }
    this.linkUp = false;
    for (const old of this.abandoned.splice(0)) closeQuietly(old);
    this.pending.fail(err);
    this.rejoinGen++;
    this.rejoinsLeft = 0;
    this.seq = undefined;
    this.resumeToken = "";
    this.attempts = 0;
    this.unwatchNetwork?.();
    this.unwatchNetwork = undefined;
    this.dropRooms("disconnected");
    this.setState("disconnected");
  }

  private startKeepAlive(): void {
    this.stopKeepAlive();
    const every = this.options.keepAliveMs ?? 10000;
    const wait = this.options.pongTimeoutMs ?? 5000;
    if (!(every > 0)) return;
    this.keepAlive = setInterval(() => {
      const ws = this.ws;
      if (!this.linkUp) return;
      this.ping(wait).catch((e) => {
        if (e instanceof CraftError && e.code === "TIMEOUT" && this.ws === ws && this.linkUp) this.cut(`no pong within ${wait} ms`);
      });
    }, every);
  }

  private stopKeepAlive(): void {
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  private stopAckTimer(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Browsers: "offline" cuts the connection at once, "online" skips the backoff wait. */
  private watchNetwork(): void {
    this.unwatchNetwork ??= watchNetwork(
      () => {
        if (this.linkUp) this.cut("the browser went offline");
      },
      () => {
        if (this.attemptTimer === undefined) return;
        clearTimeout(this.attemptTimer);
        this.attemptTimer = undefined;
        void this.attempt();
      },
    );
  }
}

/** Does the server close the socket itself after this hello error? */
function serverCloses(e: unknown): boolean {
  return e instanceof CraftError && CLOSING_HELLO_ERRORS.has(e.code);
}

/** A goodbye (close 1000) on a socket that may be in any state. */
function closeQuietly(ws: any): void {
  if (!ws || ws.readyState >= 2) return;
  try {
    ws.close(CloseCode.normal);
  } catch {
    // a socket still connecting may refuse; it is dropped either way
  }
}

/**
 * Calls offline/online on the browser's network events; returns the unsubscribe, or
 * undefined where there are none (Node).
 */
function watchNetwork(offline: () => void, online: () => void): (() => void) | undefined {
  const g = globalThis as any;
  if (typeof g.addEventListener !== "function" || typeof g.navigator?.onLine !== "boolean") return undefined;
  g.addEventListener("offline", offline);
  g.addEventListener("online", online);
  return () => {
    g.removeEventListener("offline", offline);
    g.removeEventListener("online", online);
  };
}
