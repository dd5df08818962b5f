/**
 * An error the server answered a request with, or a client-side failure ("TIMEOUT", "CLOSED").
 * From Api (HTTP) it also carries the HTTP status.
 */
export class CraftError extends Error {
  /** The protocol's ErrorCode name, e.g. "ROOM_NOT_FOUND" (docs/protocol.md §5). */
  readonly code: string;
  /** The request's correlation id (0 when not attributable). */
  readonly cid: number;
  /** The HTTP status of an Api call's answer, e.g. 409 for VERSION_CONFLICT (0 on the socket or without an answer). */
  readonly status: number;
  constructor(code: string, message: string, cid = 0, status = 0) {
    super(`${code}: ${message}`);
    this.name = "CraftError";
    this.code = code;
    this.cid = cid;
    this.status = status;
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
  tryAgainLater: 1013,
  handshakeTimeout: 4000,
  idleTimeout: 4001,
  slowConsumer: 4002,
  flood: 4003,
  unsupportedVersion: 4004,
  /** hello.token refused (or missing under auth.require); the error answering the hello says why. */
  authFailed: 4005,
} as const;
