export { Client, type ClientOptions, type ReconnectOptions, type RoomInfo } from "./client.js";
export { Room, STATE_OP, type Presence, type MessageHandler } from "./room.js";
export { CraftError, CloseCode } from "./errors.js";
export { decodeText, decodeJson, type Format } from "./codec.js";
export { SnapshotInterpolator, type InterpolatorOptions } from "./interpolation.js";
export { Predictor, type PredictorOptions } from "./prediction.js";
