// Typed room messages: a map from op (a number) to the payload type, and a codec per op.
//
//   type ChatOps = { 1: SendReceive<string, ChatLine> };     // send text, receive JSON lines
//   const room = await client.joinOrCreate("chat", undefined, { ops: ops<ChatOps>() });
//   room.send(1, "hi");                                      // checked: a string
//   room.onMessage(1, (line) => line.text);                  // line: ChatLine
//
// A Room without `ops` is a RawRoom: it sends Uint8Array / string / object and hands handlers
// the bytes, as before.
import { toBytes } from "./codec.js";

declare const directions: unique symbol;

/**
 * An op whose two directions carry different types: what `room.send` takes (Send) and what
 * `room.onMessage` hands the handler (Receive). An op mapped to any other type T carries T
 * both ways.
 */
export interface SendReceive<Send, Receive> {
  readonly [directions]: { send: Send; receive: Receive };
}

/** A map from op to payload type: `{ 1: ChatLine, 2: SendReceive<Input, Ack> }`. */
export type OpMap = { [op: number]: unknown };

/** The ops of a map (its numeric keys). */
export type OpOf<Ops extends OpMap> = keyof Ops & number;
/** What `room.send(op, ...)` takes for an op. */
export type SendOf<T> = T extends SendReceive<infer S, unknown> ? S : T;
/** What `room.onMessage(op, ...)` hands the handler for an op. */
export type ReceiveOf<T> = T extends SendReceive<unknown, infer R> ? R : T;

/** Turns one op's payloads into bytes and back. Either half may be left out (the default takes it). */
export interface OpCodec<Send, Receive = Send> {
  encode?: (value: Send) => Uint8Array;
  /** Throwing refuses the message: the handlers do not run and the client emits "error" (BAD_MESSAGE). */
  decode?: (data: Uint8Array) => Receive;
}
/** A codec with both halves. */
export interface Codec<Send, Receive = Send> extends OpCodec<Send, Receive> {
  encode: (value: Send) => Uint8Array;
  decode: (data: Uint8Array) => Receive;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Ready-made codecs. */
export const codecs = {
  /** JSON text both ways (a string goes as a JSON string, quoted). */
  json: <T>(): Codec<T> => ({
    encode: (v: T) => encoder.encode(JSON.stringify(v)),
    decode: (d: Uint8Array) => JSON.parse(decoder.decode(d)) as T,
  }),
  /** UTF-8 text both ways (invalid UTF-8 is refused). */
  text: (): Codec<string> => ({ encode: (v: string) => encoder.encode(v), decode: (d: Uint8Array) => decoder.decode(d) }),
  /** The bytes as they are. */
  bytes: (): Codec<Uint8Array> => ({ encode: (v: Uint8Array) => v, decode: (d: Uint8Array) => d }),
};

/** The codec of every op of a typed room that has none of its own. */
export const defaultCodec: Codec<unknown, unknown> = {
  /** As `room.send` always did: a Uint8Array as is, a string as UTF-8, anything else as JSON. */
  encode: (v: unknown) => toBytes(v as Uint8Array | string | object | undefined),
  /** JSON text. */
  decode: (d: Uint8Array) => JSON.parse(decoder.decode(d)),
};

// Ops whose received type is bytes or text cannot take the default (JSON) decoder: their codec
// must have a decode. (A send-only op, SendReceive<T, never>, needs none.)
type NotJson<T> = [ReceiveOf<T>] extends [never] ? false : [ReceiveOf<T>] extends [Uint8Array | string] ? true : false;
type NeedsDecode<Ops extends OpMap> = { [K in OpOf<Ops>]: NotJson<Ops[K]> extends true ? K : never }[OpOf<Ops>];

/**
 * The per-op codecs of a typed room. Ops without one use defaultCodec; an op that receives a
 * string or a Uint8Array must have a decode (e.g. codecs.text(), codecs.bytes()).
 */
export type OpCodecMap<Ops extends OpMap> = {
  [K in Exclude<OpOf<Ops>, NeedsDecode<Ops>>]?: OpCodec<SendOf<Ops[K]>, ReceiveOf<Ops[K]>>;
} & {
  [K in NeedsDecode<Ops>]: OpCodec<SendOf<Ops[K]>, ReceiveOf<Ops[K]>> & { decode: (data: Uint8Array) => ReceiveOf<Ops[K]> };
};

/** The typed message map of a room, made by `ops<Ops>(codecs?)` and passed when joining. */
export interface RoomOps<Ops extends OpMap> {
  readonly codecs: OpCodecMap<Ops>;
  /** Carries the type only; never set. */
  readonly __ops?: Ops;
}

/**
 * Declares the messages of a room type: `ops<ChatOps>()` (every op JSON in, and out as
 * room.send always sent: string as UTF-8, objects as JSON) or with codecs for some ops:
 * `ops<GameOps>({ 1: codecs.bytes(), 2: { decode: parseSnapshot } })`.
 */
export function ops<Ops extends OpMap>(
  ...args: {} extends OpCodecMap<Ops> ? [codecs?: OpCodecMap<Ops>] : [codecs: OpCodecMap<Ops>]
): RoomOps<Ops> {
  return { codecs: args[0] ?? ({} as OpCodecMap<Ops>) };
}

/** What an untyped room sends and receives on every op: bytes out as they are, text as UTF-8, objects as JSON; bytes in. */
export type RawOps = { [op: number]: SendReceive<Uint8Array | string | object | undefined, Uint8Array> };

/** room.send's arguments for a payload type: the data may be left out only when it may be undefined. */
export type SendArgs<T> = undefined extends T ? [data?: T, targets?: string[]] : [data: T, targets?: string[]];
