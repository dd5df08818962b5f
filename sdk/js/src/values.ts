// Typed values (proto craft.v1.Value: room metadata, properties, filters) as plain JS values,
// and the listing shapes built on them: RoomInfo, RoomFilter, RoomSort.
import type {
  Condition as ConditionMessage, RoomFilter as RoomFilterMessage, RoomInfo as RoomInfoMessage,
  RoomSort as RoomSortMessage, Value,
} from "./gen/craft_pb.js";
import { create } from "@bufbuild/protobuf";
import { ConditionSchema, RoomFilterSchema, RoomSortSchema, ValueSchema } from "./gen/craft_pb.js";

/** A metadata, property or filter value: Value{text | number | boolean} on the wire. Numbers are finite doubles. */
export type PlainValue = string | number | boolean;
/** Metadata and properties: key -> value. */
export type PlainValues = Record<string, PlainValue>;

/** A plain value as a wire Value. Throws TypeError for anything else (NaN and Infinity too: the server refuses them). */
export function toValue(v: PlainValue): Value {
  switch (typeof v) {
    case "string":
      return create(ValueSchema, { kind: { case: "text", value: v } });
    case "boolean":
      return create(ValueSchema, { kind: { case: "boolean", value: v } });
    case "number":
      if (!Number.isFinite(v)) throw new TypeError(`not a finite number: ${v}`);
      return create(ValueSchema, { kind: { case: "number", value: v } });
    default:
      throw new TypeError(`a value is a string, a finite number or a boolean, not ${v === null ? "null" : typeof v}`);
  }
}

/** A wire Value as a plain value; undefined for a Value with no kind set (the server never sends one). */
export function fromValue(v: Value | undefined): PlainValue | undefined {
  return v?.kind.case === undefined ? undefined : v.kind.value;
}

/**
 * obj[key] = v as an own property, whatever the key: a key like "__proto__" (other players
 * choose keys) must not reach the prototype.
 */
export function setOwn<T>(obj: Record<string, T>, key: string, v: T): void {
  Object.defineProperty(obj, key, { value: v, enumerable: true, writable: true, configurable: true });
}

/** A wire map<string, Value> as a plain object (a fresh one, without a prototype's keys in the way). */
export function fromValues(map: { [key: string]: Value }): PlainValues {
  const out: PlainValues = {};
  for (const [k, v] of Object.entries(map)) {
    const plain = fromValue(v);
    if (plain !== undefined) setOwn(out, k, plain);
  }
  return out;
}

/** A listed room (room_list, lobby subscriptions). */
export interface RoomInfo {
  roomId: string;
  type: string;
  clients: number;
  maxClients: number;
  label: string;
  locked: boolean;
  /** Set by the room's code (and its type's filter keys); what filters and sorts look at. */
  metadata: PlainValues;
}

export function roomInfoOf(r: RoomInfoMessage): RoomInfo {
  return {
    roomId: r.roomId, type: r.type, clients: r.clients, maxClients: r.maxClients, label: r.label, locked: r.locked,
    metadata: fromValues(r.metadata),
  };
}

/** A numeric range (inclusive); either end may be left out. */
export interface Range {
  min?: number;
  max?: number;
}
/** One condition: a plain value (must equal it: same kind and value), a range, or both. */
export type ConditionSpec = PlainValue | (Range & { equals?: PlainValue });

/**
 * Which rooms a listing, a lobby subscription or joinOrCreate considers (proto RoomFilter).
 * Every condition must hold; a room without the key fails it. Keys are metadata keys, or
 * "clients" / "max_clients". Locked and private rooms are never listed.
 *
 *   { where: { mode: "ctf", level: { min: 3, max: 5 } }, freeSeats: true }
 */
export interface RoomFilter {
  where?: Record<string, ConditionSpec | ConditionSpec[]>;
  /** Only rooms with clients < maxClients. */
  freeSeats?: boolean;
}

/** A sort key: "clients", "max_clients", "created" or a metadata key; "-key" sorts descending. */
export type SortSpec = string | { key: string; descending?: boolean };

function conditionOf(key: string, c: ConditionSpec): ConditionMessage {
  if (typeof c !== "object" || c === null) return create(ConditionSchema, { key, equals: toValue(c) });
  const out = create(ConditionSchema, { key });
  if (c.equals !== undefined) out.equals = toValue(c.equals);
  for (const end of ["min", "max"] as const) {
    const n = c[end];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isFinite(n)) throw new TypeError(`filter ${key}.${end}: not a finite number`);
    out[end] = n;
  }
  if (out.equals === undefined && out.min === undefined && out.max === undefined) {
    throw new TypeError(`filter ${key}: give a value, equals, min or max`);
  }
  return out;
}

export function filterOf(f: RoomFilter | undefined): RoomFilterMessage | undefined {
  if (f === undefined) return undefined;
  const conditions: ConditionMessage[] = [];
  for (const [key, spec] of Object.entries(f.where ?? {})) {
    for (const c of Array.isArray(spec) ? spec : [spec]) conditions.push(conditionOf(key, c));
  }
  return create(RoomFilterSchema, { conditions, freeSeats: !!f.freeSeats });
}

export function sortOf(s: SortSpec | SortSpec[] | undefined): RoomSortMessage[] {
  if (s === undefined) return [];
  return (Array.isArray(s) ? s : [s]).map((k) =>
    typeof k === "string"
      ? create(RoomSortSchema, k.startsWith("-") ? { key: k.slice(1), descending: true } : { key: k })
      : create(RoomSortSchema, { key: k.key, descending: !!k.descending }));
}

/** What a room listing, a lobby subscription and joinOrCreate take besides the type. */
export interface RoomQuery {
  filter?: RoomFilter;
  /** Default: oldest first. Rooms without a key sort last; ties keep creation order. */
  sort?: SortSpec | SortSpec[];
}
