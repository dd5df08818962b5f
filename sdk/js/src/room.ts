import type { Envelope, PropertiesChanged, Presence as PresenceMessage, RoomJoined } from "./gen/craft_pb.js";
import type { EnvelopeInit } from "./codec.js";
import { type PlainValue, type PlainValues, fromValue, fromValues, setOwn, toValue } from "./values.js";
import { CraftError } from "./errors.js";
import { ReplicatedState } from "./state/replicated.js";
import {
  type Codec, type OpCodec, type OpMap, type OpOf, type RawOps, type ReceiveOf, type RoomOps, type SendArgs,
  type SendOf, codecs, defaultCodec,
} from "./ops.js";

export interface Presence {
  sessionId: string;
  name: string;
  /** The member's account ("" for an anonymous session). */
  accountId: string;
}
/** A handler of an untyped room, and of onMessage("*") on any room: the bytes as they came. */
export type MessageHandler = (data: Uint8Array, sender: string, op: number) => void;

/** room.onMessage's handler for op K of the map Ops ("*": every op, as bytes). */
export type MessageHandlerOf<Ops extends OpMap, K> = K extends OpOf<Ops>
  ? (data: ReceiveOf<Ops[K]>, sender: string, op: number) => void
  : MessageHandler;

/** The events of a Room, for room.on(event, handler); onJoin and the rest are shorthands. */
export interface RoomEvents {
  /** A member joined (not you: you are in room.members from the start). */
  join: Presence;
  /** A member left. */
  leave: Presence;
  /**
   * A member lost its connection; the room holds its seat for a while (it stays in
   * room.members). Then "resume" when it comes back, or "leave" when the hold ends.
   */
  drop: Presence;
  /** A dropped member came back within the resume window, with the same session id. */
  resume: Presence;
  /** room_joined.state, then the data of every op-0 message (STATE_OP), as bytes. */
  stateChange: Uint8Array;
  /**
   * We are out of the room: we left ("left"), the room removed us (kick, dispose, shutdown,
   * "timeout" when it did not hold our seat while we were away), the client disconnected for
   * good ("disconnected"), or after a lost session it could not be rejoined
   * ("rejoin failed: ROOM_NOT_FOUND: ...").
   */
  left: string;
  /**
   * Properties changed (properties_changed; yours too, with setProperties' answer): already
   * applied to room.properties / room.playerProperties() when it fires, in version order.
   */
  properties: PropertiesChange;
}

/** One applied properties_set (proto PropertiesChanged). */
export interface PropertiesChange {
  /** "0": the room's properties; else that member's session id. */
  player: string;
  /** key -> new value; null: the key was deleted. */
  changes: Record<string, PlainValue | null>;
  /** Per room, +1 per applied write (room code's too). */
  version: number;
  /** The writer's session id; "0" = the room's code. */
  by: string;
}

/** An expectation of a check-and-swap (proto PropertyExpect): key must equal the value (null: must be absent). */
export interface PropertyExpectation {
  /** "0" or absent: a room property; else that member's. */
  player?: string;
  key: string;
  equals: PlainValue | null;
}

export interface SetPropertiesOptions {
  /** Whose properties to write: "0" or absent = the room's; else a member's session id (by default only your own may be written). */
  player?: string;
  /**
   * Check-and-swap: the write applies only if, at that moment, every expectation holds
   * (else the promise rejects with PROPERTY_CONFLICT and nothing is written). An object
   * speaks of the written player's keys (null = absent); an array may name other players.
   */
  expect?: Record<string, PlainValue | null> | PropertyExpectation[];
}

const presenceOf = (p: PresenceMessage): Presence => ({ sessionId: p.sessionId.toString(), name: p.name, accountId: p.accountId });

/** What a Room needs from its Client. */
export interface RoomTransport {
  /** stateAck: a replicated snapshot tick acked on the way (RoomData.state_ack), 0 = none. */
  sendRoomData(roomId: string, op: number, data: Uint8Array, targets: string[], stateAck: number): void;
  /** Sends state_ack (no reply). */
  sendStateAck(roomId: string, tick: number): void;
  leaveRoom(roomId: string): Promise<void>;
  /** A message the room could not decode: the client emits it as an "error" event. */
  reportError(error: CraftError): void;
  /** Sends properties_set; the answer (properties_changed, cid echoed) goes through room.handle before it resolves. */
  setProperties(init: EnvelopeInit): Promise<Envelope>;
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
  get size(): number {
    return this.set.size;
  }
  emit(...args: T): void {
    for (const f of [...this.set]) f(...args);
  }
}

// An untyped room's codec: bytes out as room.send always sent them, bytes in untouched.
const rawCodec: Codec<unknown, unknown> = { encode: defaultCodec.encode, decode: codecs.bytes().decode as (d: Uint8Array) => unknown };

