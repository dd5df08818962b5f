// A live room list (docs/protocol.md §4.17): lobby_subscribe answers with the first page,
// then lobby_update messages (at most every lobby.update_interval_ms) keep it current.
import type { LobbyUpdate } from "./gen/craft_pb.js";
import { Emitter } from "./emitter.js";
import { type RoomInfo, type RoomQuery, roomInfoOf } from "./values.js";

/** What client.subscribeLobby takes besides the room type. */
export interface LobbyOptions extends RoomQuery {
  /** First page size; 0 or absent = the server's rooms.max_list_results. */
  limit?: number;
}

/** The events of a Lobby, for lobby.on(event, handler). Each update's events come in this order. */
export interface LobbyEvents {
  /** The list was replaced (the first page, or after a reconnect): lobby.rooms is the whole list. */
  reset: Map<string, RoomInfo>;
  /** A room now passes the filter. */
  add: RoomInfo;
  /** A room in the list changed (clients, metadata, label...). */
  update: RoomInfo;
  /** A room is gone or no longer passes the filter; the last RoomInfo the list had for it. */
  remove: RoomInfo;
  /** The subscription is over (unsubscribe(), or the client closed); the list stays as it was. */
  ended: void;
}

/** What a Lobby needs from its Client. */
export interface LobbyTransport {
  unsubscribeLobby(lobby: Lobby): Promise<void>;
}

/**
 * A lobby subscription: `rooms` is the live list (Map by room id, in the order the server
 * sent them), kept current by the server's updates. Get one from client.subscribeLobby().
 */
export class Lobby extends Emitter<LobbyEvents> {
  /** The server's subscription number (it changes if the client resubscribes after a new session). */
  subscription = 0;
  readonly rooms = new Map<string, RoomInfo>();
  /** The subscription is over. */
  ended = false;

  /** @internal */
  constructor(
    private readonly transport: LobbyTransport,
    readonly type: string,
    readonly options: LobbyOptions,
  ) {
    super();
  }

  /** Ends the subscription (lobby_unsubscribe); resolves when the server confirmed it. */
  async unsubscribe(): Promise<void> {
    if (this.ended) return;
    await this.transport.unsubscribeLobby(this);
  }

  /** @internal: applies one lobby_update (a reset replaces the list; else added, updated, removed, in that order). */
  apply(u: LobbyUpdate): void {
    if (this.ended) return;
    if (u.reset) {
      this.rooms.clear();
      for (const r of u.added) this.rooms.set(r.roomId, roomInfoOf(r));
      for (const r of u.updated) this.rooms.set(r.roomId, roomInfoOf(r));
      for (const id of u.removed) this.rooms.delete(id);
      this.emit("reset", this.rooms);
    } else {
      for (const r of u.added) {
        const info = roomInfoOf(r);
        this.rooms.set(info.roomId, info);
        this.emit("add", info);
      }
      for (const r of u.updated) {
        const info = roomInfoOf(r);
        const had = this.rooms.has(info.roomId);
        this.rooms.set(info.roomId, info);
        this.emit(had ? "update" : "add", info);
      }
      for (const id of u.removed) {
        const info = this.rooms.get(id);
        if (!info) continue;
        this.rooms.delete(id);
        this.emit("remove", info);
      }
    }
    if (u.ended) this.end();
  }

  /** @internal */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.emit("ended", undefined);
  }
}
