#!/usr/bin/env node
// Keeps the layers of src/ pointing one way (docs/architecture.md, "Layers") and keeps
// docs/architecture.md naming only files that exist. Run by ctest (tests/CMakeLists.txt):
//
//   scripts/check-layers.mjs [repo]     check the tree; exit 1 and list every violation
//   scripts/check-layers.mjs --self-test  feed the checker bad trees and make sure it fails
//
// Plain node, no packages: every #include line of every file under src/ and include/craft
// is read (a regex over lines, not a preprocessor: an include inside #if counts too, which
// is what a layer rule wants).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Folder under src/ -> its layer.
export const FOLDERS = {
  metrics: 'metrics',
  net: 'net',
  protocol: 'protocol',
  auth: 'auth',
  store: 'store',
  api: 'api',
  core: 'core',
  rooms: 'core',
  // Presence (room directory, lobby, ticket pool, parties): interfaces core code calls.
  presence: 'core',
  // The ticket query grammar and matcher: pure, time passed in; core wires it to sessions.
  matchmaker: 'matchmaker',
  // Replicated state and lag compensation: pure, over the public ECS, ticks passed in.
  sync: 'sync',
  // What a program embedding craft uses beside craft::Server (loading the config, stopping
  // on a signal): written against the public headers only, included by no layer.
  config: 'app',
  run: 'app',
  // The cluster's Redis links and node registry (docs/cluster.md): hiredis on Asio, its own
  // thread; core starts it and reads it, it calls nothing above it.
  cluster: 'cluster',
};

// Layer -> the layers it may include besides itself. "proto" is the generated craft.pb.h;
// "public" lists the include/craft headers it may use ('*': any).
const LEAF_PUBLIC = ['clock.hpp', 'close_codes.hpp', 'config.hpp', 'json.hpp'];
export const LAYERS = {
  metrics: { uses: [], public: [] },
  // Tickets, queries, matches: no networking, no protobuf, no clock of its own.
  matchmaker: { uses: [], public: ['clock.hpp'] },
  // Replicated state: snapshots, deltas, interest; the ECS and clock from the public headers.
  sync: { uses: [], public: ['ecs.hpp', 'clock.hpp', 'replication.hpp', 'lag_compensation.hpp'] },
  // Redis links and the node registry: no sessions, rooms or protocol; hiredis and Asio only.
  cluster: { uses: [], public: [] },
  // The transport: bytes, frames (WebSocket, TCP, HTTP), the ShardHandler interface.
  net: { uses: ['metrics'], public: ['clock.hpp', 'close_codes.hpp', 'config.hpp'] },
  // Envelopes: decode, encode, frame for the transport's wire formats.
  protocol: { uses: ['net', 'metrics', 'proto'], public: LEAF_PUBLIC },
  auth: { uses: [], public: LEAF_PUBLIC },
  store: { uses: ['auth'], public: LEAF_PUBLIC },
  // Accounts, storage, leaderboards: a service core calls; it never calls core back
  // (revocations go out through ApiService::on_revoked, which core sets).
  api: { uses: ['store', 'auth', 'protocol', 'net', 'metrics', 'proto'], public: LEAF_PUBLIC },
  // Rooms and sessions (src/core, src/rooms) and the assembly point (ServerCore).
  core: { uses: ['api', 'store', 'auth', 'protocol', 'net', 'metrics', 'matchmaker', 'sync', 'cluster', 'proto'], public: '*' },
  app: { uses: [], public: '*' },
};

// The hard rule, checked against the table itself so it cannot be loosened by
// accident: the transport knows no room, session, protocol or API layer.
const NET_MUST_NOT_USE = ['core', 'api', 'store', 'auth', 'protocol', 'proto'];

const SOURCE = /\.(c|cc|cpp|h|hpp)$/;
const INCLUDE = /^\s*#\s*include\s*(.*)$/;

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else out.push(p);
  }
  return out;
}

