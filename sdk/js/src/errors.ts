/** An error the server answered a request with, or a client-side failure ("TIMEOUT", "CLOSED"). */
export class CraftError extends Error {
  /** The protocol's ErrorCode name, e.g. "ROOM_NOT_FOUND" (docs/protocol.md §5). */
  readonly code: string;
  /** The request's correlation id (0 when not attributable). */
  readonly cid: number;
  constructor(code: string, message: string, cid = 0) {
    super(`${code}: ${message}`);
    this.name = "CraftError";
    this.code = code;
    this.cid = cid;
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
} as const;
