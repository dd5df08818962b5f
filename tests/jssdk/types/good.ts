// Correct use of @craft/client under `strict`: must compile with no diagnostics.
import {
  Client, CloseCode, CraftError, codecs, ops, type CraftErrorCode, type ClientEvents, type ConnectionState, type Room, type RawRoom,
  type SendReceive, Predictor, ReplicatedState, type Entity, type FieldValue, type StateDrop,
} from "@craft/client";

interface ChatLine { name: string; text: string; time: number }
type ChatOps = { 1: SendReceive<string, ChatLine> };

interface Input { seq: number; dx: number; dy: number }
interface Snapshot { players: { id: string; x: number; y: number }[] }
type GameOps = { 0: SendReceive<never, Snapshot>; 1: SendReceive<Uint8Array, never>; 2: Input; 3: string };

export async function chat(client: Client): Promise<void> {
  await client.connect();
  const room: Room<ChatOps> = await client.joinOrCreate("chat", undefined, { ops: ops<ChatOps>() });
  room.send(1, "hello");
  room.onMessage(1, (line, sender, op) => console.log(line.name.toUpperCase(), line.text, line.time + 1, sender, op));
  room.onMessage("*", (bytes: Uint8Array, sender: string, op: number) => console.log(bytes.length, sender, op));
  room.on("join", (p) => console.log(p.name, p.sessionId, p.accountId));
  room.on("left", (reason: string) => console.log(reason));
}

export async function game(client: Client): Promise<void> {
  const room = await client.create("game", { map: "dunes" }, {
    private: true,
    ops: ops<GameOps>({ 3: codecs.text() }),  // op 1: the default sends a Uint8Array as is
  });
  room.send(1, new Uint8Array([1, 0, 0]));
  room.send(2, { seq: 1, dx: 1, dy: 0 }, ["42"]);
  room.send(3, "gg");
  room.onMessage(0, (snap) => snap.players.map((p) => p.x + p.y));
  room.onMessage(2, (input) => input.seq);
  room.onMessage(3, (text) => text.length);
}

// Untyped rooms keep the old API: any op, bytes in, Uint8Array / string / object out.
export async function raw(client: Client): Promise<void> {
  const room: RawRoom = await client.joinById("abc");
  room.send(7);
  room.send(7, "text");
  room.send(7, { any: "object" });
  room.send(7, new Uint8Array(1), ["1", "2"]);
  room.onMessage(7, (data: Uint8Array, sender: string, op: number) => console.log(data.byteLength, sender, op));
  room.onJoin((p) => p.name);
  room.onStateChange((s: Uint8Array) => s.length);
}

export function errors(e: unknown): string {
  if (e instanceof CraftError) {
    if (e.code === "ROOM_NOT_FOUND" || e.code === "TIMEOUT" || e.code === "HTTP_502") return e.code;
    const code: CraftErrorCode = e.code;
    switch (code) {
      case "VERSION_CONFLICT": return `${e.status}`;
      case "BAD_MESSAGE": return e.message;
      default: return code;
    }
  }
  return "";
}

export function events(client: Client): void {
  client.on("disconnect", ({ code, reason }) => console.log(code, reason));
  client.on("reconnecting", ({ attempt, delayMs }) => console.log(attempt * delayMs));
  client.on("reconnected", ({ sessionId }) => console.log(sessionId.length));
  client.on("roomsLost", ({ url, roomIds, reason }) => console.log(url, roomIds.join(","), reason));
  for (const [url, node] of client.nodes) console.log(url, node.state);
  client.on("error", (e: CraftError) => console.log(e.code, e.cid));
  const onError: (info: ClientEvents["error"]) => void = (e) => console.log(e.status);
  client.on("error", onError);
}

// Resume and connection state (docs/protocol.md §3.2; README "Dropped connections").
export function resume(client: Client, room: RawRoom): ConnectionState {
  client.on("state", ({ state, previous }) => console.log(previous, "->", state));
  client.on("dropped", ({ code, reason }) => console.log(code === CloseCode.sessionReplaced, reason));
  client.on("resumed", ({ sessionId, replayed }) => console.log(sessionId, replayed + 1));
  room.on("drop", (p) => console.log(p.sessionId));
  room.onResume((p) => console.log(p.name));
  room.onDrop((p) => console.log(p.accountId));
  const resumable = new Client("ws://x/ws", { resume: true, resendBufferBytes: 1 << 16, keepAliveMs: 5000, pongTimeoutMs: 2000 });
  void resumable;
  const codes: CraftErrorCode[] = ["CONNECTION_LOST", "RESUME_FAILED", "REPLAY_GAP", "SESSION_EXISTS"];
  void codes;
  const state: ConnectionState = client.state;
  if (state === "reconnecting" || state === "connecting" || state === "connected" || state === "disconnected") return state;
  return state;
}

// Replicated state (docs/protocol.md §4.20; README "Replicated state"), typed by component.
type Arena = { pos: { x: number; y: number }; body: { hp: number; name: string } };
export function replicated(room: RawRoom): number {
  const state = room.replicated as ReplicatedState<Arena>;
  state.configure({ delayMs: 120, interpolation: { "body.heading": "wrap" }, ackDelayMs: 10 });
  state.onAdd((e: Entity<Arena>) => console.log(e.id + 1, e.pos?.x, e.body?.name.length));
  state.onRemove((e) => console.log(e.id));
  state.onChange((e, component, field, value: FieldValue | undefined, old) => console.log(e.id, component, field, value, old));
  const off = state.listen(7, "body", "hp", (hp, old, e) => console.log(hp, old, e.id));
  off();
  state.onDrop((d: StateDrop) => console.log(d.reason, d.tick, d.detail));
  const predictor = new Predictor<{ x: number; y: number }, { dx: number }>({ apply: (p, i) => ({ x: p.x + i.dx, y: p.y }) });
  state.listen(7, (e) => { if (e.pos) predictor.reconcile({ ...e.pos }, 0); });
  const { tick, entities } = state.interpolated(performance.now());
  for (const [id, e] of entities) console.log(id, e.pos?.y);
  const own = new ReplicatedState();
  own.setSchema({ tickRateHz: 20, sendIntervalTicks: 1, baselineWindow: 8, components: [] });
  own.receive(new Uint8Array(), 0);
  return tick + (state.renderTick() ?? 0) + state.tick + state.entities.size + state.stats.decoded;
}
