// Envelope <-> WebSocket message, in either of the protocol's two encodings.
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { type Envelope, EnvelopeSchema } from "./gen/craft_pb.js";

export type Format = "binary" | "json";
export type EnvelopeInit = Parameters<typeof create<typeof EnvelopeSchema>>[1];

export function makeEnvelope(init: EnvelopeInit): Envelope {
  return create(EnvelopeSchema, init);
}

export function encodeEnvelope(envelope: Envelope, format: Format): Uint8Array | string {
  return format === "json" ? toJsonString(EnvelopeSchema, envelope) : toBinary(EnvelopeSchema, envelope);
}

export function decodeEnvelope(data: ArrayBuffer | Uint8Array | string): Envelope {
  if (typeof data === "string") return fromJsonString(EnvelopeSchema, data, { ignoreUnknownFields: true });
  return fromBinary(EnvelopeSchema, data instanceof Uint8Array ? data : new Uint8Array(data));
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Bytes to send: Uint8Array as is, a string as UTF-8, anything else as JSON text. */
export function toBytes(data: Uint8Array | string | object | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array();
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return encoder.encode(data);
  return encoder.encode(JSON.stringify(data));
}

/** UTF-8 text of a message's data. */
export function decodeText(data: Uint8Array): string {
  return decoder.decode(data);
}

/** JSON of a message's data (chat messages, movement2d snapshots, ...). */
export function decodeJson<T = any>(data: Uint8Array): T {
  return JSON.parse(decoder.decode(data)) as T;
}
