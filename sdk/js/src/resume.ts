// The client's half of resumable sessions (docs/protocol.md §3.2): both ends count the
// sequenced messages of a session, the client acks what it received and keeps what it sent
// until the server acks it, to send it again after a resume.
import type { Envelope } from "./gen/craft_pb.js";

/** An encoded envelope, as written to the socket. */
export type Frame = Uint8Array | string;

// The link-level bodies: never numbered, never replayed.
const LINK_LEVEL: ReadonlySet<string | undefined> = new Set(["hello", "welcome", "ping", "pong", "ack", "disconnect"]);

/** Is an envelope of this body numbered? Everything else is, a body this SDK does not know included. */
export function isSequenced(kind: Envelope["body"]["case"]): boolean {
  return !LINK_LEVEL.has(kind);
}

/** The server's count wins only after this many unacked messages, or this long after the first. */
export const ACK_EVERY_MESSAGES = 64;
export const ACK_AFTER_MS = 500;

/** The counters and resend buffer of one resumable session; a new session gets a new one. */
export class Sequencer {
  /** Sequenced server messages received (their numbers are 1..received). */
  received = 0;
  /** The highest `received` told to the server (ack or ack_seq). */
  acked = 0;
  /** Sequenced messages sent (1..sent), including those kept while no socket was up. */
  sent = 0;
  // Kept frames are the messages (sent - kept + 1)..sent; frames[head] is the oldest.
  private frames: Frame[] = [];
  private sizes: number[] = [];
  private head = 0;
  private bytes = 0;
  /** The highest message dropped unacked because the buffer was full (0: none). */
  private overflowedTo = 0;

  /** limitBytes: how much unacked output to keep; the oldest goes first beyond it. */
  constructor(readonly limitBytes: number) {}

  /** Numbers an outgoing sequenced message and keeps its frame until the server acks it. */
  keep(frame: Frame): number {
    const seq = ++this.sent;
    // A string frame (JSON) counts its UTF-16 length: close enough for a memory bound.
    const size = typeof frame === "string" ? frame.length : frame.byteLength;
    this.frames.push(frame);
    this.sizes.push(size);
    this.bytes += size;
    while (this.bytes > this.limitBytes && this.kept() > 0) {
      this.overflowedTo = this.firstKept();
      this.dropOldest();
    }
    return seq;
  }

  /** The server has messages 1..seq: forget them. An ack above what was sent changes nothing more. */
  serverHas(seq: number): void {
    while (this.kept() > 0 && this.firstKept() <= seq) this.dropOldest();
  }

  /**
   * What to send again after a resume whose welcome says the server has 1..serverHas, in
   * order; null when some of them were dropped (buffer overflow) or the count is impossible,
   * and the session cannot go on.
   */
  resendAfter(serverHas: number): Frame[] | null {
    if (!Number.isSafeInteger(serverHas) || serverHas < 0 || serverHas > this.sent) return null;
    if (serverHas < this.overflowedTo) return null;
    this.serverHas(serverHas);
    if (this.kept() !== this.sent - serverHas) return null;
    return this.frames.slice(this.head);
  }

  /** Unacked bytes kept (for tests and diagnostics). */
  get keptBytes(): number {
    return this.bytes;
  }

  private kept(): number {
    return this.frames.length - this.head;
  }
  private firstKept(): number {
    return this.sent - this.kept() + 1;
  }
  private dropOldest(): void {
    this.bytes -= this.sizes[this.head];
    this.head++;
    // Compact now and then instead of shifting the arrays for every ack.
    if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.sizes = this.sizes.slice(this.head);
      this.head = 0;
    }
  }
}
