// Room handles against a real craftd (docs/protocol.md §4.20 "Room handles"): a session whose
// hello sets room_handles gets state_snapshots naming the room by room_joined.room_handle and
// no room_id; one that does not gets room_id and no handle. Raw protobuf envelopes over `ws`
// (the SDK's generated codec, not its Client), so both forms are seen as they are on the wire.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { EnvelopeSchema } from "../dist/esm/gen/craft_pb.js";
import { readFileSync } from "node:fs";
import { skipReason, startCraftd } from "../../../tests/js/lib/craftd.mjs";

const room = readFileSync(new URL("../../../examples/movement2d/movement2d_room.cpp", import.meta.url), "utf8");
const skip = skipReason || (!room.includes("replicate_state") && "this tree's movement2d has no replicated state");
let server;
before(async () => { if (!skip) server = await startCraftd(); });
after(async () => { if (server) assert.equal((await server.stop()).code, 0); });

// A raw client: send(body) with a cid, next(case) waits for the next envelope of that body.
async function rawClient(roomHandles) {
  const ws = new WebSocket(server.url);
  await new Promise((ok, fail) => { ws.once("open", ok); ws.once("error", fail); });
  const inbox = [];
  const waiters = [];
  ws.on("message", (data) => {
    const e = fromBinary(EnvelopeSchema, new Uint8Array(data));
    inbox.push(e);
    for (const w of waiters.splice(0)) w();
  });
  let cid = 0;
  const send = (body) => ws.send(toBinary(EnvelopeSchema, create(EnvelopeSchema, { cid: ++cid, body })));
  const next = async (kind) => {
    const end = Date.now() + 5000;
    for (;;) {
      const i = inbox.findIndex((e) => e.body.case === kind);
      if (i >= 0) return inbox.splice(i, 1)[0].body.value;
      if (Date.now() > end) throw new Error(`no ${kind} in 5 s`);
      await new Promise((r) => { waiters.push(r); setTimeout(r, 50); });
    }
  };
  send({ case: "hello", value: { protocolVersion: 1, name: roomHandles ? "h" : "id", roomHandles } });
  await next("welcome");
  return { ws, send, next };
}

test("state_snapshot names the room by its handle only for sessions that asked in hello", { skip, timeout: 30000 }, async () => {
  const withHandles = await rawClient(true);
  const withIds = await rawClient(false);
  try {
    const options = new TextEncoder().encode(JSON.stringify({ state: "replicated", tickRate: 20 }));
    withHandles.send({ case: "roomCreate", value: { type: "movement2d", options } });
    const joinedA = await withHandles.next("roomJoined");
    assert.ok(joinedA.roomHandle > 0);
    withIds.send({ case: "roomJoin", value: { roomId: joinedA.roomId, options } });
    const joinedB = await withIds.next("roomJoined");
    assert.equal(joinedB.roomHandle, 0);  // sent only to a session that asked (§4.7): others get the bytes §7 shows

    for (let k = 0; k < 3; k++) {
      const a = await withHandles.next("stateSnapshot");
      assert.equal(a.roomId, "");
      assert.equal(a.roomHandle, joinedA.roomHandle);
      assert.ok(a.data.length > 0);
      const b = await withIds.next("stateSnapshot");
      assert.equal(b.roomId, joinedA.roomId);
      assert.equal(b.roomHandle, 0);
    }
    // Another room of the same session gets another handle.
    withHandles.send({ case: "roomCreate", value: { type: "movement2d", options } });
    const second = await withHandles.next("roomJoined");
    assert.ok(second.roomHandle > 0 && second.roomHandle !== joinedA.roomHandle);
  } finally {
    withHandles.ws.close();
    withIds.ws.close();
  }
});
