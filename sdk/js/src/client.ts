// The craft client: rooms over one Connection (connection.ts: socket, requests, keep-alive,
// resume and reconnect). After a lost session is replaced by a new one, the client rejoins
// each room by id with its original join options, keeping the Room objects and listeners.
// In a cluster (docs/cluster.md) a join may be answered with room_redirect: the room lives on
// another node, and the client joins it there over a connection of its own to that node
// (one per node, made on first use, closed when its last room is left).
import type { Envelope, RoomRedirect } from "./gen/craft_pb.js";
import { type EnvelopeInit, makeEnvelope, toBytes } from "./codec.js";
import { CraftError } from "./errors.js";
import type { OpMap, RoomOps } from "./ops.js";
import { type RawRoom, Room, type RoomTransport } from "./room.js";
import { Connection } from "./connection.js";
import { Lobby, type LobbyOptions } from "./lobby.js";
import { type MatchFound, Matchmaker } from "./matchmaker.js";
import { Parties } from "./party.js";
import { type RoomInfo, type RoomQuery, filterOf, roomInfoOf, sortOf } from "./values.js";

export type { ClientOptions, ReconnectOptions, ClientEvents, ClientEvent, ConnectionState } from "./connection.js";

export type { RoomInfo } from "./values.js";

/** What listRooms takes besides the type: a filter, a sort and a page. */
export interface ListOptions extends RoomQuery {
  /** Rooms to skip (pagination). */
  offset?: number;
  /** Page size; 0 or absent = the server's rooms.max_list_results, and more is cut to it. */
  limit?: number;
}
/** A page of rooms; more: rooms past offset + limit pass the filter too. */
export type RoomList = RoomInfo[] & { more: boolean };

/** The last argument of the join calls. */
export interface JoinOptions<Ops extends OpMap> {
  /** The room's typed message map, from ops<Ops>(codecs?): send and onMessage are checked against it. */
  ops: RoomOps<Ops>;
}
/** joinOrCreate's last argument: which room to pick (filter, sort), and optionally the room's ops. */
export type JoinOrCreateOptions<Ops extends OpMap> = RoomQuery & Partial<JoinOptions<Ops>>;

interface RoomEntry {
  room: Room<any>;
  /** The join options it was joined (or created) with, sent again when it is rejoined. */
  options: Uint8Array;
}

/** What joinMatch needs of a match: its room, its reservation, and in a cluster the room's node URL ("" = this node). */
type MatchSeat = Pick<MatchFound, "roomId" | "reservation"> & { roomUrl?: string; url?: string };

const optionsText = (o?: string | object) => (o === undefined ? new Uint8Array() : toBytes(o));
/** Reconnect attempts of a connection to another node before its rooms count as lost (reconnect.nodeMaxAttempts). */
const NODE_MAX_ATTEMPTS = 6;

export class Client extends Connection implements RoomTransport {
  private readonly rooms = new Map<string, RoomEntry>();
  /** Connections to other nodes of a cluster, by URL (on the home client only). */
  private readonly nodeClients = new Map<string, Client>();
  private readonly nodeReady = new Map<string, Promise<void>>();
  /** On a node connection: the client whose joins it serves. */
  private home?: Client;
  /** Joins under way on this connection: a node connection is not closed under them. */
  private joining = 0;
  /** close() was called: the rooms it drops are not "lost". */
  private closing = false;
  private readonly lobbies = new Map<number, Lobby>();
  /** Matchmaker tickets of this session, and the "match" / "ticketEnded" events. */
  readonly matchmaker = new Matchmaker((init, settle) => this.call(init, settle));
  /** Parties of this session: create, join, leave..., and the "state" / "invitation" / "data" / "left" events. */
  readonly parties = new Parties(
    (init, settle) => this.call(init, settle),
    (body) => this.send(makeEnvelope({ body })),
  );

