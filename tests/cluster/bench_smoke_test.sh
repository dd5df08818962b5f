#!/usr/bin/env bash
# bench/run-cluster at a small count: a real redis-server, six real craftd nodes with
# clustering on, 1,200 connections over them from six generator processes. Checks that every
# phase ran with every client ready, that join latency and relay deliveries were measured,
# that every node and the redis-server are gone afterwards, and that the summary table was
# written. Skipped (77) without redis-server.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:?BUILD_DIR is the build directory}"
command -v redis-server >/dev/null || { echo "redis-server is not installed: skipped"; exit 77; }
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

CLIENTS=1200
NODES=6 DURATION=2 RATE=5 SKIP_BUILD=1 LIMIT=240 RESULTS_DIR="$OUT" BUILD_DIR="$BUILD_DIR" \
  "$ROOT/bench/run-cluster" "$CLIENTS" >"$OUT/stdout" 2>"$OUT/stderr" || {
  echo "run-cluster failed:"; tail -50 "$OUT/stderr"; cat "$OUT/stdout"; exit 1; }

JSONL="$(ls "$OUT"/cluster-*.jsonl)"
/usr/bin/python3 - "$JSONL" "$CLIENTS" <<'EOF'
import json, sys
runs = {json.loads(l)["label"].split()[0]: json.loads(l) for l in open(sys.argv[1])}
clients = int(sys.argv[2])
errors = []
for phase in ("cluster-idle", "cluster-join", "cluster-relay"):
    r = runs.get(phase)
    if not r:
        errors.append(f"{phase}: no result")
        continue
    if r["ready"] != clients or r["failed"] or r["dropped"]:
        errors.append(f"{phase}: ready {r['ready']} failed {r['failed']} dropped {r['dropped']}")
    if r.get("server_count") != 6:
        errors.append(f"{phase}: {r.get('server_count')} server pids summed, want 6")
idle = runs.get("cluster-idle", {})
if not idle.get("server_rss_after", 0) > idle.get("server_rss_before", 0):
    errors.append("idle: the nodes' RSS did not grow with 1,200 connections")
join = runs.get("cluster-join", {})
if join.get("joins") != clients or not join.get("join_us", {}).get("p99"):
    errors.append(f"join: {join.get('joins')} joins timed, want {clients}")
relay = runs.get("cluster-relay", {})
if not relay.get("delivered", 0) > 0 or relay.get("delivery_ratio", 0) < 0.99:
    errors.append(f"relay: delivered {relay.get('delivered')} ratio {relay.get('delivery_ratio')}")
if not relay.get("server_cpu_us_per_msg", 0) > 0:
    errors.append("relay: no node CPU per message")
if errors:
    print("\n".join(errors))
    sys.exit(1)
print("run-cluster: 3 phases, 6 nodes, every client ready")
EOF
grep -q '^| relay |' "$OUT"/cluster-*.md || { echo "no summary table"; exit 1; }
grep -q 'Redis commands/s' "$OUT"/cluster-*.md || { echo "no Redis column"; exit 1; }
# Everything it started is stopped: no craftd and no redis-server with its log directory's ports.
for log in "$OUT"/cluster-*-logs/*node*.log; do
  port="$(sed -n 's|.*http://[^:]*:\([0-9]*\).*|\1|p' "$log" | head -1)"
  addr="$(sed -n 's|.*http://\([0-9.]*\):.*|\1|p' "$log" | head -1)"
  [ -n "$port" ] || continue
  if /usr/bin/python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
       "http://$addr:$port/healthz" 2>/dev/null; then
    echo "a node still answers on $addr:$port"; exit 1
  fi
done
