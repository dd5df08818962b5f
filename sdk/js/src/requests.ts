// Requests waiting for their reply, by cid. A numbered request survives a resume (its clock
// stops while reconnecting); a link-level one (hello, ping) dies with its socket.
import type { Envelope } from "./gen/craft_pb.js";
import { CraftError } from "./errors.js";

interface Pending {
  /** Runs synchronously when the reply arrives, before the next message is handled. */
  settle: (e: Envelope) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
  timeoutMs: number;
  sequenced: boolean;
}

export class PendingRequests {
  private readonly map = new Map<number, Pending>();

  /**
   * Waits for the reply to cid; settle turns it into the result, synchronously (an error reply
   * rejects with its CraftError). Its clock starts with start().
   */
  add<T>(cid: number, sequenced: boolean, timeoutMs: number, settle: (e: Envelope) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.map.set(cid, {
        settle: (e) => {
          try {
            resolve(settle(e));
          } catch (err) {
            reject(err as Error);
          }
        },
        reject,
        timeoutMs,
        sequenced,
      });
    });
  }

  /** Rejects a request that could not be sent. */
  abandon(cid: number, err: Error): void {
    const p = this.map.get(cid);
    if (!p) return;
    this.map.delete(cid);
    clearTimeout(p.timer);
    p.reject(err);
  }

  /** Starts (or restarts) the clock of one request, or of every numbered one. */
  start(cid?: number): void {
    for (const [id, p] of this.map) {
      if (cid === undefined ? !p.sequenced : id !== cid) continue;
      clearTimeout(p.timer);
      p.timer = setTimeout(() => this.abandon(id, new CraftError("TIMEOUT", `no reply to cid ${id} within ${p.timeoutMs} ms`, id)), p.timeoutMs);
    }
  }

  /** Stops every clock (while reconnecting nothing can be answered). */
  pause(): void {
    for (const p of this.map.values()) {
      clearTimeout(p.timer);
      p.timer = undefined;
    }
  }

  /** The reply (or error) for cid: true when a request was waiting for it. */
  answer(e: Envelope): boolean {
    const p = e.cid ? this.map.get(e.cid) : undefined;
    if (!p) return false;
    this.map.delete(e.cid);
    clearTimeout(p.timer);
    const body = e.body;
    if (body.case === "error") p.reject(CraftError.fromServer(body.value.code, body.value.message, e.cid));
    else p.settle(e);
    return true;
  }

  /** Rejects every request, or only the link-level ones. */
  fail(err: Error, onlyLinkLevel = false): void {
    for (const [cid, p] of [...this.map]) {
      if (onlyLinkLevel && p.sequenced) continue;
      this.map.delete(cid);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}
