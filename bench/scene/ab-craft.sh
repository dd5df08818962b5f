#!/usr/bin/env bash
# A/B of craft scene servers (binaries and/or settings) on the state sync scene, alternated so
# the neighbours' load falls on every variant alike; CPU figures only compare within one run.
# usage: bench/scene/ab-craft.sh REPS label:binary[:ENV=VALUE] ...
#   e.g. bench/scene/ab-craft.sh 2 main:/tmp/old-scene-server new:build/bench/craft-scene-server \
#          off:build/bench/craft-scene-server:CRAFT_SERVER_MOVE_TO_ROOM_SHARD=false
# Results: $RESULTS (default bench/results), one JSONL per run, labelled; summary:
#   node bench/scene/ab-summary.mjs $RESULTS [first-file-name]
set -u
cd "$(dirname "$0")/../.."
reps=$1; shift
for r in $(seq 1 "$reps"); do
  for v in "$@"; do
    IFS=: read -r label bin envs <<<"$v"
    echo "== rep $r $label $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    env ${envs:-} CRAFT_SCENE_SERVER="$bin" bench/run-scene --server craft --scenes players,bots-aoi --clients 100 \
      --warmup 5 --duration 15 --decode sample --sample 10 --join-deadline 60 \
      --results-dir "${RESULTS:-bench/results}" --label "$label" > /dev/null
  done
done
