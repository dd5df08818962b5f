import type { Envelope, Presence as PresenceMessage, RoomJoined } from "./gen/craft_pb.js";
import { toBytes } from "./codec.js";

export interface Presence {
  sessionId: string;
  name: string;
  /** The member's account ("" for an anonymous session). */
  accountId: string;
}
export type MessageHandler = (data: Uint8Array, sender: string, op: number) => void;

const presenceOf = (p: PresenceMessage): Presence => ({ sessionId: p.sessionId.toString(), name: p.name, accountId: p.accountId });

/** What a Room needs from its Client. */
export interface RoomTransport {
  sendRoomData(roomId: string, op: number, data: Uint8Array, targets: string[]): void;
  leaveRoom(roomId: string): Promise<void>;
}

/** Op 0 carries room state by convention: onStateChange fires for it and for the join state. */
export const STATE_OP = 0;

type Listener<T extends unknown[]> = (...args: T) => void;

class Listeners<T extends unknown[]> {
  private readonly set = new Set<Listener<T>>();
  add(f: Listener<T>): () => void {
    this.set.add(f);
    return () => this.set.delete(f);
  }
  emit(...args: T): void {
    for (const f of [...this.set]) f(...args);
  }
}

/** A room you are in. Get one from Client.joinOrCreate / create / joinById. */
export class Room {
  readonly id: string;
  readonly type: string;
  readonly sessionId: string;
  readonly members = new Map<string, Presence>();
  /** room_joined.state, then the data of every op-0 message. */
  state: Uint8Array;

  private readonly byOp = new Map<number | "*", Listeners<[Uint8Array, string, number]>>();
  private readonly joins = new Listeners<[Presence]>();
  private readonly leaves = new Listeners<[Presence]>();
  private readonly states = new Listeners<[Uint8Array]>();
  private readonly lefts = new Listeners<[string]>();
  private gone = false;

  constructor(
    private readonly transport: RoomTransport,
    joined: RoomJoined,
  ) {
    this.id = joined.roomId;
    this.type = joined.type;
    this.sessionId = joined.you ? joined.you.sessionId.toString() : "";
    for (const p of joined.members) this.members.set(p.sessionId.toString(), presenceOf(p));
    this.state = joined.state;
  }

  /** Sends room_data. A string goes as UTF-8, an object as JSON text. */
  send(op: number, data?: Uint8Array | string | object, targets: string[] = []): void {
    if (this.gone) return;
    this.transport.sendRoomData(this.id, op, toBytes(data), targets);
  }
  onMessage(op: number | "*", cb: MessageHandler): () => void {
    let l = this.byOp.get(op);
    if (!l) this.byOp.set(op, (l = new Listeners()));
    return l.add(cb);
  }
  onJoin(cb: (p: Presence) => void): () => void {
    return this.joins.add(cb);
  }
  onLeave(cb: (p: Presence) => void): () => void {
    return this.leaves.add(cb);
  }
  onStateChange(cb: (state: Uint8Array) => void): () => void {
    return this.states.add(cb);
  }
  /** The room removed us (kick, dispose, shutdown, a dropped connection) or we left. */
  onLeft(cb: (reason: string) => void): () => void {
    return this.lefts.add(cb);
  }
  async leave(): Promise<void> {
    if (this.gone) return;
    await this.transport.leaveRoom(this.id);
    this.left("left");
  }

  /** @internal */
  handle(e: Envelope): void {
    const body = e.body;
    if (body.case === "roomData") {
      const { op, data } = body.value;
      const sender = body.value.sender.toString();
      if (op === STATE_OP) {
        this.state = data;
        this.states.emit(data);
      }
      this.byOp.get(op)?.emit(data, sender, op);
      this.byOp.get("*")?.emit(data, sender, op);
    } else if (body.case === "presence") {
      for (const p of body.value.joins) {
        const presence = presenceOf(p);
        this.members.set(presence.sessionId, presence);
        this.joins.emit(presence);
      }
      for (const p of body.value.leaves) {
        const presence = presenceOf(p);
        this.members.delete(presence.sessionId);
        this.leaves.emit(presence);
      }
    } else if (body.case === "roomLeft") {
      this.left(body.value.reason);
    }
  }
  /** @internal */
  left(reason: string): void {
    if (this.gone) return;
    this.gone = true;
    this.lefts.emit(reason);
  }
  /** @internal: fires the join state to listeners registered before it arrived. */
  announceState(): void {
    this.states.emit(this.state);
  }
}
