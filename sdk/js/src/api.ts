// The accounts, storage and leaderboards API over HTTP (docs/http-api.md), with fetch.
//
// Bodies are protobuf's canonical JSON: 64-bit integers (expiresAt, createTime, score, rank,
// total, ...) arrive as decimal strings. The objects returned here carry them as numbers
// (exact up to Number.MAX_SAFE_INTEGER, 2^53 - 1).
import { CraftError } from "./errors.js";

/** A JSON object: storage values and metadata. */
export type JsonObject = { [key: string]: unknown };

/** The tokens of a session (SessionTokens). Times are unix seconds. */
export interface Session {
  /** Session token: sent as `Authorization: Bearer`, or as `new Client(url, { token })`. */
  token: string;
  refreshToken: string;
  /** The account was made by this call. */
  created: boolean;
  accountId: string;
  username: string;
  expiresAt: number;
  refreshExpiresAt: number;
}
export interface AuthOptions {
  /** Make the account if the id (or email) is new. */
  create?: boolean;
  /** A new account's username (default: a random one); ignored for an existing account. */
  username?: string;
}
export interface Account {
  id: string;
  username: string;
  displayName: string;
  metadata: JsonObject;
  email: string;
  deviceIds: string[];
  customIds: string[];
  banned: boolean;
  createTime: number;
  updateTime: number;
}
export interface AccountUpdate {
  username?: string;
  displayName?: string;
  /** Replaces the whole metadata object. */
  metadata?: JsonObject;
}
/** Exactly one way to log in: link takes a password with an email, unlink does not. */
export type LinkIds = { deviceId: string } | { customId: string } | { email: string; password: string };
export type UnlinkIds = { deviceId: string } | { customId: string } | { email: string };

export interface StorageWrite {
  collection: string;
  key: string;
  value: JsonObject;
  /** "" or absent: always; "*": only if absent; else only if the stored version equals it. */
  version?: string;
  /** 0 none (server only), 1 owner (default), 2 public. */
  permissionRead?: 0 | 1 | 2;
  /** 0 none (server only), 1 owner (default). */
  permissionWrite?: 0 | 1;
}
export interface StorageAck {
  collection: string;
  key: string;
  ownerId: string;
  version: string;
}
export interface StorageReadId {
  collection: string;
  key: string;
  /** Default: the caller. */
  ownerId?: string;
}
export interface StorageDeleteId {
  collection: string;
  key: string;
  /** "" or absent: unconditional; else the stored version must equal it. */
  version?: string;
}
export interface StorageObject {
  collection: string;
  key: string;
  ownerId: string;
  value: JsonObject;
  version: string;
  permissionRead: number;
  permissionWrite: number;
  createTime: number;
  updateTime: number;
}
export interface StorageList {
  objects: StorageObject[];
  /** Pass back to listObjects for the next page; "" at the end. */
  cursor: string;
}
export interface LeaderboardRecord {
  leaderboardId: string;
  ownerId: string;
  username: string;
  score: number;
  subscore: number;
  numScore: number;
  metadata: JsonObject;
  /** From 1. */
  rank: number;
  createTime: number;
  updateTime: number;
}
export interface LeaderboardRecords {
  records: LeaderboardRecord[];
  /** Records on the leaderboard. */
  total: number;
}

const num = (v: unknown): number => (v === undefined || v === null || v === "" ? 0 : Number(v));
/** int64 for a request: a number as is, a bigint as a decimal string (craftd accepts both). */
const int64 = (v: number | bigint | undefined) => (typeof v === "bigint" ? v.toString() : v);

function toSession(j: any): Session {
  return { ...j, expiresAt: num(j.expiresAt), refreshExpiresAt: num(j.refreshExpiresAt) };
}
function toAccount(j: any): Account {
  return {
    ...j,
    metadata: j.metadata ?? {},
    deviceIds: j.deviceIds ?? [],
    customIds: j.customIds ?? [],
    createTime: num(j.createTime),
    updateTime: num(j.updateTime),
  };
}
function toObject(j: any): StorageObject {
  return {
    ...j,
    value: j.value ?? {},
    permissionRead: num(j.permissionRead),
    permissionWrite: num(j.permissionWrite),
    createTime: num(j.createTime),
    updateTime: num(j.updateTime),
  };
}
function toRecord(j: any): LeaderboardRecord {
  return {
    ...j,
    metadata: j.metadata ?? {},
    score: num(j.score),
    subscore: num(j.subscore),
    numScore: num(j.numScore),
    rank: num(j.rank),
    createTime: num(j.createTime),
    updateTime: num(j.updateTime),
  };
}

/**
 * craftd's HTTP API: `new Api("http://127.0.0.1:7777")`. An authenticate call keeps the
 * session (`api.session`), and later calls send its token as `Authorization: Bearer`.
 * Failures throw CraftError with the protocol's code ("VERSION_CONFLICT", ...) and the
 * HTTP status; status 0 when no answer came ("CONNECT_FAILED") or the SDK refused the call
 * itself (refresh() without a refresh token: "UNAUTHORIZED").
 */
export class Api {
  /** The current session: set by authenticate* and refresh(), cleared by logout(). Assign a saved one to resume it. */
  session: Session | null = null;
  readonly url: string;

  constructor(httpUrl: string) {
    this.url = httpUrl.replace(/\/+$/, "");
  }

