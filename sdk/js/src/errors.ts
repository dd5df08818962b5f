import { ErrorCode } from "./gen/craft_pb.js";

/**
 * The protocol's error codes (proto `craft.v1.ErrorCode`, docs/protocol.md §5.1), by name:
 * "ROOM_NOT_FOUND", "VERSION_CONFLICT", ... Derived from the generated enum, so it follows
 * proto/craft.proto.
 */
export type ServerErrorCode = keyof typeof ErrorCode;

/** Failures found on the client side, without an error from the server. */
export type ClientErrorCode =
  /** No reply to a request within its timeout. */
  | "TIMEOUT"
  /** Not connected, or client.close() was called while the request waited. */
  | "CLOSED"
  /**
   * The connection was lost and the session could not be resumed (or reconnecting is off):
   * the request may or may not have been carried out by the old session.
   */
  | "CONNECTION_LOST"
  /** The socket (or an Api call's HTTP connection) could not be opened. */
  | "CONNECT_FAILED"
  /** The socket failed after it was open (an "error" event). */
  | "SOCKET_ERROR"
  /** A reply of the wrong kind, or an Api answer that is not JSON. */
  | "BAD_REPLY"
  /** A message that did not decode: an undecodable envelope, or room data its op's codec refused. */
  | "BAD_MESSAGE";

/** An Api error answer without a JSON error body: "HTTP_502". */
export type HttpErrorCode = `HTTP_${number}`;

/** Every code a CraftError can carry: compare `e.code` with these and TypeScript checks the spelling. */
export type CraftErrorCode = ServerErrorCode | ClientErrorCode | HttpErrorCode;

/** Is this string one of the protocol's error code names? */
export function isServerErrorCode(name: string): name is ServerErrorCode {
  // Own properties only, and only name -> number (a numeric enum also maps numbers back to names).
  return Object.prototype.hasOwnProperty.call(ErrorCode, name) && typeof (ErrorCode as Record<string, unknown>)[name] === "number";
}

/**
 * The name of an error code the server sent. A code this SDK does not know (a newer server)
 * reads as "INTERNAL", as docs/protocol.md asks of clients; the original is kept in the message.
 */
export function serverErrorCode(code: number | string): { code: ServerErrorCode; unknown: boolean } {
  if (typeof code === "number") {
    const name = ErrorCode[code] as string | undefined;
    if (name !== undefined && isServerErrorCode(name)) return { code: name, unknown: false };
  } else if (isServerErrorCode(code)) {
    return { code, unknown: false };
  }
  return { code: "INTERNAL", unknown: true };
}

/**
 * An error the server answered a request with, or a client-side failure ("TIMEOUT", "CLOSED").
 * From Api (HTTP) it also carries the HTTP status.
 */
export class CraftError extends Error {
  /** The protocol's ErrorCode name, e.g. "ROOM_NOT_FOUND" (docs/protocol.md §5), or a ClientErrorCode. */
  readonly code: CraftErrorCode;
  /** The request's correlation id (0 when not attributable). */
  readonly cid: number;
  /** The HTTP status of an Api call's answer, e.g. 409 for VERSION_CONFLICT (0 on the socket or without an answer). */
  readonly status: number;
  constructor(code: CraftErrorCode, message: string, cid = 0, status = 0) {
    super(`${code}: ${message}`);
    this.name = "CraftError";
    this.code = code;
    this.cid = cid;
    this.status = status;
  }

  /** A CraftError for an error code the server sent (a number on the socket, a name over HTTP). */
  static fromServer(code: number | string, message: string, cid = 0, status = 0): CraftError {
    const known = serverErrorCode(code);
    return new CraftError(known.code, known.unknown ? `(unknown code ${code}) ${message}` : message, cid, status);
  }
}

/** Close codes the server sends (docs/protocol.md §5). */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  invalidPayload: 1007,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  /** The node drained (craftd --drain) and stopped: reconnect, another node takes you. */
  serviceRestart: 1012,
  tryAgainLater: 1013,
  handshakeTimeout: 4000,
  idleTimeout: 4001,
  slowConsumer: 4002,
  flood: 4003,
  unsupportedVersion: 4004,
  /** hello.token refused (or missing under auth.require); the error answering the hello says why. */
  authFailed: 4005,
  /** auth.session_policy = "replace": a newer hello for the same account ended this session. */
  sessionReplaced: 4006,
} as const;