/**
 * A room you are in. Get one from Client.joinOrCreate / create / joinById.
 *
 * Ops is the room's message map (see ops.ts and the README): with `{ ops: ops<ChatOps>() }`
 * when joining, `send` and `onMessage` are checked against it and handlers get decoded values.
 * Without, it is a RawRoom (RawOps): any op, bytes in, bytes / string / object out.
 */
export class Room<Ops extends OpMap = RawOps> {
  readonly id: string;
  readonly type: string;
  /** @internal room_joined.room_handle: how this session's state_snapshots name the room (0: by id). */
  roomHandle: number;
  /** Our session id in this room (it changes when a lost session is replaced by a new one and the room rejoined). */
  sessionId: string;
  readonly members = new Map<string, Presence>();
  /** room_joined.state, then the data of every op-0 message. */
  state: Uint8Array;
  /** The room's properties (a plain object, replaced on each change), as of propertiesVersion. */
  properties: PlainValues = {};
  /** The version of the last properties change applied here (room_joined's, then each "properties"). */
  propertiesVersion = 0;
  private playerProps = new Map<string, PlainValues>();
  /**
   * The room's replicated state (docs/protocol.md §4.20), for rooms whose code uses craft's
   * replication layer: entities as plain objects, onAdd / onRemove / onChange / listen,
   * interpolated(now) and renderTick(now). Empty until the room's state_schema and first
   * snapshot arrive; acks go out by themselves.
   */
  readonly replicated = new ReplicatedState();
  /** The newest decoded snapshot tick not acked yet (0: none), and the timer that sends it alone. */
  private ackTick = 0;
  private ackTimer?: ReturnType<typeof setTimeout>;

  private readonly byOp = new Map<number, Listeners<[unknown, string, number]>>();
  private readonly any = new Listeners<[Uint8Array, string, number]>();
  private readonly events: { [K in keyof RoomEvents]: Listeners<[RoomEvents[K]]> } = {
    join: new Listeners(), leave: new Listeners(), drop: new Listeners(), resume: new Listeners(),
    stateChange: new Listeners(), left: new Listeners(), properties: new Listeners(),
  };
  private readonly codecs: Record<number, OpCodec<unknown, unknown> | undefined>;
  private readonly fallback: Codec<unknown, unknown>;
  private gone = false;
  /**
   * Messages that came right behind room_joined (in the same read, or replayed after a
   * resume), before the caller's await could add listeners: handled at announceState.
   */
  private early: Envelope[] | undefined = [];
  /** @internal: leave() was called; a rejoin after a lost session skips this room. */
  leaving = false;

  /** @internal: rooms come from Client's join calls. */
  constructor(
    private readonly transport: RoomTransport,
    joined: RoomJoined,
    roomOps?: RoomOps<Ops>,
  ) {
    this.id = joined.roomId;
    this.type = joined.type;
    this.roomHandle = joined.roomHandle;
    this.sessionId = joined.you ? joined.you.sessionId.toString() : "";
    for (const p of joined.members) this.members.set(p.sessionId.toString(), presenceOf(p));
    this.state = joined.state;
    this.takeProperties(joined);
    this.codecs = (roomOps?.codecs ?? {}) as Record<number, OpCodec<unknown, unknown> | undefined>;
    this.fallback = roomOps ? defaultCodec : rawCodec;
    this.replicated.onAck((tick) => this.queueAck(tick));
  }

  /**
   * Sends room_data on an op of the room's map, encoded by the op's codec. An untyped room
   * sends a Uint8Array as is, a string as UTF-8 and anything else as JSON text.
   * targets: session ids to ask delivery to (default none: the room type decides, docs/protocol.md §4.9).
   */
  send<K extends OpOf<Ops>>(op: K, ...[data, targets = []]: SendArgs<SendOf<Ops[K]>>): void {
    if (this.gone) return;
    const encode = this.codecs[op]?.encode ?? this.fallback.encode;
    // A pending ack rides on this message instead of a state_ack of its own.
    const ack = this.ackTick;
    this.ackTick = 0;
    this.transport.sendRoomData(this.id, op, encode(data), targets, ack);
  }

  /**
   * Calls cb with each message on op, decoded by the op's codec (an untyped room: the bytes).
   * "*" gets every message as bytes with its op, whatever the map. Returns an unsubscribe.
   */
  onMessage<K extends OpOf<Ops> | "*">(op: K, cb: MessageHandlerOf<Ops, K>): () => void {
    if (op === "*") return this.any.add(cb as MessageHandler);
    let l = this.byOp.get(op as number);
    if (!l) this.byOp.set(op as number, (l = new Listeners()));
    return l.add(cb as (data: unknown, sender: string, op: number) => void);
  }

