// A hand-written protobuf codec for craft.v1.Envelope, from proto/craft.proto's field
// numbers, producing the same object shape as the JSON mapping (camelCase names, 64-bit
// integers as decimal strings, bytes as base64, enums by name). Enough for tests; a real
// client would generate this code.
const M = (fields) => fields;
const S = {
  Envelope: M({ 1: ["cid", "uint"], 2: ["hello", "Hello"], 3: ["welcome", "Welcome"], 4: ["ping", "Ping"],
    5: ["pong", "Pong"], 6: ["roomCreate", "RoomCreate"], 7: ["roomJoin", "RoomJoin"],
    8: ["roomJoinOrCreate", "RoomJoinOrCreate"], 9: ["roomJoined", "RoomJoined"], 10: ["roomLeave", "RoomLeave"],
    11: ["roomLeft", "RoomLeft"], 12: ["roomData", "RoomData"], 13: ["presence", "PresenceEvent"],
    14: ["roomList", "RoomListRequest"], 15: ["roomListResult", "RoomList"], 16: ["error", "Error"],
    17: ["disconnect", "Disconnect"], 20: ["ack", "Ack"], 21: ["ackSeq", "uint64"] }),
  Hello: M({ 1: ["protocolVersion", "uint"], 2: ["token", "string"], 3: ["name", "string"], 4: ["resumable", "bool"],
    5: ["resumeToken", "string"], 6: ["lastSeq", "uint64"] }),
  Welcome: M({ 1: ["sessionId", "uint64"], 2: ["protocolVersion", "uint"], 3: ["serverTimeUs", "int64"], 4: ["shard", "uint"],
    5: ["accountId", "string"], 6: ["username", "string"], 7: ["resumeToken", "string"], 8: ["resumeWindowMs", "uint"],
    9: ["resumed", "bool"], 10: ["lastSeq", "uint64"] }),
  Ack: M({ 1: ["seq", "uint64"] }),
  Ping: M({ 1: ["clientTimeUs", "int64"] }),
  Pong: M({ 1: ["clientTimeUs", "int64"], 2: ["serverTimeUs", "int64"] }),
  Presence: M({ 1: ["sessionId", "uint64"], 2: ["name", "string"], 3: ["accountId", "string"] }),
  RoomCreate: M({ 1: ["type", "string"], 2: ["options", "bytes"], 3: ["private", "bool"] }),
  RoomJoin: M({ 1: ["roomId", "string"], 2: ["options", "bytes"] }),
  RoomJoinOrCreate: M({ 1: ["type", "string"], 2: ["options", "bytes"] }),
  RoomJoined: M({ 1: ["roomId", "string"], 2: ["type", "string"], 3: ["you", "Presence"],
    4: ["members", "Presence", "repeated"], 5: ["state", "bytes"] }),
  RoomLeave: M({ 1: ["roomId", "string"] }),
  RoomLeft: M({ 1: ["roomId", "string"], 2: ["reason", "string"] }),
  RoomData: M({ 1: ["roomId", "string"], 2: ["op", "uint"], 3: ["data", "bytes"],
    4: ["targets", "uint64", "repeated"], 5: ["sender", "uint64"] }),
  PresenceEvent: M({ 1: ["roomId", "string"], 2: ["joins", "Presence", "repeated"], 3: ["leaves", "Presence", "repeated"],
    4: ["dropped", "Presence", "repeated"], 5: ["resumed", "Presence", "repeated"] }),
  RoomListRequest: M({ 1: ["type", "string"] }),
  RoomList: M({ 1: ["rooms", "RoomInfo", "repeated"] }),
  RoomInfo: M({ 1: ["roomId", "string"], 2: ["type", "string"], 3: ["clients", "uint"], 4: ["maxClients", "uint"],
    5: ["label", "string"], 6: ["locked", "bool"] }),
  Error: M({ 1: ["code", "enum"], 2: ["message", "string"] }),
  Disconnect: M({ 1: ["code", "uint"], 2: ["reason", "string"] }),
};
const ERROR_CODES = ["ERROR_UNSPECIFIED", "BAD_REQUEST", "UNKNOWN_MESSAGE", "NOT_AUTHENTICATED",
  "ALREADY_AUTHENTICATED", "UNSUPPORTED_VERSION", "ROOM_NOT_FOUND", "ROOM_FULL", "ROOM_LOCKED", "JOIN_REJECTED",
  "NOT_IN_ROOM", "ALREADY_IN_ROOM", "TOO_MANY_ROOMS", "UNKNOWN_ROOM_TYPE", "RATE_LIMITED", "MESSAGE_TOO_LARGE",
  "INTERNAL", "SERVER_SHUTTING_DOWN", "INVALID_TARGET", "UNAUTHORIZED", "TOKEN_EXPIRED", "TOKEN_REVOKED",
  "INVALID_CREDENTIALS", "ACCOUNT_BANNED", "PERMISSION_DENIED", "NOT_FOUND", "ALREADY_EXISTS", "VERSION_CONFLICT",
  "UNAVAILABLE", "RESUME_FAILED", "REPLAY_GAP", "SESSION_EXISTS"];