  /**
   * Joins a room of this type with space, or creates one. options: the room's join options
   * (a string as UTF-8, an object as JSON; the type's filter keys are taken from them).
   * join.filter / join.sort: only a room passing the filter, the first in that order
   * (default: the oldest); none: a new one. join.ops: the room's typed message map.
   */
  joinOrCreate(type: string, options?: string | object, join?: RoomQuery): Promise<RawRoom>;
  joinOrCreate<Ops extends OpMap>(type: string, options: string | object | undefined, join: RoomQuery & JoinOptions<Ops>): Promise<Room<Ops>>;
  joinOrCreate(type: string, options?: string | object, join: JoinOrCreateOptions<OpMap> = {}): Promise<Room<any>> {
    const bytes = optionsText(options);
    const value = { type, options: bytes, filter: filterOf(join.filter), sort: sortOf(join.sort) };
    return this.joinRequest({ case: "roomJoinOrCreate", value }, bytes, join.ops);
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

  /**
   * Joins the room of a match (the "match" event of client.matchmaker) with its seat
   * reservation. Rejects with RESERVATION_INVALID when it is unknown, used, expired (past
   * reservationTtlMs) or another session's.
   */
  joinMatch(match: MatchSeat, options?: string | object): Promise<RawRoom>;
  joinMatch<Ops extends OpMap>(match: MatchSeat, options: string | object | undefined, join: JoinOptions<Ops>): Promise<Room<Ops>>;
  async joinMatch(match: MatchSeat, options?: string | object, join?: JoinOptions<OpMap>): Promise<Room<any>> {
    const bytes = optionsText(options);
    // In a cluster the match's room may be on another node (match_found.room_url): joined over
    // that node's connection.
    const url = match.roomUrl || match.url;
    const node = url ? await this.nodeFor(url) : this;
    return node.joinRequest({ case: "roomJoin", value: { roomId: match.roomId, options: bytes, reservation: match.reservation } }, bytes, join?.ops);
  }

  /**
   * Lists public rooms (type "" = every type) that pass opts.filter, in opts.sort order
   * (default: oldest first), from opts.offset, at most opts.limit. The array's `more` tells
   * whether rooms past this page pass the filter too.
   */
  async listRooms(type = "", opts: ListOptions = {}): Promise<RoomList> {
    const value = { type, filter: filterOf(opts.filter), sort: sortOf(opts.sort), offset: opts.offset ?? 0, limit: opts.limit ?? 0 };
    const reply = await this.request({ body: { case: "roomList", value } });
    if (reply.body.case !== "roomListResult") throw new CraftError("BAD_REPLY", "expected room_list_result");
    return Object.assign(reply.body.value.rooms.map(roomInfoOf), { more: reply.body.value.more });
  }

  /**
   * A live list of the public rooms of a type that pass opts.filter (lobby_subscribe): the
   * returned Lobby has the first page (opts.limit rooms at most) in lobby.rooms, then "add",
   * "update" and "remove" events as rooms change (batched by the server, at most every
   * lobby.update_interval_ms). Rejects with LIMIT_REACHED past
   * lobby.max_subscriptions_per_session, BAD_REQUEST without a type. After a lost session
   * is replaced by a new one the client subscribes again, and the lobby gets a "reset".
   */
  subscribeLobby(type: string, opts: LobbyOptions = {}): Promise<Lobby> {
    const lobby = new Lobby(this, type, opts);
    return this.call(this.lobbySubscribe(lobby), (e) => this.lobbyAnswer(lobby, e));
  }

  /** @internal LobbyTransport */
  async unsubscribeLobby(lobby: Lobby): Promise<void> {
    const subscription = lobby.subscription;
    try {
      await this.call({ body: { case: "lobbyUnsubscribe", value: { subscription } } }, (e) => {
        if (e.body.case === "lobbyUpdate") lobby.apply(e.body.value);
      });
    } catch (err) {
      if (!(err instanceof CraftError && err.code === "CONNECTION_LOST")) throw err;
    }
    if (this.lobbies.get(subscription) === lobby) this.lobbies.delete(subscription);
    lobby.end();
  }

  /** @internal RoomTransport */
  setProperties(init: EnvelopeInit): Promise<Envelope> {
    return this.call(init, (e) => {
      if (e.body.case === "propertiesChanged") this.rooms.get(e.body.value.roomId)?.room.answered(e);
      return e;
    });
  }

  /** @internal RoomTransport */
  sendRoomData(roomId: string, op: number, data: Uint8Array, targets: string[], stateAck = 0): void {
    this.send(makeEnvelope({ body: { case: "roomData", value: { roomId, op, data, targets: targets.map(BigInt), stateAck } } }));
  }
  /** @internal RoomTransport */
  sendStateAck(roomId: string, tick: number): void {
    this.send(makeEnvelope({ body: { case: "stateAck", value: { roomId, tick } } }));
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
    this.retireIfIdle();
  }

  /**
   * The connections this client holds to other nodes of a cluster, by URL: each carries the
   * rooms that live on that node (see "Clusters" in the README). Empty on a single server.
   */
  get nodes(): ReadonlyMap<string, Client> {
    return this.nodeClients;
  }

  /** Says goodbye on this connection and on every connection to another node. */
  override async close(): Promise<void> {
    this.closing = true;
    const nodes = [...this.nodeClients.values()];
    this.nodeClients.clear();
    this.nodeReady.clear();
    await Promise.all([super.close(), ...nodes.map((n) => n.close())]);
  }

  override connect(): ReturnType<Connection["connect"]> {
    this.closing = false;
    return super.connect();
  }

  /** @internal */
  protected dispatch(e: Envelope): void {
    const body = e.body;
    switch (body.case) {
      case "lobbyUpdate": {
        const lobby = this.lobbies.get(body.value.subscription);
        lobby?.apply(body.value);
        if (lobby?.ended) this.lobbies.delete(body.value.subscription);
        return;
      }
      case "matchFound":
        this.matchmaker.matched(body.value);
        return;
      case "matchmakerTicketEnded":
        this.matchmaker.ended(body.value);
        return;
      case "propertiesChanged":
        this.rooms.get(body.value.roomId)?.room.handle(e);
        return;
    }
    if (this.parties.handle(e)) return;
    const roomId =
      body.case === "roomData" || body.case === "presence" || body.case === "roomLeft" ||
      body.case === "stateSchema" || body.case === "stateSnapshot"
        ? body.value.roomId
        : undefined;
    if (roomId === undefined) return;
    if (body.case === "stateSnapshot" && roomId === "" && body.value.roomHandle !== 0) {
      // hello.room_handles: the room by its handle (a session is in a few rooms at most).
      for (const { room } of this.rooms.values()) if (room.roomHandle === body.value.roomHandle) return room.handle(e);
      return;
    }
    this.rooms.get(roomId)?.room.handle(e);
    if (body.case === "roomLeft") {
      this.rooms.delete(roomId);
      this.retireIfIdle();
    }
  }

  /** @internal */
  protected rejoinRooms(): Promise<unknown>[] {
    const round = this.rejoinRound;
    const rejoins: Promise<unknown>[] = [];
    // The old session's tickets and parties ended with it; its lobby subscriptions are made again.
    this.matchmaker.dropAll("session ended");
    this.parties.dropAll("session ended");
    const lobbies = [...this.lobbies.values()];
    this.lobbies.clear();
    for (const lobby of lobbies) {
      rejoins.push(this.call(this.lobbySubscribe(lobby), (e) => this.lobbyAnswer(lobby, e)).catch((err: Error) => {
        lobby.end();
        this.emit("error", err instanceof CraftError ? err : new CraftError("BAD_REPLY", err.message));
      }));
    }
    for (const entry of this.rooms.values()) {
      const { room, options } = entry;
      // A new session (perhaps a restarted server, which numbers rooms from 1 again): the old
      // handle could name another room now, so no snapshot goes by it until room_joined.
      room.roomHandle = 0;
      if (room.leaving) continue;  // its leave() settles it
      const rejoin = this.call({ body: { case: "roomJoin", value: { roomId: room.id, options } } }, (e) => {
        if (e.body.case !== "roomJoined") throw new CraftError("BAD_REPLY", "expected room_joined");
        if (round === this.rejoinRound) room.rejoined(e.body.value);
      }).catch((err: Error) => {
        if (round !== this.rejoinRound || this.rooms.get(room.id) !== entry) return;  // a later round has it
        this.rooms.delete(room.id);
        const reason = `rejoin failed: ${err.message}`;
        room.left(reason);
        // One event for every room the game lost, wherever it was: a node that restarted
        // without it, or (home connection behind a load balancer) a dead node whose players
        // landed on another node, where a new session finds the room gone.
        (this.home ?? this).emit("roomsLost", { url: this.url, roomIds: [room.id], reason });
        this.retireIfIdle();
      });
      rejoins.push(rejoin);
    }
    return rejoins;
  }

  /** @internal */
  protected dropRooms(reason: string): void {
    const rooms = [...this.rooms.values()];
    this.rooms.clear();
    const home = this.home;
    if (home && !this.closing) {
      // A node connection given up on (the node is gone): its rooms are lost, not left.
      reason = "node lost";
      if (home.nodeClients.get(this.url) === this) {
        home.nodeClients.delete(this.url);
        home.nodeReady.delete(this.url);
      }
      if (rooms.length > 0) home.emit("roomsLost", { url: this.url, roomIds: rooms.map((r) => r.room.id), reason });
    }
    for (const { room } of rooms) room.left(reason);
    const lobbies = [...this.lobbies.values()];
    this.lobbies.clear();
    for (const lobby of lobbies) lobby.end();
    this.matchmaker.dropAll("session ended");
    this.parties.dropAll("session ended");
  }

  private lobbySubscribe(lobby: Lobby): EnvelopeInit {
    const { filter, sort, limit } = lobby.options;
    return { body: { case: "lobbySubscribe", value: { type: lobby.type, filter: filterOf(filter), sort: sortOf(sort), limit: limit ?? 0 } } };
  }

  /** The first lobby_update (reset, cid echoed): the lobby is registered before any later update is read. */
  private lobbyAnswer(lobby: Lobby, e: Envelope): Lobby {
    if (e.body.case !== "lobbyUpdate") throw new CraftError("BAD_REPLY", "expected lobby_update");
    lobby.subscription = e.body.value.subscription;
    this.lobbies.set(lobby.subscription, lobby);
    lobby.apply(e.body.value);
    return lobby;
  }

  private async joinRequest(body: NonNullable<EnvelopeInit>["body"], options: Uint8Array, ops?: RoomOps<OpMap>,
                            redirected = false): Promise<Room<any>> {
    this.joining++;
    let answer: Room<any> | RoomRedirect;
    try {
      answer = await this.call({ body }, (reply) => {
        // The room lives on another node: joined there (below), with the seat reserved for us.
        if (reply.body.case === "roomRedirect") return reply.body.value;
        if (reply.body.case !== "roomJoined") throw new CraftError("BAD_REPLY", "expected room_joined");
        const room: Room<any> = new Room(this, reply.body.value, ops);
        this.rooms.set(room.id, { room, options });
        setTimeout(() => room.announceState(), 0);  // after the caller's await registered its listeners
        return room;
      });
    } finally {
      this.joining--;
    }
    if (answer instanceof Room) return answer;
    this.retireIfIdle();
    const redirect = answer;
    // One hop: the room's node holds the room, so a join with its reservation that is sent
    // on again means a node advertises another's URL (cluster.advertise); following it would
    // loop, taking a seat of the room each time until it is full.
    if (redirected) {
      throw new CraftError("BAD_REPLY", `redirected again to ${redirect.url} (node ${redirect.node}): check cluster.advertise`);
    }
    const node = await (this.home ?? this).nodeFor(redirect.url);
    const value = { roomId: redirect.roomId, options, reservation: redirect.reservation };
    return node.joinRequest({ case: "roomJoin", value }, options, ops, true);
  }

  /** The connection to the node at `url` (this one for "" or our own URL), connected with our token. */
  private async nodeFor(url: string): Promise<Client> {
    if (url === "" || url === this.url) return this;
    let node = this.nodeClients.get(url);
    if (!node) {
      const r = this.options.reconnect ?? {};
      const n: Client = new Client(url, {
        ...this.options, token: this.token,
        reconnect: { ...r, maxAttempts: r.nodeMaxAttempts ?? NODE_MAX_ATTEMPTS },
      });
      n.home = this;
      n.on("error", (e) => this.emit("error", e));
      node = n;
      this.nodeClients.set(url, n);
      const ready = n.connect().then(() => undefined, (e: Error) => {
        if (this.nodeClients.get(url) === n) {
          this.nodeClients.delete(url);
          this.nodeReady.delete(url);
        }
        throw e;
      });
      this.nodeReady.set(url, ready);
    }
    const n = node;
    n.joining++;  // not retired while we wait for its welcome
    try {
      await this.nodeReady.get(url);
    } finally {
      n.joining--;
    }
    return n;
  }

  /** A node connection without rooms or joins says goodbye (the home connection stays). */
  private retireIfIdle(): void {
    const home = this.home;
    if (!home || this.rooms.size > 0 || this.joining > 0 || this.closing) return;
    setTimeout(() => {
      if (this.rooms.size > 0 || this.joining > 0 || this.closing) return;
      if (home.nodeClients.get(this.url) === this) {
        home.nodeClients.delete(this.url);
        home.nodeReady.delete(this.url);
      }
      void this.close();
    }, 0);
  }
}