  /** Listens to a room event (see RoomEvents). Returns an unsubscribe. */
  on<E extends keyof RoomEvents>(event: E, cb: (value: RoomEvents[E]) => void): () => void {
    return (this.events[event] as Listeners<[RoomEvents[E]]>).add(cb);
  }
  onJoin(cb: (p: Presence) => void): () => void {
    return this.on("join", cb);
  }
  onLeave(cb: (p: Presence) => void): () => void {
    return this.on("leave", cb);
  }
  /** A member's connection dropped (its seat is held); see RoomEvents.drop. */
  onDrop(cb: (p: Presence) => void): () => void {
    return this.on("drop", cb);
  }
  /** A dropped member is back; see RoomEvents.resume. */
  onResume(cb: (p: Presence) => void): () => void {
    return this.on("resume", cb);
  }
  onStateChange(cb: (state: Uint8Array) => void): () => void {
    return this.on("stateChange", cb);
  }
  /** The room removed us (kick, dispose, shutdown, a dropped connection) or we left. */
  onLeft(cb: (reason: string) => void): () => void {
    return this.on("left", cb);
  }
  /** A member's properties (a plain object; empty when it has none). id: a session id, default yours. */
  playerProperties(id: string = this.sessionId): PlainValues {
    return this.playerProps.get(id) ?? {};
  }

  /**
   * Writes properties (properties_set): writes maps keys to new values, null deletes a key.
   * Resolves with the applied change once the server answered (room.properties already has
   * it, and the "properties" event fired). Rejects with PROPERTY_CONFLICT (an expectation
   * failed; nothing was written), PERMISSION_DENIED (the room type does not let you write
   * there, or its code vetoed), LIMIT_REACHED (rooms.max_properties), BAD_REQUEST (e.g. past
   * rooms.max_property_bytes), NOT_IN_ROOM; TypeError for a value that is not a string, a
   * finite number or a boolean.
   */
  async setProperties(writes: Record<string, PlainValue | null>, opts: SetPropertiesOptions = {}): Promise<PropertiesChange> {
    const player = BigInt(opts.player ?? "0");
    const expect = Array.isArray(opts.expect)
      ? opts.expect.map((x) => ({ player: BigInt(x.player ?? "0"), key: x.key, equals: x.equals === null ? undefined : toValue(x.equals) }))
      : Object.entries(opts.expect ?? {}).map(([key, v]) => ({ player, key, equals: v === null ? undefined : toValue(v) }));
    const value = {
      roomId: this.id, player, expect,
      writes: Object.entries(writes).map(([key, v]) => ({ key, to: v === null ? undefined : toValue(v) })),
    };
    const reply = await this.transport.setProperties({ body: { case: "propertiesSet", value } });
    if (reply.body.case !== "propertiesChanged") throw new CraftError("BAD_REPLY", "expected properties_changed");
    return changeOf(reply.body.value);
  }

  async leave(): Promise<void> {
    if (this.gone) return;
    this.leaving = true;
    try {
      await this.transport.leaveRoom(this.id);
    } catch (e) {
      this.leaving = false;
      throw e;
    }
    this.left("left");
  }

