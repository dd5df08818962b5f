// The docs keep up with the code (no server needed): every Envelope body, every message it
// carries (each field), every error code and every lobby/matchmaker/party/rooms config option
// is in docs/protocol.md; every public call of the JS SDK is in sdk/js/README.md and every
// public member function of the C++ SDK's Client and Lobby is in sdk/cpp/README.md.
// A new message, field, error, option or SDK call without its docs fails here, by name.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const read = (p) => readFileSync(path.join(root, p), "utf8");
const proto = read("proto/craft.proto");
const protocol = read("docs/protocol.md");

// The proto's messages: name -> [field names]; enums: name -> [[value name, number]].
function parseProto(text) {
  const noComments = text.replace(/\/\/[^\n]*/g, "");
  const messages = new Map();
  const enums = new Map();
  // Top-level blocks only: craft.proto nests no message in another.
  for (const m of noComments.matchAll(/\b(message|enum)\s+(\w+)\s*\{([\s\S]*?)\n\}/g)) {
    const [, kind, name, body] = m;
    if (kind === "enum") {
      enums.set(name, [...body.matchAll(/(\w+)\s*=\s*(\d+)\s*;/g)].map((v) => [v[1], Number(v[2])]));
    } else {
      const fields = [...body.matchAll(/(?:^|[;{\s])(?:repeated\s+|optional\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+\s*;/g)].map((f) => f[1]);
      messages.set(name, { fields, body });
    }
  }
  return { messages, enums };
}
const { messages, enums } = parseProto(proto);

// The Envelope's oneof: body name -> message type.
const envelope = messages.get("Envelope");
const bodies = [...envelope.body.matchAll(/^\s*(\w+)\s+(\w+)\s*=\s*(\d+)\s*;/gm)]
  .filter((b) => b[2] !== "cid" && b[2] !== "ack_seq")
  .map((b) => ({ type: b[1], name: b[2], number: Number(b[3]) }));

// The proto blocks of protocol.md, parsed the same way (a block may declare several messages;
// several blocks may declare the same one: the union of their fields counts).
const documented = new Map();
for (const block of protocol.matchAll(/```proto\n([\s\S]*?)```/g)) {
  const text = block[1].replace(/\/\/[^\n]*/g, "");
  for (const m of text.matchAll(/\bmessage\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = [...m[2].matchAll(/(?:repeated\s+|optional\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*\d+/g)].map((f) => f[1]);
    documented.set(m[1], new Set([...(documented.get(m[1]) ?? []), ...fields]));
  }
}

// Every message reachable from the Envelope's bodies (fields of message type, transitively).
function reachable(start) {
  const seen = new Set();
  const todo = [...start];
  while (todo.length) {
    const name = todo.pop();
    if (seen.has(name) || !messages.has(name)) continue;
    seen.add(name);
    for (const m of messages.get(name).body.matchAll(/(?:map<\s*\w+\s*,\s*(\w+)\s*>|(?:repeated\s+|optional\s+)?([A-Z]\w*))\s+\w+\s*=/g)) {
      todo.push(m[1] ?? m[2]);
    }
  }
  return seen;
}

test("the parser sees craft.proto (a broken parse must not pass the checks below)", () => {
  assert.ok(bodies.length >= 39, `Envelope bodies found: ${bodies.length}`);
  assert.ok(bodies.some((b) => b.name === "party_left" && b.number === 41));
  assert.deepEqual(messages.get("RoomJoin").fields, ["room_id", "options", "reservation"]);
  assert.ok(enums.get("ErrorCode").some(([n, v]) => n === "PARTY_FULL" && v === 35));
  assert.ok(documented.size > 10, `proto blocks in protocol.md: ${documented.size}`);
});

test("every Envelope body is named in docs/protocol.md", () => {
  const missing = bodies.filter((b) => !protocol.includes("`" + b.name) && !new RegExp(`^#+ .*\\b${b.name}\\b`, "m").test(protocol));
  assert.deepEqual(missing.map((b) => `${b.name} = ${b.number}`), []);
});

test("every message an Envelope carries has a proto block in docs/protocol.md with all its fields", () => {
  const problems = [];
  // api_request / api_response carry the accounts, storage and leaderboard calls, whose
  // shapes are docs/http-api.md's (JSON); §4.14 shows how they ride in the envelope.
  const api = new Set(["ApiRequest", "ApiResponse"]);
  for (const name of [...reachable(bodies.filter((b) => !api.has(b.type)).map((b) => b.type))].sort()) {
    const have = documented.get(name);
    if (!have) {
      problems.push(`${name}: no \`message ${name} {...}\` in a proto block`);
      continue;
    }
    const lacking = messages.get(name).fields.filter((f) => !have.has(f));
    if (lacking.length) problems.push(`${name}: fields not shown: ${lacking.join(", ")}`);
  }
  assert.deepEqual(problems, []);
});

test("every error code is a row of the table in docs/protocol.md §5.1", () => {
  const missing = enums.get("ErrorCode").filter(([n, v]) => !protocol.includes(`| ${v} | \`${n}\` |`));
  assert.deepEqual(missing.map(([n, v]) => `${v} ${n}`), []);
});

test("every rooms/lobby/matchmaker/party/replication option is in docs/protocol.md, with its default", () => {
  const loader = read("src/config/config_loader.cpp");
  const config = read("include/craft/config.hpp");
  const options = [...loader.matchAll(/\{"(rooms|lobby|matchmaker|party|replication)",\s*"(\w+)"/g)].map((m) => `${m[1]}.${m[2]}`);
  assert.ok(options.includes("matchmaker.reservation_ttl_ms") && options.includes("party.max_requests") &&
            options.includes("replication.max_queued_bytes"), options.join(" "));
  const missing = options.filter((o) => !protocol.includes("`" + o + "`"));
  assert.deepEqual(missing, []);
  // Each of them is a row of §5.3's table (option, default): the default as config.hpp has it.
  const table = protocol.slice(protocol.indexOf("### 5.3"), protocol.indexOf("### 5.4"));
  const rowless = [];
  for (const o of options.filter((x) => !x.startsWith("rooms."))) {
    const [section, name] = o.split(".");
    const struct = config.slice(config.indexOf(`struct ${section[0].toUpperCase()}${section.slice(1)}Config`));
    const m = new RegExp(`\\b${name}\\s*=\\s*([^;]+);`).exec(struct);
    const def = m ? m[1].replace(/'/g, "").replace(/^"(.*)"$/, "$1") : "?";
    if (!new RegExp(`\\| \`${o.replace(".", "\\.")}\` \\| ${def.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\b`).test(table)) rowless.push(`${o} (default ${def})`);
  }
  assert.deepEqual(rowless, []);
});

// The JS SDK's public calls: methods and getters of the exported classes, less @internal ones.
function publicCalls(file, cls) {
  const text = read(file);
  const start = text.indexOf(`export class ${cls}`);
  assert.ok(start >= 0, `${cls} in ${file}`);
  const body = text.slice(start);
  const end = body.search(/\n}\n/);
  const out = new Set();
  const lines = body.slice(0, end).split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^  (?:async\s+|readonly\s+|get\s+)?([a-zA-Z]\w*)(?:<[^>]*>)?\s*[(:=]/.exec(lines[i]);
    if (!m || ["constructor", "private", "protected", "static"].includes(m[1])) continue;
    // The doc comment (or line) right above: skip what it marks @internal.
    let j = i - 1;
    let comment = "";
    while (j >= 0 && /^\s*(\*|\/\*\*|\/\/|\*\/)/.test(lines[j])) comment = lines[j--] + comment;
    if (/@internal/.test(comment) || /^\s*\/\*\* @internal/.test(lines[i - 1] ?? "")) continue;
    out.add(m[1]);
  }
  return out;
}

test("every public call of the JS SDK (rooms, lobby, matchmaker, parties, properties) is in sdk/js/README.md", () => {
  const readme = read("sdk/js/README.md");
  const classes = [["sdk/js/src/client.ts", "Client"], ["sdk/js/src/room.ts", "Room"], ["sdk/js/src/lobby.ts", "Lobby"],
                   ["sdk/js/src/matchmaker.ts", "Matchmaker"], ["sdk/js/src/party.ts", "Parties"],
                   ["sdk/js/src/state/replicated.ts", "ReplicatedState"]];
  const missing = [];
  for (const [file, cls] of classes) {
    for (const name of publicCalls(file, cls)) {
      if (!new RegExp(`\\b${name}\\b`).test(readme)) missing.push(`${cls}.${name}`);
    }
  }
  assert.ok(publicCalls("sdk/js/src/client.ts", "Client").has("joinMatch"), "the parser sees Client's calls");
  assert.deepEqual(missing, []);
});

// The C++ SDK's public member functions (client.hpp, lobby.hpp), by name.
test("every public member function of the C++ SDK is in sdk/cpp/README.md", () => {
  const readme = read("sdk/cpp/README.md");
  const missing = [];
  let total = 0;
  for (const file of ["sdk/cpp/include/craft/client.hpp", "sdk/cpp/include/craft/lobby.hpp"]) {
    const text = read(file).replace(/\/\/[^\n]*/g, "");
    for (const cls of text.matchAll(/\n(?:class|struct)\s+(\w+)[^;{]*\{([\s\S]*?)\n\};/g)) {
      let access = /^\s*class/.test(cls[0].trimStart()) ? "private" : "public";
      for (const line of cls[2].split("\n")) {
        const a = /^\s*(public|private|protected):/.exec(line);
        if (a) { access = a[1]; continue; }
        if (access !== "public") continue;
        const m = /^\s+(?:[\w:<>,*&\s]+?\s+[*&]?)?(\w+)\s*\([^;]*\)\s*(?:const\s*)?(?:noexcept\s*)?(?:override\s*)?[;{=]/.exec(line);
        if (!m || m[1] === cls[1] || /^operator/.test(m[1]) || /^\s*(return|if|for|while)\b/.test(line)) continue;
        total++;
        if (!new RegExp(`\\b${m[1]}\\b`).test(readme)) missing.push(`${cls[1]}::${m[1]}`);
      }
    }
  }
  assert.ok(total > 10, `public member functions found: ${total}`);
  assert.deepEqual([...new Set(missing)], []);
});
