// The options and events of a Client (see connection.ts and client.ts).
import type { Format } from "./codec.js";
import type { CraftError } from "./errors.js";

export interface ReconnectOptions {
  /** Reconnect after a lost connection (default true). Off: a drop is final ("disconnected"). */
  enabled?: boolean;
  minDelayMs?: number;
  maxDelayMs?: number;
  maxAttempts?: number;
  /**
   * For connections to other nodes of a cluster (rooms joined through a redirect): attempts
   * before the node counts as gone and its rooms as lost ("roomsLost"); default 6.
   */
  nodeMaxAttempts?: number;
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
  /**
   * A resumable session (default true): after a lost connection the client resumes it on a
   * new socket, with its rooms, listeners and pending requests, and every message in between
   * delivered once, in order (docs/protocol.md §3.2). false: a plain session, replaced by a
   * new one (rooms rejoined) after a drop.
   */
  resume?: boolean;
  /**
   * How many bytes of sent messages the server has not acknowledged yet are kept to send
   * again after a resume (default 256 KiB). Beyond it the oldest go, and a resume that would
   * need them becomes a new session instead.
   */
  resendBufferBytes?: number;
  /** Per request, default 10 s (not counted while reconnecting). */
  requestTimeoutMs?: number;
  /** Ping while connected, default every 10 s. */
  keepAliveMs?: number;
  /** A keep-alive ping without a pong within this many ms means the connection is lost (default 5 s). */
  pongTimeoutMs?: number;
}

/** client.state, for a UI: "connecting" (connect() under way), "connected", "reconnecting" (after a drop), "disconnected". */
export type ConnectionState = "connecting" | "connected" | "reconnecting" | "disconnected";

/** The events of a Client and what their handlers get, for client.on(event, handler). */
export interface ClientEvents {
  /** client.state changed. */
  state: { state: ConnectionState; previous: ConnectionState };
  /**
   * The connection was lost (close code, or 1006 when the client gave up on a silent or
   * offline socket); the client is "reconnecting": "resumed" or "reconnected" follows, or
   * "disconnected" when it gives up.
   */
  dropped: { code: number; reason: string };
  /** A reconnect attempt starts after delayMs. */
  reconnecting: { attempt: number; delayMs: number };
  /**
   * The same session goes on over a new socket: rooms, listeners and pending requests are
   * intact, and missed messages arrive next, in order. replayed: how many of our own messages
   * were sent again (the server had not received them).
   */
  resumed: { sessionId: string; replayed: number };
  /**
   * The old session was gone (server restart, resume window over, resume refused): a new
   * session, its rooms rejoined by id (a room that could not be rejoined got its "left").
   */
  reconnected: { sessionId: string };
  /** A socket closed, with the WebSocket close code and reason (CloseCode). */
  disconnect: { code: number; reason: string };
  /**
   * An error not tied to a request: an error envelope with cid 0, a message that did not
   * decode (BAD_MESSAGE), a socket failure (SOCKET_ERROR), or a reconnect's refused hello.
   */
  error: CraftError;
  /**
   * Rooms the client could not keep: a connection to another node of a cluster could not be
   * resumed or reconnected within reconnect.nodeMaxAttempts (reason "node lost"), or a lost
   * session was replaced by a new one that could not rejoin them (reason "rejoin failed:
   * <code>: ..."): the server restarted, or, behind a load balancer, the node holding them died
   * and the client reconnected to another one (ROOM_NOT_FOUND, or UNAVAILABLE while the other
   * nodes have not yet seen it die). url: the connection's URL (the home one, or the node's).
   * Each room got its "left" with the same reason; the session's matchmaker tickets ended
   * ("ticketEnded", reason "session ended"). Join again (joinOrCreate, joinById) or queue
   * again to carry on.
   */
  roomsLost: { url: string; roomIds: string[]; reason: string };
}
export type ClientEvent = keyof ClientEvents;