  async authenticateDevice(deviceId: string, opts: AuthOptions = {}): Promise<Session> {
    return this.keep(await this.call("POST", "/v1/auth/device", { deviceId, ...authFields(opts) }, false));
  }
  async authenticateEmail(email: string, password: string, opts: AuthOptions = {}): Promise<Session> {
    return this.keep(await this.call("POST", "/v1/auth/email", { email, password, ...authFields(opts) }, false));
  }
  async authenticateCustom(id: string, opts: AuthOptions = {}): Promise<Session> {
    return this.keep(await this.call("POST", "/v1/auth/custom", { id, ...authFields(opts) }, false));
  }
  /** New session and refresh tokens for the stored refresh token, which the server revokes. */
  async refresh(): Promise<Session> {
    const refreshToken = this.session?.refreshToken;
    if (!refreshToken) throw new CraftError("UNAUTHORIZED", "no refresh token: authenticate first");
    return this.keep(await this.call("POST", "/v1/auth/refresh", { refreshToken }, false));
  }
  /** Revokes the session token and its refresh token on the server and forgets the session. */
  async logout(): Promise<void> {
    const s = this.session;
    if (!s) return;
    try {
      await this.call("POST", "/v1/auth/logout", { refreshToken: s.refreshToken });
    } finally {
      if (this.session === s) this.session = null;
    }
  }

  async getAccount(): Promise<Account> {
    return toAccount(await this.call("GET", "/v1/account"));
  }
  async updateAccount(update: AccountUpdate): Promise<Account> {
    return toAccount(await this.call("POST", "/v1/account/update", pick(update, ["username", "displayName", "metadata"])));
  }
  /** Adds a way to log in: `{deviceId}`, `{customId}` or `{email, password}`. */
  async link(ids: LinkIds): Promise<Account> {
    return toAccount(await this.call("POST", "/v1/account/link", pick(ids, ["deviceId", "customId", "email", "password"])));
  }
  /** Removes a way to log in: `{deviceId}`, `{customId}` or `{email}`. */
  async unlink(ids: UnlinkIds): Promise<Account> {
    return toAccount(await this.call("POST", "/v1/account/unlink", pick(ids, ["deviceId", "customId", "email"])));
  }

  /** One transaction: all objects are written or none. Acks come in request order. */
  async writeObjects(objects: StorageWrite[]): Promise<StorageAck[]> {
    const body = {
      objects: objects.map((o) => pick(o, ["collection", "key", "value", "version", "permissionRead", "permissionWrite"])),
    };
    return ((await this.call("POST", "/v1/storage/write", body)).acks ?? []) as StorageAck[];
  }
  /** The objects that exist and the caller may read, in request order; the others are left out. */
  async readObjects(ids: StorageReadId[]): Promise<StorageObject[]> {
    const body = { ids: ids.map((i) => pick(i, ["collection", "key", "ownerId"])) };
    return ((await this.call("POST", "/v1/storage/read", body)).objects ?? []).map(toObject);
  }
  /** The caller's own objects; one transaction. */
  async deleteObjects(ids: StorageDeleteId[]): Promise<void> {
    await this.call("POST", "/v1/storage/delete", { ids: ids.map((i) => pick(i, ["collection", "key", "version"])) });
  }
  /** A page of a collection (every owner the caller may read, or `ownerId`'s); limit 1-100, default 20. */
  async listObjects(collection: string, opts: { ownerId?: string; limit?: number; cursor?: string } = {}): Promise<StorageList> {
    const j = await this.call("POST", "/v1/storage/list", { collection, ...pick(opts, ["ownerId", "limit", "cursor"]) });
    return { objects: (j.objects ?? []).map(toObject), cursor: j.cursor ?? "" };
  }

  /** The caller's record after the write, ranked. */
  async writeScore(
    leaderboardId: string,
    score: number | bigint,
    opts: { subscore?: number | bigint; metadata?: JsonObject } = {},
  ): Promise<LeaderboardRecord> {
    const body = { leaderboardId, score: int64(score), subscore: int64(opts.subscore), metadata: opts.metadata };
    return toRecord(await this.call("POST", "/v1/leaderboard/write", body));
  }
  /** Top records from rank offset+1 (limit 1-100, default 10), or with ownerId the records around that owner. */
  async listScores(
    leaderboardId: string,
    opts: { limit?: number; offset?: number | bigint; ownerId?: string } = {},
  ): Promise<LeaderboardRecords> {
    const body = { leaderboardId, limit: opts.limit, offset: int64(opts.offset), ownerId: opts.ownerId };
    const j = await this.call("POST", "/v1/leaderboard/list", body);
    return { records: (j.records ?? []).map(toRecord), total: num(j.total) };
  }

  private keep(j: any): Session {
    this.session = toSession(j);
    return this.session;
  }

  /** One HTTP call; the parsed success body, or a CraftError. */
  private async call(method: "GET" | "POST", path: string, body?: object, bearer = true): Promise<any> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (bearer && this.session) headers["Authorization"] = `Bearer ${this.session.token}`;
    let res: Response;
    try {
      res = await fetch(this.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new CraftError("CONNECT_FAILED", `${method} ${this.url + path}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (!res.ok) {
      const err = json?.error;
      const message = err?.message ?? (text || res.statusText);
      if (typeof err?.code === "string") throw CraftError.fromServer(err.code, message, 0, res.status);
      throw new CraftError(`HTTP_${res.status}`, message, 0, res.status);
    }
    if (json === undefined || typeof json !== "object") {
      throw new CraftError("BAD_REPLY", `${method} ${path}: answer is not JSON`, 0, res.status);
    }
    return json;
  }
}

function authFields(o: AuthOptions) {
  return pick(o, ["create", "username"]);
}

/** Only the named fields that are set: craftd answers 400 to a field its message lacks. */
function pick(o: object, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}
