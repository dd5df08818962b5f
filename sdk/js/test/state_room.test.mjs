// room.replicated through a real Client and a real socket: state_schema and state_snapshot are
// routed to their room (also when they come right behind room_joined), acks go out once per
// snapshot shown, riding on the next room_data when one goes out soon, else as a state_ack of
// their own, and a corrupt snapshot is dropped (reported, not acked) without breaking the
// connection. The server side here is a small peer written from docs/protocol.md §4.1, §4.9
// and §4.20 (craftd's replication wiring is another helper's work in progress); snapshots come
// from the reference encoder in state_reference.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import WebSocket, { WebSocketServer } from "ws";
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from "@bufbuild/protobuf";
import { EnvelopeSchema } from "../dist/esm/gen/craft_pb.js";
import { Client } from "../dist/esm/index.js";
import { T, encodeSnapshot } from "./state_reference.mjs";

const schema = {
  roomId: "R1", tickRateHz: 20, sendIntervalTicks: 2, baselineWindow: 8,  // a snapshot every 100 ms: acks wait up to 50 ms
  components: [{ name: "pos", fields: [
    { name: "x", type: T.number, min: 0, max: 800, precision: 0.1, count: 0 },
    { name: "y", type: T.number, min: 0, max: 600, precision: 0.1, count: 0 },
  ] }],
};
const view = (x) => new Map([[1, { mask: 1, values: [[x, 10]] }]]);

/** A one-room server peer: answers hello and the join, then lets the test push snapshots and read what the client sent. */
async function startPeer(format) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  const peer = { received: [], waiters: [], socket: undefined };
  const encode = (init) => {
    const e = create(EnvelopeSchema, init);
    return format === "json" ? toJsonString(EnvelopeSchema, e) : toBinary(EnvelopeSchema, e);
  };
  peer.send = (body) => peer.socket.send(encode({ body }));
  peer.snapshot = (data) => peer.send({ case: "stateSnapshot", value: { roomId: "R1", data } });
  peer.next = (pred) => {
    const found = peer.received.find(pred);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => peer.waiters.push({ pred, resolve }));
  };
  wss.on("connection", (ws) => {
    peer.socket = ws;
    ws.on("message", (data, isBinary) => {
      const e = isBinary ? fromBinary(EnvelopeSchema, new Uint8Array(data)) : fromJsonString(EnvelopeSchema, data.toString());
      const body = e.body;
      if (body.case === "hello") {
        ws.send(encode({ cid: e.cid, body: { case: "welcome", value: { sessionId: 5n, protocolVersion: 1, serverTimeUs: BigInt(Date.now()) * 1000n } } }));
      } else if (body.case === "roomJoinOrCreate") {
        const you = { sessionId: 5n, name: "ann" };
        // The join's reply, then at once (same read) the schema and a full snapshot (§4.20 "Order").
        ws.send(encode({ cid: e.cid, body: { case: "roomJoined", value: { roomId: "R1", type: body.value.type, you, members: [you] } } }));
        peer.send({ case: "stateSchema", value: schema });
        peer.snapshot(encodeSnapshot(schema, 100, view(1)).data);
      } else {
        peer.received.push(body);
        for (const w of [...peer.waiters]) if (w.pred(body)) { peer.waiters.splice(peer.waiters.indexOf(w), 1); w.resolve(body); }
      }
    });
  });
  peer.url = `ws://127.0.0.1:${wss.address().port}/ws`;
  peer.close = () => new Promise((resolve) => { for (const c of wss.clients) c.terminate(); wss.close(resolve); });
  return peer;
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const acks = (peer) => peer.received.flatMap((b) =>
  b.case === "stateAck" ? [`state_ack ${b.value.roomId} ${b.value.tick}`] : b.case === "roomData" && b.value.stateAck ? [`room_data op ${b.value.op} ack ${b.value.stateAck}`] : []);

for (const format of ["binary", "json"]) {
  test(`${format}: snapshots reach room.replicated; acks ride on room_data or go alone, once per snapshot`, async () => {
    const peer = await startPeer(format);
    const client = new Client(peer.url, { name: "ann", format, WebSocket, resume: false, reconnect: { enabled: false } });
    try {
      await client.connect();
      const room = await client.joinOrCreate("arena");
      const added = [];
      const drops = [];
      // Listeners added right after the await see the snapshot that came behind room_joined.
      room.replicated.onAdd((e) => added.push(JSON.parse(JSON.stringify(e))));
      room.replicated.onDrop((d) => drops.push(d.reason));
      // Tick 100, no room.send: acked alone within ackDelayMs (50 ms here).
      await peer.next((b) => b.case === "stateAck");
      assert.deepEqual(added, [{ id: 1, pos: { x: 0.1, y: 1 } }]);
      assert.equal(room.replicated.ackDelayMs, 50);

      // Tick 102, and a room.send right after it: the ack rides on it, nothing goes alone.
      const shown = new Promise((resolve) => { const off = room.replicated.onSnapshot((t) => { off(); resolve(t); }); });
      peer.snapshot(encodeSnapshot(schema, 102, view(2), view(1), 100).data);
      assert.equal(await shown, 102);
      room.send(1, "input");
      await peer.next((b) => b.case === "roomData");
      await sleep(120);
      // Tick 104, then 106 before its ack went: one ack, for 106 (the newest).
      peer.snapshot(encodeSnapshot(schema, 104, view(3), view(2), 102).data);
      peer.snapshot(encodeSnapshot(schema, 106, view(4), view(2), 102).data);
      await peer.next((b) => b.case === "stateAck" && b.value.tick === 106);
      // A corrupt snapshot (truncated), then a good one against 106: the first is dropped and
      // not acked, the connection goes on, the second is acked.
      const good = encodeSnapshot(schema, 108, view(5), view(4), 106).data;
      peer.snapshot(good.subarray(0, good.length - 2));
      peer.snapshot(good);
      await peer.next((b) => b.case === "stateAck" && b.value.tick === 108);
      await sleep(120);
      room.send(2, "late input");  // nothing pending: no ack on it
      await peer.next((b) => b.case === "roomData" && b.value.op === 2);
      assert.deepEqual(acks(peer), ["state_ack R1 100", "room_data op 1 ack 102", "state_ack R1 106", "state_ack R1 108"]);
      assert.deepEqual(drops, ["corrupt"]);
      assert.equal(room.replicated.entities.get(1).pos.x, 0.5);
      assert.equal(client.state, "connected");
    } finally {
      await client.close();
      await peer.close();
    }
  });
}