  /** @internal */
  handle(e: Envelope): void {
    if (this.early) {
      this.early.push(e);
      return;
    }
    const body = e.body;
    if (body.case === "roomData") {
      const { op, data } = body.value;
      const sender = body.value.sender.toString();
      if (op === STATE_OP) {
        this.state = data;
        this.events.stateChange.emit(data);
      }
      const l = this.byOp.get(op);
      if (l && l.size > 0) {
        // Decoded only when someone listens; a message its codec refuses reaches no handler.
        const decode = this.codecs[op]?.decode ?? this.fallback.decode;
        let value: unknown;
        let ok = true;
        try {
          value = decode(data);
        } catch (err) {
          ok = false;
          this.transport.reportError(new CraftError("BAD_MESSAGE", `room ${this.id} op ${op}: ${(err as Error).message}`));
        }
        if (ok) l.emit(value, sender, op);
      }
      this.any.emit(data, sender, op);
    } else if (body.case === "presence") {
      for (const p of body.value.joins) {
        const presence = presenceOf(p);
        this.members.set(presence.sessionId, presence);
        this.events.join.emit(presence);
      }
      for (const p of body.value.leaves) {
        const presence = presenceOf(p);
        this.members.delete(presence.sessionId);
        this.playerProps.delete(presence.sessionId);  // a member's properties go with it
        this.events.leave.emit(presence);
      }
      for (const p of body.value.dropped) this.events.drop.emit(presenceOf(p));
      for (const p of body.value.resumed) this.events.resume.emit(presenceOf(p));
    } else if (body.case === "roomLeft") {
      this.left(body.value.reason);
    } else if (body.case === "propertiesChanged") {
      this.applyProperties(body.value);
    } else if (body.case === "stateSchema") {
      this.replicated.setSchema(body.value);
    } else if (body.case === "stateSnapshot") {
      this.replicated.receive(body.value.data);
    }
  }
  /** @internal */
  left(reason: string): void {
    if (this.gone) return;
    // What the room sent before it was left is handed over first, so "left" is the last event
    // (a leave() right after the join would otherwise see the join state and early presence
    // arrive after "left", from the hand-over timer).
    this.announceState();
    if (this.gone) return;
    this.gone = true;
    this.ackTick = 0;
    clearTimeout(this.ackTimer);
    this.events.left.emit(reason);
  }
  /**
   * @internal: the client rejoined this room as a new session (the old one was lost):
   * members are the room's now, "leave"/"join" fire for the differences (not for ourselves),
   * and the join state fires as a "stateChange".
   */
  rejoined(joined: RoomJoined): void {
    this.roomHandle = joined.roomHandle;
    const before = new Map(this.members);
    const oldSelf = this.sessionId;
    this.sessionId = joined.you ? joined.you.sessionId.toString() : "";
    this.members.clear();
    for (const p of joined.members) this.members.set(p.sessionId.toString(), presenceOf(p));
    for (const [id, p] of before) if (!this.members.has(id) && id !== oldSelf) this.events.leave.emit(p);
    for (const [id, p] of this.members) if (!before.has(id) && id !== this.sessionId) this.events.join.emit(p);
    this.state = joined.state;
    this.takeProperties(joined);
    // The new session's snapshots start over (state_schema, then a full snapshot).
    this.ackTick = 0;
    this.replicated.reset();
    this.events.stateChange.emit(this.state);
  }
  /**
   * @internal: fires the join state, then what came right behind it, once the caller's await
   * added its listeners (the Client's timer), or sooner when the room answers a request of its
   * own (see answered). Once only.
   */
  announceState(): void {
    const early = this.early;
    if (!early) return;
    this.early = undefined;
    this.events.stateChange.emit(this.state);
    for (const e of early) this.handle(e);
  }
  /**
   * @internal: the answer to this room's own request (properties_set). The caller's await of
   * the join is long done (it called a method of the room), and a whole round trip can finish
   * before the announceState timer runs: the answer must not wait in the early buffer, or the
   * request resolves before its change is applied. What came before it goes first, in order.
   */
  answered(e: Envelope): void {
    this.announceState();
    this.handle(e);
  }

  /**
   * Acks the newest decoded snapshot: on the next room.send if one goes out within
   * replicated.ackDelayMs, else as a state_ack of its own. One ack per snapshot at most; a
   * newer snapshot decoded meanwhile replaces the pending one.
   */
  private queueAck(tick: number): void {
    if (this.gone) return;
    this.ackTick = tick;
    if (this.ackTimer !== undefined) return;
    const flush = () => {
      this.ackTimer = undefined;
      const t = this.ackTick;
      this.ackTick = 0;
      if (t === 0 || this.gone) return;
      try {
        this.transport.sendStateAck(this.id, t);
      } catch {
        // Not connected: acking is never required (§4.20); the next snapshot is acked instead.
      }
    };
    const delay = this.replicated.ackDelayMs;
    if (delay <= 0) flush();
    else this.ackTimer = setTimeout(flush, delay);
  }

  private takeProperties(joined: RoomJoined): void {
    this.properties = fromValues(joined.properties);
    this.playerProps = new Map(joined.playerProperties.map((p) => [p.player.toString(), fromValues(p.properties)]));
    this.propertiesVersion = Number(joined.propertiesVersion);
  }

  /** One change, in version order; one the join state already had (version <= ours) is skipped. */
  private applyProperties(c: PropertiesChanged): void {
    const change = changeOf(c);
    if (change.version <= this.propertiesVersion) return;
    this.propertiesVersion = change.version;
    const target = change.player === "0" ? { ...this.properties } : { ...this.playerProperties(change.player) };
    for (const [k, v] of Object.entries(change.changes)) {
      if (v === null) delete target[k];
      else setOwn(target, k, v);
    }
    if (change.player === "0") this.properties = target;
    else this.playerProps.set(change.player, target);
    this.events.properties.emit(change);
  }
}

function changeOf(c: PropertiesChanged): PropertiesChange {
  const changes: Record<string, PlainValue | null> = {};
  for (const w of c.writes) setOwn(changes, w.key, fromValue(w.to) ?? null);
  return { player: c.player.toString(), changes, version: Number(c.version), by: c.by.toString() };
}

/** A room joined without an ops map: any op, bytes in; Uint8Array, string or object out. */
export type RawRoom = Room<RawOps>;