function varint(out, value) {
  let v = BigInt.asUintN(64, BigInt(value));
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
}

function encodeMessage(type, obj) {
  const out = [];
  for (const [no, [name, kind, repeated]] of Object.entries(S[type])) {
    const value = obj[name];
    if (value === undefined || value === null) continue;
    const values = repeated ? value : [value];
    if (values.length === 0) continue;
    if (repeated && kind === "uint64") {  // packed
      const packed = [];
      for (const v of values) varint(packed, v);
      varint(out, (Number(no) << 3) | 2);
      varint(out, packed.length);
      out.push(...packed);
      continue;
    }
    for (const v of values) {
      if (["uint", "uint64", "int64", "bool", "enum"].includes(kind)) {
        const n = kind === "bool" ? (v ? 1 : 0) : kind === "enum" && typeof v === "string" ? ERROR_CODES.indexOf(v) : v;
        if (!repeated && (n === 0 || n === "0")) continue;
        varint(out, Number(no) << 3);
        varint(out, n);
      } else {
        const bytes = kind === "string" ? Buffer.from(v, "utf8")
          : kind === "bytes" ? Buffer.from(v, "base64") : encodeMessage(kind, v);
        if (!repeated && bytes.length === 0 && (kind === "string" || kind === "bytes")) continue;
        varint(out, (Number(no) << 3) | 2);
        varint(out, bytes.length);
        out.push(...bytes);
      }
    }
  }
  return Buffer.from(out);
}

function readVarint(buf, pos) {
  let result = 0n, shift = 0n;
  for (;;) {
    const b = buf[pos.i++];
    if (b === undefined) throw new Error("truncated varint");
    result |= BigInt(b & 0x7f) << shift;
    if (!(b & 0x80)) return result;
    shift += 7n;
  }
}

function decodeMessage(type, buf) {
  const obj = {};
  const pos = { i: 0 };
  while (pos.i < buf.length) {
    const key = Number(readVarint(buf, pos));
    const [name, kind, repeated] = S[type][key >> 3] ?? [];
    const wire = key & 7;
    let raw;
    if (wire === 0) raw = readVarint(buf, pos);
    else if (wire === 2) {
      const len = Number(readVarint(buf, pos));
      raw = buf.subarray(pos.i, pos.i + len);
      pos.i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (!name) continue;  // unknown field
    let values;
    if (kind === "uint64" || kind === "int64") {
      if (wire === 2) {
        const inner = { i: 0 };
        values = [];
        while (inner.i < raw.length) values.push(String(readVarint(raw, inner)));
      } else values = [String(kind === "int64" ? BigInt.asIntN(64, raw) : raw)];
    } else if (kind === "uint") values = [Number(raw)];
    else if (kind === "bool") values = [raw !== 0n];
    else if (kind === "enum") values = [ERROR_CODES[Number(raw)] ?? Number(raw)];
    else if (kind === "string") values = [Buffer.from(raw).toString("utf8")];
    else if (kind === "bytes") values = [Buffer.from(raw).toString("base64")];
    else values = [decodeMessage(kind, raw)];
    if (repeated) obj[name] = [...(obj[name] ?? []), ...values];
    else obj[name] = values[0];
  }
  return obj;
}

export const encodeEnvelope = (obj) => encodeMessage("Envelope", obj);
export const decodeEnvelope = (buf) => decodeMessage("Envelope", buf);
