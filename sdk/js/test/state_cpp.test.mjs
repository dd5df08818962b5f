// Cross-check with the C++ encoder: snapshots made by craft::sync::Replicator (a fixed scene
// with every field type, creates, destroys, component adds and removes, an area of interest, an
// interest group, deltas against older acks; tests/unit/replication_js_fixture_test.cpp, which
// also checks the encoder still makes exactly these bytes) decode in the JS SDK to what each
// client must see, value for value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { ReplicatedState } from "../dist/esm/index.js";
import { plainEntities } from "./state_reference.mjs";

const fixture = JSON.parse(readFileSync(new URL("./fixtures/replication_cpp.json", import.meta.url), "utf8"));

test("snapshots from the C++ Replicator decode to the scene's values for each client", () => {
  const clients = new Map();
  let checked = 0;
  for (const snap of fixture.snapshots) {
    if (!clients.has(snap.client)) {
      const s = new ReplicatedState({ now: () => 0 });
      const drops = [];
      s.onDrop((d) => drops.push(d));
      assert.equal(s.setSchema(fixture.schema), true);
      clients.set(snap.client, { s, drops });
    }
    const { s, drops } = clients.get(snap.client);
    const data = Uint8Array.from(Buffer.from(snap.data, "hex"));
    assert.equal(s.receive(data), true, `client ${snap.client} tick ${snap.tick}: ${JSON.stringify(drops)}`);
    assert.equal(s.tick, snap.tick);
    assert.deepEqual(plainEntities(s.entities), snap.entities, `client ${snap.client} tick ${snap.tick}`);
    checked++;
  }
  assert.equal(checked, 10);
});

test("a random run of the C++ Replicator (150 ticks, lost snapshots, late and missing acks, a wandering area) decodes to the scene at every checkpoint", () => {
  const random = JSON.parse(readFileSync(new URL("./fixtures/replication_cpp_random.json", import.meta.url), "utf8"));
  const clients = new Map();
  let decoded = 0, checkpoints = 0;
  for (const snap of random.snapshots) {
    if (!clients.has(snap.client)) {
      const s = new ReplicatedState({ now: () => 0 });
      assert.equal(s.setSchema(random.schema), true);
      const drops = [];
      s.onDrop((d) => drops.push(d));
      clients.set(snap.client, { s, drops });
    }
    const { s, drops } = clients.get(snap.client);
    // Every delivered snapshot decodes: its baseline is a tick this client acked, so decoded.
    assert.equal(s.receive(Uint8Array.from(Buffer.from(snap.data, "hex"))), true, `client ${snap.client} tick ${snap.tick}: ${JSON.stringify(drops)}`);
    decoded++;
    if (snap.entities) {
      assert.deepEqual(plainEntities(s.entities), snap.entities, `client ${snap.client} tick ${snap.tick}`);
      checkpoints++;
    }
  }
  assert.ok(decoded > 200 && checkpoints >= 8, `${decoded} snapshots, ${checkpoints} checkpoints`);
});
