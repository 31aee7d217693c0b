#!/usr/bin/env bash
# Peak RSS of a worker catching up on a backlog (issue 16, goal 4): 2M listens of 100k users with a
# 200k-track table on an embedded cluster of 128 partitions, `run --stop-when-caught-up` under
# /usr/bin/time. Several binaries or settings run interleaved, since this VM's figures drift by
# about ±50 MiB between sittings.
# Usage: Tests/bench/peak_rss.sh SPEC...   where SPEC is LABEL=BINARY[:OPTIONS], e.g.
#   Tests/bench/peak_rss.sh new=.build/release/userrep old=/tmp/userrep-old "cycle50k=.build/release/userrep:--max-poll-records 50000"
# Environment: SESSION_LENGTH (1: every listen's user drawn anew, the unclustered workload; 10:
#   sessions of ten), RUNS (rounds of every SPEC, default 2), WORK (default: a temporary directory).
set -euo pipefail
[ $# -gt 0 ] || { sed -n 2,10p "$0"; exit 2; }
first=${1#*=}; first=${first%%:*}
W=${WORK:-$(mktemp -d)}
mkdir -p "$W"
runs=${RUNS:-2}
topics=()
for r in $(seq 1 "$runs"); do for spec in "$@"; do topics+=(--topic "cl-${spec%%=*}-$r"); done; done
"$first" cluster --partitions 128 --bootstrap-file "$W/kafka" "${topics[@]}" >/dev/null 2>&1 &
C=$!
trap 'kill $C 2>/dev/null; wait $C 2>/dev/null || true; [ -n "${WORK:-}" ] || rm -rf "$W"' EXIT
while [ ! -s "$W/kafka" ]; do sleep 0.1; done
K=(--bootstrap-servers "$(cat "$W/kafka")")
if [ ! -s "$W/listens.jsonl" ]; then
  "$first" events generate --output-dir "$W" --listens 2000000 --users 100000 --tracks 200000 --first-session 0 --dims 80 \
    --session-length "${SESSION_LENGTH:-1}" --embedding-batch-id emb-demo-1 >/dev/null
fi
"$first" tracks import "${K[@]}" --file "$W/tracks.jsonl" | tail -1
"$first" events import "${K[@]}" --file "$W/listens.jsonl" --topic listens | tail -1
"$first" model init --output "$W/model" --embedding-batch-id emb-demo-1 >/dev/null
for r in $(seq 1 "$runs"); do
  for spec in "$@"; do
    label=${spec%%=*}; rest=${spec#*=}; bin=${rest%%:*}; options=""
    [ "$rest" != "$bin" ] && options=${rest#*:}
    rm -rf "$W/state"
    # shellcheck disable=SC2086
    /usr/bin/time -f "%M" -o "$W/rss" "$bin" run "${K[@]}" --model "$W/model/manifest.json" --state-dir "$W/state" \
      --group-id "g-$label-$r" --changelog-topic "cl-$label-$r" --stop-when-caught-up $options >"$W/run.log" 2>&1
    echo "$label run $r: peak RSS $(( $(cat "$W/rss") / 1024 )) MiB; $(grep -o 'cycles=[0-9]*\|largest_cycle_state_bytes=[0-9]*\|events_per_s=[0-9]*\|processing_cpu=[0-9.]*s' "$W/run.log" | tail -4 | tr '\n' ' ')"
  done
done
