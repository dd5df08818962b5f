// Matchmaker tickets (docs/protocol.md §4.18, docs/matchmaking.md): add a ticket, and the
// server finds other tickets whose queries it passes; "match" then tells the room and the
// seat reservation to join it with (client.joinMatch).
import type { Envelope, MatchFound as MatchFoundMessage, MatchmakerTicketEnded } from "./gen/craft_pb.js";
import type { EnvelopeInit } from "./codec.js";
import { CraftError } from "./errors.js";
import { Emitter } from "./emitter.js";

/** What client.matchmaker.add takes (proto MatchmakerAdd). */
export interface TicketOptions {
  /** Properties the other tickets' queries look at. */
  stringProperties?: Record<string, string>;
  numericProperties?: Record<string, number>;
  /** Over the other tickets' properties (docs/matchmaking.md); "" or absent = anyone. */
  query?: string;
  /** Players in the match, parties counted in full; absent = 2. */
  minCount?: number;
  /** Absent = minCount. */
  maxCount?: number;
  /** The match's player count is a multiple of this; absent = 1. */
  countMultiple?: number;
  /** Queue your whole party as one ticket (you must be its leader). */
  partyId?: string;
}

export interface MatchedPlayer {
  sessionId: string;
  name: string;
  accountId: string;
  stringProperties: Record<string, string>;
  numericProperties: Record<string, number>;
  /** "" unless the player came with a party. */
  partyId: string;
}

/** A match (proto MatchFound): pass it to client.joinMatch within reservationTtlMs. */
export interface MatchFound {
  ticket: string;
  matchId: string;
  roomId: string;
  roomType: string;
  /** One-time, for this session only. */
  reservation: string;
  /** How long the reservation holds the seat, in milliseconds from when the server sent it. */
  reservationTtlMs: number;
  /**
   * In a cluster, the client URL of the node holding the room when it is not the node this
   * session is connected to (match_found.room_url); "" otherwise. client.joinMatch uses it.
   */
  roomUrl: string;
  players: MatchedPlayer[];
}

/** A ticket that left the pool without a match. */
export interface TicketEnded {
  ticket: string;
  /** "cancelled", "session ended", "party changed", "room failed". */
  reason: string;
}

export interface MatchmakerEvents {
  /** Matched (match_found): join with client.joinMatch(match). The ticket is done. */
  match: MatchFound;
  /** A ticket left the pool unmatched (also after remove()). */
  ticketEnded: TicketEnded;
}

/** How the matchmaker and parties send requests through their Client. */
export type Call = <T>(init: EnvelopeInit, settle: (e: Envelope) => T) => Promise<T>;

export function matchOf(m: MatchFoundMessage): MatchFound {
  return {
    ticket: m.ticket, matchId: m.matchId, roomId: m.roomId, roomType: m.roomType, reservation: m.reservation,
    reservationTtlMs: m.reservationTtlMs, roomUrl: m.roomUrl,
    players: m.players.map((p) => ({
      sessionId: p.presence?.sessionId.toString() ?? "0", name: p.presence?.name ?? "", accountId: p.presence?.accountId ?? "",
      stringProperties: { ...p.stringProperties }, numericProperties: { ...p.numericProperties }, partyId: p.partyId,
    })),
  };
}

/** client.matchmaker: tickets of this session (the server allows matchmaker.max_tickets_per_session, 3 by default). */
export class Matchmaker extends Emitter<MatchmakerEvents> {
  /** Tickets in the pool (added, neither matched nor ended yet). */
  readonly tickets = new Set<string>();

  /** @internal */
  constructor(private readonly call: Call) {
    super();
  }

  /**
   * Submits a ticket; resolves with its id. Rejects with BAD_REQUEST (a bad query or counts),
   * LIMIT_REACHED (too many tickets for this session, or the pool is full).
   */
  add(t: TicketOptions = {}): Promise<string> {
    const value = {
      stringProperties: t.stringProperties ?? {}, numericProperties: t.numericProperties ?? {}, query: t.query ?? "",
      minCount: t.minCount ?? 0, maxCount: t.maxCount ?? 0, countMultiple: t.countMultiple ?? 0, partyId: t.partyId ?? "",
    };
    return this.call({ body: { case: "matchmakerAdd", value } }, (e) => {
      if (e.body.case !== "matchmakerTicket") throw new CraftError("BAD_REPLY", "expected matchmaker_ticket");
      this.tickets.add(e.body.value.ticket);
      return e.body.value.ticket;
    });
  }

  /** Cancels a ticket; resolves with the reason the server ended it ("cancelled"). A "ticketEnded" event fires too. */
  remove(ticket: string): Promise<string> {
    return this.call({ body: { case: "matchmakerRemove", value: { ticket } } }, (e) => {
      if (e.body.case !== "matchmakerTicketEnded") throw new CraftError("BAD_REPLY", "expected matchmaker_ticket_ended");
      this.ended(e.body.value);
      return e.body.value.reason;
    });
  }

  /** @internal */
  matched(m: MatchFoundMessage): void {
    this.tickets.delete(m.ticket);
    this.emit("match", matchOf(m));
  }
  /** @internal */
  ended(t: MatchmakerTicketEnded): void {
    this.tickets.delete(t.ticket);
    this.emit("ticketEnded", { ticket: t.ticket, reason: t.reason });
  }
  /** @internal: the session is gone; so are its tickets. */
  dropAll(reason: string): void {
    for (const ticket of [...this.tickets]) this.ended({ ticket, reason } as MatchmakerTicketEnded);
  }
}
