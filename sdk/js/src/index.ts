export {
  Client, type ClientOptions, type ReconnectOptions, type RoomInfo, type ClientEvents, type ClientEvent, type JoinOptions,
  type ConnectionState, type ListOptions, type RoomList, type JoinOrCreateOptions,
} from "./client.js";
export {
  toValue, fromValue, type PlainValue, type PlainValues, type RoomFilter, type ConditionSpec, type Range, type SortSpec,
  type RoomQuery,
} from "./values.js";
export { Lobby, type LobbyOptions, type LobbyEvents } from "./lobby.js";
export { Matchmaker, type TicketOptions, type MatchFound, type MatchedPlayer, type TicketEnded, type MatchmakerEvents } from "./matchmaker.js";
export { Parties, type PartyState, type PartyInvitation, type PartyMessage, type PartyEvents } from "./party.js";
export { Room, STATE_OP, type RawRoom, type Presence, type MessageHandler, type MessageHandlerOf, type RoomEvents,
  type PropertiesChange, type PropertyExpectation, type SetPropertiesOptions } from "./room.js";
export {
  ops, codecs, defaultCodec, type OpMap, type OpOf, type SendReceive, type SendOf, type ReceiveOf, type OpCodec, type Codec,
  type OpCodecMap, type RoomOps, type RawOps, type SendArgs,
} from "./ops.js";
export {
  CraftError, CloseCode, isServerErrorCode, type CraftErrorCode, type ServerErrorCode, type ClientErrorCode, type HttpErrorCode,
} from "./errors.js";
export {
  Api,
  type Session,
  type AuthOptions,
  type Account,
  type AccountUpdate,
  type LinkIds,
  type UnlinkIds,
  type JsonObject,
  type StorageWrite,
  type StorageAck,
  type StorageReadId,
  type StorageDeleteId,
  type StorageObject,
  type StorageList,
  type LeaderboardRecord,
  type LeaderboardRecords,
} from "./api.js";
export { decodeText, decodeJson, type Format } from "./codec.js";
export { SnapshotInterpolator, type InterpolatorOptions } from "./interpolation.js";
export { Predictor, type PredictorOptions } from "./prediction.js";
export {
  ReplicatedState, type ReplicatedOptions, type Entity, type ComponentMap, type ComponentValues, type InterpolatedState,
  type InterpolationMode, type StateDrop, type ReplicatedStats,
} from "./state/replicated.js";
export { type FieldValue, type FieldType, type Vec2, type Vec3, type StateSchemaInit, type StateSchemaInfo, type ComponentInfo, type FieldInfo } from "./state/schema.js";
