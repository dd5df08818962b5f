// Parties (docs/protocol.md §4.19): a group that stays together across rooms and queues for
// the matchmaker as one ticket. Every change sends every member the whole party ("state").
import type { Envelope, PartyState as PartyStateMessage, Presence as PresenceMessage } from "./gen/craft_pb.js";
import { toBytes } from "./codec.js";
import { Emitter } from "./emitter.js";
import type { Call } from "./matchmaker.js";
import type { Presence } from "./room.js";

const presenceOf = (p: PresenceMessage | undefined): Presence =>
  ({ sessionId: p ? p.sessionId.toString() : "0", name: p?.name ?? "", accountId: p?.accountId ?? "" });

/** A party as it is now (proto PartyState). */
export interface PartyState {
  partyId: string;
  /** The leader's session id. */
  leader: string;
  /** Anyone with the id may join; else the leader accepts requests. */
  open: boolean;
  maxSize: number;
  members: Presence[];
  /** Sessions waiting for the leader to accept them (closed parties). */
  requests: Presence[];
  /** The party's matchmaker ticket, "" when not queued. */
  ticket: string;
}

export interface PartyInvitation {
  partyId: string;
  /** The leader who invited you. */
  from: Presence;
}

export interface PartyMessage {
  partyId: string;
  op: number;
  data: Uint8Array;
  /** The sender's session id. */
  sender: string;
}

export interface PartyEvents {
  /** A party you are in changed (or you joined it): the whole party. */
  state: PartyState;
  /** A leader invited you: client.parties.join(partyId) accepts. */
  invitation: PartyInvitation;
  /** A member sent data to the party (client.parties.send). */
  data: PartyMessage;
  /** You are no longer in the party: "left", "kicked", "session ended". */
  left: { partyId: string; reason: string };
}

export function partyStateOf(s: PartyStateMessage): PartyState {
  return {
    partyId: s.partyId, leader: s.leader.toString(), open: s.open, maxSize: s.maxSize,
    members: s.members.map(presenceOf), requests: s.requests.map(presenceOf), ticket: s.ticket,
  };
}

/**
 * client.parties: the parties this session is in (by id), their requests and events.
 * The calls resolve with the party's state when the server answers with it (undefined when
 * it answers otherwise, e.g. a join request to a closed party), and reject with the server's
 * CraftError: NOT_FOUND (no such party), PARTY_FULL, PERMISSION_DENIED (not the leader, a
 * closed party without an invitation...), LIMIT_REACHED (party.max_requests), BAD_REQUEST.
 */
export class Parties extends Emitter<PartyEvents> {
  /** The parties you are in (or asked to join: you are in `requests`), by id, as of their last "state". */
  readonly parties = new Map<string, PartyState>();

  /** @internal */
  constructor(
    private readonly call: Call,
    private readonly sendEnvelope: (body: { case: "partyData"; value: { partyId: string; op: number; data: Uint8Array } }) => void,
  ) {
    super();
  }

  /** Creates a party led by you. maxSize: absent = party.max_size (8 by default); more is refused. */
  create(opts: { open?: boolean; maxSize?: number } = {}): Promise<PartyState | undefined> {
    return this.request({ case: "partyCreate", value: { open: !!opts.open, maxSize: opts.maxSize ?? 0 } });
  }
  /** Joins an open party or one that invited you; to a closed one it is a request the leader sees. */
  join(partyId: string): Promise<PartyState | undefined> {
    return this.request({ case: "partyJoin", value: { partyId } });
  }
  /** Leaves; a "left" event follows (or comes as the answer). */
  async leave(partyId: string): Promise<void> {
    await this.request({ case: "partyLeave", value: { partyId } });
  }
  /** Leader: makes another member leader. */
  promote(partyId: string, sessionId: string): Promise<PartyState | undefined> {
    return this.request({ case: "partyPromote", value: { partyId, sessionId: BigInt(sessionId) } });
  }
  /** Leader: removes a member or a pending request. */
  kick(partyId: string, sessionId: string): Promise<PartyState | undefined> {
    return this.request({ case: "partyKick", value: { partyId, sessionId: BigInt(sessionId) } });
  }
  /** Leader: accepts a join request. */
  accept(partyId: string, sessionId: string): Promise<PartyState | undefined> {
    return this.request({ case: "partyAccept", value: { partyId, sessionId: BigInt(sessionId) } });
  }
  /** Leader: invites a session (it gets an "invitation" event). */
  invite(partyId: string, sessionId: string): Promise<PartyState | undefined> {
    return this.request({ case: "partyInvite", value: { partyId, sessionId: BigInt(sessionId) } });
  }
  /** Game data to every other party member (a "data" event there, sender = you); a string as UTF-8, an object as JSON. No reply. */
  send(partyId: string, op: number, data?: Uint8Array | string | object): void {
    this.sendEnvelope({ case: "partyData", value: { partyId, op, data: toBytes(data) } });
  }

  private request(body: { case: string; value: object }): Promise<PartyState | undefined> {
    return this.call({ body } as never, (e) => {
      this.handle(e);
      return e.body.case === "partyState" ? partyStateOf(e.body.value) : undefined;
    });
  }

  /** @internal: a party message, an answer or not. True when it was one. */
  handle(e: Envelope): boolean {
    const b = e.body;
    switch (b.case) {
      case "partyState": {
        const s = partyStateOf(b.value);
        this.parties.set(s.partyId, s);
        this.emit("state", s);
        return true;
      }
      case "partyInvite":
        this.emit("invitation", { partyId: b.value.partyId, from: presenceOf(b.value.from) });
        return true;
      case "partyData":
        this.emit("data", { partyId: b.value.partyId, op: b.value.op, data: b.value.data, sender: b.value.sender.toString() });
        return true;
      case "partyLeft":
        this.parties.delete(b.value.partyId);
        this.emit("left", { partyId: b.value.partyId, reason: b.value.reason });
        return true;
    }
    return false;
  }
  /** @internal: the session is gone; so are its parties. */
  dropAll(reason: string): void {
    for (const partyId of [...this.parties.keys()]) {
      this.parties.delete(partyId);
      this.emit("left", { partyId, reason });
    }
  }
}
