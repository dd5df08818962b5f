export { Client, type ClientOptions, type ReconnectOptions, type RoomInfo } from "./client.js";
export { Room, STATE_OP, type Presence, type MessageHandler } from "./room.js";
export { CraftError, CloseCode } from "./errors.js";
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