// What an include names: { kind: 'layer', layer, folder } | { kind: 'public', header } |
// { kind: 'system' } | { kind: 'unknown', why }.
function classify(repo, fromFile, spec) {
  const m = /^(["<])([^">]+)[">]/.exec(spec.trim());
  if (!m) return { kind: 'unknown', why: `cannot read the include "${spec.trim()}"` };
  const [, open, name] = m;
  if (open === '<') {
    if (name.startsWith('craft/')) return { kind: 'public', header: name.slice('craft/'.length) };
    return { kind: 'system' };  // the C++ library, asio, protobuf, openssl, ...
  }
  if (name === 'craft.pb.h') return { kind: 'layer', layer: 'proto', folder: 'proto' };
  const slash = name.indexOf('/');
  if (slash < 0) {
    // A sibling file in the same folder: the same layer.
    if (fs.existsSync(path.join(path.dirname(fromFile), name))) return { kind: 'same' };
    return { kind: 'unknown', why: `"${name}" is not beside the file; include it as "<folder>/${name}"` };
  }
  const folder = name.slice(0, slash);
  if (FOLDERS[folder]) return { kind: 'layer', layer: FOLDERS[folder], folder };
  if (folder === 'craft') return { kind: 'unknown', why: `include the public header as <${name}>` };
  return { kind: 'unknown', why: `"${name}": src/${folder} is in no layer (scripts/check-layers.mjs FOLDERS)` };
}

function includesOf(file) {
  const out = [];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  lines.forEach((line, i) => {
    const m = INCLUDE.exec(line);
    if (m) out.push({ line: i + 1, spec: m[1].replace(/\/\/.*$/, '').replace(/\/\*.*$/, '') });
  });
  return out;
}

export function checkIncludes(repo) {
  const problems = [];
  const rel = (f) => path.relative(repo, f);
  const src = path.join(repo, 'src');
  for (const file of walk(src).filter((f) => SOURCE.test(f))) {
    const parts = path.relative(src, file).split(path.sep);
    if (parts.length < 2) {
      problems.push(`${rel(file)}: a source file directly in src/ belongs to no layer`);
      continue;
    }
    const layer = FOLDERS[parts[0]];
    if (!layer) {
      problems.push(`${rel(file)}: src/${parts[0]} is in no layer (add it to FOLDERS in scripts/check-layers.mjs ` +
                    'and to docs/architecture.md)');
      continue;
    }
    const rule = LAYERS[layer];
    for (const { line, spec } of includesOf(file)) {
      const target = classify(repo, file, spec);
      const where = `${rel(file)}:${line}`;
      if (target.kind === 'unknown') problems.push(`${where}: ${target.why}`);
      else if (target.kind === 'layer' && target.layer !== layer && !rule.uses.includes(target.layer)) {
        problems.push(`${where}: ${layer} (src/${parts[0]}) may not include ${spec.trim()} ` +
                      `(layer ${target.layer}); it may use ${[layer, ...rule.uses].join(', ')}`);
      } else if (target.kind === 'public' && rule.public !== '*' && !rule.public.includes(target.header)) {
        problems.push(`${where}: ${layer} (src/${parts[0]}) may not include <craft/${target.header}>; ` +
                      `of include/craft it may use ${rule.public.join(', ') || 'nothing'}`);
      }
    }
  }
  // Public headers are what a game developer compiles against: nothing from src/.
  const pub = path.join(repo, 'include', 'craft');
  for (const file of walk(pub).filter((f) => SOURCE.test(f))) {
    for (const { line, spec } of includesOf(file)) {
      const target = classify(repo, file, spec);
      if (target.kind === 'system' || target.kind === 'public' || target.kind === 'same') continue;
      problems.push(`${rel(file)}:${line}: a public header may include only <craft/...> and system headers, ` +
                    `not ${spec.trim()}`);
    }
  }
  return problems;
}

// Paths docs/architecture.md names: `backticked` ones with a slash, [links](...), and bare
// mentions of top-level folders anywhere (prose and code blocks).
const TOP = ['src', 'include', 'docs', 'tests', 'bench', 'apps', 'examples', 'sdk', 'scripts', 'proto'];
// A bare C++ or proto file name is ambiguous (src/net/connection.cpp or sdk/cpp/src/connection.cpp?):
// the page names those by path. Bundle and package file names (craft.js) may stand alone.
const SOURCE_NAME = /\.(c|cc|cpp|h|hpp|proto)$/;

// Folders .gitignore names (examples/sdk/, sdk/js/dist/): build output a doc may point at.
function generatedFolders(repo) {
  const file = path.join(repo, '.gitignore');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').map((l) => l.trim().replace(/^\//, ''))
    .filter((l) => l.endsWith('/') && l.includes('/') && !/[*?[!#]/.test(l) && l.split('/').length > 2);
}

function exists(repo, p) {
  const clean = p.replace(/[.,;:)]+$/, '').replace(/\/$/, '');
  if (generatedFolders(repo).some((g) => (clean + '/').startsWith(g))) return true;
  // `craft/server.hpp` names a public header the way code includes it: include/craft/server.hpp.
  if (clean.startsWith('craft/')) return exists(repo, 'include/' + clean);
  if (!clean.includes('*')) return fs.existsSync(path.join(repo, clean));
  // A glob in the last part only: src/net/shard.* names shard.hpp and shard.cpp.
  const dir = path.dirname(clean);
  const re = new RegExp('^' + path.basename(clean).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$');
  const full = path.join(repo, dir);
  return fs.existsSync(full) && fs.readdirSync(full).some((f) => re.test(f));
}

export function checkDoc(repo, doc = 'docs/architecture.md') {
  const problems = [];
  const file = path.join(repo, doc);
  if (!fs.existsSync(file)) return [`${doc} is missing`];
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const bare = new RegExp(`(?<![\\w/.\`-])((?:${TOP.join('|')})/[A-Za-z0-9_./*-]*)`, 'g');
  lines.forEach((text, i) => {
    const where = `${doc}:${i + 1}`;
    const seen = new Set();
    const need = (p, how) => {
      const clean = p.replace(/[.,;:)]+$/, '');
      if (seen.has(clean)) return;
      seen.add(clean);
      if (!exists(repo, clean)) problems.push(`${where}: ${how} ${clean} does not exist`);
    };
    for (const [, span] of text.matchAll(/`([^`]+)`/g)) {
      if (/\s|::|:\/\/|^[/@]/.test(span)) continue;  // code, URLs, /metrics, @scope/npm-package
      if (span.includes('/')) need(span, 'path');
      else if (SOURCE_NAME.test(span)) problems.push(`${where}: name ${span} by its path from the repository root`);
    }
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^(https?:|mailto:|#)/.test(target)) continue;
      const local = target.split('#')[0];
      need(path.relative(repo, path.join(path.dirname(file), local)), 'link');
    }
    for (const [, p] of text.replace(/`[^`]*`/g, '').matchAll(bare)) need(p, 'path');
  });
  return problems;
}

export function checkTable() {
  const problems = [];
  for (const bad of NET_MUST_NOT_USE) {
    if (LAYERS.net.uses.includes(bad)) problems.push(`the layer table lets net use ${bad}`);
  }
  // One way: no cycle among layers.
  const state = {};
  const visit = (l, trail) => {
    if (state[l] === 'done') return;
    if (state[l] === 'open') {
      problems.push(`the layer table has a cycle: ${[...trail, l].join(' -> ')}`);
      return;
    }
    state[l] = 'open';
    for (const u of (LAYERS[l] || { uses: [] }).uses) visit(u, [...trail, l]);
    state[l] = 'done';
  };
  for (const l of Object.keys(LAYERS)) visit(l, []);
  for (const l of Object.values(FOLDERS)) if (!LAYERS[l]) problems.push(`folder layer ${l} has no rule`);
  return problems;
}

export function check(repo) {
  return [...checkTable(), ...checkIncludes(repo), ...checkDoc(repo)];
}

// Builds a small tree, checks it, and compares what the checker says with what it must say.
function selfTest() {
  const failures = [];
  const tree = (files) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'check-layers-'));
    for (const [p, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), text);
    }
    return root;
  };
  const good = {
    'src/metrics/metrics.hpp': '#pragma once\n#include <atomic>\n',
    'src/net/frame.hpp': '#pragma once\n#include <memory>\n',
    'src/net/connection.hpp': '#include "net/frame.hpp"\n#include "metrics/metrics.hpp"\n#include <craft/clock.hpp>\n',
    'src/net/connection.cpp': '#include "connection.hpp"\n#include <asio/ip/tcp.hpp>\n',
    'src/protocol/codec.hpp': '#include "craft.pb.h"\n#include "net/frame.hpp"\n',
    'src/core/session.hpp': '#include "net/connection.hpp"\n#include "api/api.hpp"\n#include <craft/room.hpp>\n',
    'src/api/api.hpp': '#include "store/store.hpp"\n',
    'src/store/store.hpp': '#include "auth/token.hpp"\n',
    'src/auth/token.hpp': '#pragma once\n',
    'src/rooms/builtin.cpp': '#include "core/session.hpp"\n',
    'include/craft/room.hpp': '#include <craft/clock.hpp>\n#include <string>\n',
    'include/craft/clock.hpp': '#pragma once\n',
    '.gitignore': 'build*/\nexamples/sdk/\n',
    'docs/architecture.md': '# x\n`src/net/connection.*` and `src/core/session.hpp`, src/api/ and [l](../src/net/frame.hpp);\n' +
                            '`/metrics`, `limits.idle_timeout_ms`, `craft.db`, `Session::busy()`, `@scope/pkg`, ' +
                            '`examples/sdk/craft.js` (built).\n',
  };
  const cases = [
    ['a clean tree', {}, []],
    ['net including core', { 'src/net/shard.cpp': '#include "core/server_core.hpp"\n' }, ['src/net/shard.cpp:1']],
    ['net including the protocol', { 'src/net/x.hpp': '  #  include "protocol/codec.hpp" // frames\n' }, ['src/net/x.hpp:1']],
    ['net including api, store, auth, rooms',
     { 'src/net/y.cpp': '#include <vector>\n#include "api/api.hpp"\n#include "store/store.hpp"\n#include "auth/token.hpp"\n' +
                        '#include "rooms/builtin.hpp"\n' },
     ['src/net/y.cpp:2', 'src/net/y.cpp:3', 'src/net/y.cpp:4', 'src/net/y.cpp:5']],
    ['net including the generated protocol', { 'src/net/z.cpp': '#include "craft.pb.h"\n' }, ['src/net/z.cpp:1']],
    ['net including a core public header', { 'src/net/w.cpp': '#include <craft/server.hpp>\n' }, ['src/net/w.cpp:1']],
    ['api including core', { 'src/api/back.cpp': '#include "core/session.hpp"\n' }, ['src/api/back.cpp:1']],
    ['metrics including net', { 'src/metrics/m.cpp': '#include "net/frame.hpp"\n' }, ['src/metrics/m.cpp:1']],
    ['a folder in no layer', { 'src/tls/ctx.cpp': '#include <openssl/ssl.h>\n' }, ['src/tls/ctx.cpp']],
    ['app code including core', { 'src/run/signals.cpp': '#include <craft/server.hpp>\n#include "core/session.hpp"\n' },
     ['src/run/signals.cpp:2']],
    ['an include of a folder in no layer', { 'src/core/a.cpp': '#include "util/x.hpp"\n' }, ['src/core/a.cpp:1']],
    ['a public header including src/', { 'include/craft/bad.hpp': '#include "core/session.hpp"\n' },
     ['include/craft/bad.hpp:1']],
    ['a doc naming a missing file', { 'docs/architecture.md': 'See `src/net/gone.cpp` and src/core/missing.hpp.\n' },
     ['docs/architecture.md:1: path src/net/gone.cpp', 'docs/architecture.md:1: path src/core/missing.hpp']],
    ['a doc naming public headers as included', { 'docs/architecture.md': '`craft/room.hpp` and `craft/gone.hpp`\n' },
     ['docs/architecture.md:1: path craft/gone.hpp']],
    ['a doc with a bare file name', { 'docs/architecture.md': 'in `session.cpp`\n' }, ['docs/architecture.md:1: name']],
    ['a doc naming a build folder that is not ignored', { 'docs/architecture.md': 'in examples/out/x.js\n' },
     ['docs/architecture.md:1: path examples/out/x.js']],
    ['a doc with a dead link and glob', { 'docs/architecture.md': '[x](../src/none.md), `src/net/nothing.*`\n' },
     ['docs/architecture.md:1: link src/none.md', 'docs/architecture.md:1: path src/net/nothing.*']],
  ];
  for (const [name, extra, expected] of cases) {
    const root = tree({ ...good, ...extra });
    try {
      const got = [...checkIncludes(root), ...checkDoc(root)];
      const missing = expected.filter((e) => !got.some((g) => g.startsWith(e)));
      const unexpected = got.filter((g) => !expected.some((e) => g.startsWith(e)));
      if (missing.length || unexpected.length) {
        failures.push(`${name}: expected [${expected.join('; ')}], got [${got.join('; ')}]`);
      }
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  }
  const table = checkTable();
  if (table.length) failures.push(`the real layer table: ${table.join('; ')}`);
  // The table check itself must catch a loosened net rule and a cycle.
  const saved = LAYERS.net.uses;
  LAYERS.net.uses = [...saved, 'core'];
  LAYERS.metrics.uses = ['net'];
  const broken = checkTable();
  LAYERS.net.uses = saved;
  LAYERS.metrics.uses = [];
  if (!broken.some((p) => p.includes('net use core')) || !broken.some((p) => p.includes('cycle'))) {
    failures.push(`a loosened table was not caught: [${broken.join('; ')}]`);
  }
  return failures;
}

const main = () => {
  const arg = process.argv[2];
  if (arg === '--self-test') {
    const failures = selfTest();
    for (const f of failures) console.error(`self-test: ${f}`);
    if (failures.length) process.exit(1);
    console.log('check-layers self-test: every bad tree was refused, the clean one passed');
    return;
  }
  const repo = path.resolve(arg || path.join(path.dirname(fileURLToPath(import.meta.url)), '..'));
  const problems = check(repo);
  for (const p of problems) console.error(p);
  if (problems.length) {
    console.error(`check-layers: ${problems.length} problem(s); the layers are drawn in docs/architecture.md`);
    process.exit(1);
  }
  console.log('check-layers: includes point one way; docs/architecture.md names only existing files');
};

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
