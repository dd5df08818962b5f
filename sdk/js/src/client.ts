// The craft client: rooms over one Connection (connection.ts: socket, requests, keep-alive,
// resume and reconnect). After a lost session is replaced by a new one, the client rejoins
// each room by id with its original join options, keeping the Room objects and listeners.
import type { Envelope } from "./gen/craft_pb.js";
import { type EnvelopeInit, makeEnvelope, toBytes } from "./codec.js";
import { CraftError } from "./errors.js";
import type { OpMap, RoomOps } from "./ops.js";
import { type RawRoom, Room, type RoomTransport } from "./room.js";
import { Connection } from "./connection.js";

export type { ClientOptions, ReconnectOptions, ClientEvents, ClientEvent, ConnectionState } from "./connection.js";

export interface RoomInfo {
  roomId: string;
  type: string;
  clients: number;
  maxClients: number;
  label: string;
  locked: boolean;
}

/** The last argument of the join calls. */
export interface JoinOptions<Ops extends OpMap> {
  /** The room's typed message map, from ops<Ops>(codecs?): send and onMessage are checked against it. */
  ops: RoomOps<Ops>;
}

interface RoomEntry {
  room: Room<any>;
  /** The join options it was joined (or created) with, sent again when it is rejoined. */
  options: Uint8Array;
}

const optionsText = (o?: string | object) => (o === undefined ? new Uint8Array() : toBytes(o));

export class Client extends Connection implements RoomTransport {
  private readonly rooms = new Map<string, RoomEntry>();

  /**
   * Joins a room of this type with space, or creates one. options: the room's join options
   * (a string as UTF-8, an object as JSON). join.ops: the room's typed message map.
   */
  joinOrCreate(type: string, options?: string | object): Promise<RawRoom>;
  joinOrCreate<Ops extends OpMap>(type: string, options: string | object | undefined, join: JoinOptions<Ops>): Promise<Room<Ops>>;
  joinOrCreate(type: string, options?: string | object, join?: JoinOptions<OpMap>): Promise<Room<any>> {
    const bytes = optionsText(options);
    return this.joinRequest({ case: "roomJoinOrCreate", value: { type, options: bytes } }, bytes, join?.ops);
  }
  /** Creates a room (private: not listed, joinable by id only). */
  create(type: string, options?: string | object, opts?: { private?: boolean }): Promise<RawRoom>;
  create<Ops extends OpMap>(type: string, options: string | object | undefined, opts: { private?: boolean } & JoinOptions<Ops>): Promise<Room<Ops>>;
  create(type: string, options?: string | object, opts: { private?: boolean; ops?: RoomOps<OpMap> } = {}): Promise<Room<any>> {
    const bytes = optionsText(options);
    return this.joinRequest({ case: "roomCreate", value: { type, options: bytes, private: !!opts.private } }, bytes, opts.ops);
  }
  joinById(roomId: string, options?: string | object): Promise<RawRoom>;
  joinById<Ops extends OpMap>(roomId: string, options: string | object | undefined, join: JoinOptions<Ops>): Promise<Room<Ops>>;
  joinById(roomId: string, options?: string | object, join?: JoinOptions<OpMap>): Promise<Room<any>> {
    const bytes = optionsText(options);
    return this.joinRequest({ case: "roomJoin", value: { roomId, options: bytes } }, bytes, join?.ops);
  }

  async listRooms(type = ""): Promise<RoomInfo[]> {
    const reply = await this.request({ body: { case: "roomList", value: { type } } });
    if (reply.body.case !== "roomListResult") throw new CraftError("BAD_REPLY", "expected room_list_result");
    return reply.body.value.rooms.map((r) => ({
      roomId: r.roomId, type: r.type, clients: r.clients, maxClients: r.maxClients, label: r.label, locked: r.locked,
    }));
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
    try {
      await this.request({ body: { case: "roomLeave", value: { roomId } } });
    } catch (e) {
      // The session that held the seat is gone (and the room is not rejoined): we are out.
      if (!(e instanceof CraftError && e.code === "CONNECTION_LOST")) throw e;
    }
    this.rooms.delete(roomId);
  }

  /** @internal */
  protected dispatch(e: Envelope): void {
    const body = e.body;
    const roomId =
      body.case === "roomData" || body.case === "presence" || body.case === "roomLeft" ? body.value.roomId : undefined;
    if (roomId === undefined) return;
    this.rooms.get(roomId)?.room.handle(e);
    if (body.case === "roomLeft") this.rooms.delete(roomId);
  }

  /** @internal */
  protected rejoinRooms(): Promise<unknown>[] {
    const round = this.rejoinRound;
    const rejoins: Promise<unknown>[] = [];
    for (const entry of this.rooms.values()) {
      const { room, options } = entry;
      if (room.leaving) continue;  // its leave() settles it
      const rejoin = this.call({ body: { case: "roomJoin", value: { roomId: room.id, options } } }, (e) => {
        if (e.body.case !== "roomJoined") throw new CraftError("BAD_REPLY", "expected room_joined");
        if (round === this.rejoinRound) room.rejoined(e.body.value);
      }).catch((err: Error) => {
        if (round !== this.rejoinRound || this.rooms.get(room.id) !== entry) return;  // a later round has it
        this.rooms.delete(room.id);
        room.left(`rejoin failed: ${err.message}`);
      });
      rejoins.push(rejoin);
    }
    return rejoins;
  }

  /** @internal */
  protected dropRooms(reason: string): void {
    const rooms = [...this.rooms.values()];
    this.rooms.clear();
    for (const { room } of rooms) room.left(reason);
  }

  private joinRequest(body: NonNullable<EnvelopeInit>["body"], options: Uint8Array, ops?: RoomOps<OpMap>): Promise<Room<any>> {
    return this.call({ body }, (reply) => {
      if (reply.body.case !== "roomJoined") throw new CraftError("BAD_REPLY", "expected room_joined");
      const room: Room<any> = new Room(this, reply.body.value, ops);
      this.rooms.set(room.id, { room, options });
      setTimeout(() => room.announceState(), 0);  // after the caller's await registered its listeners
      return room;
    });
  }
}
