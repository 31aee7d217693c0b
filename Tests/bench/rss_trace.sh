#!/usr/bin/env bash
# Where in a cycle a worker's RSS peaks (issue 16, goal 4): runs the backlog of peak_rss.sh (2M
# listens of 100k users, 200k tracks, 128 partitions) once with `--log-level debug`, samples VmRSS
# every 20 ms, and lines the samples up with the per-cycle stage log: per cycle, the RSS at its
# start and its peak with the stage it fell in, then the run's peak. peak_rss.sh gives the peak
# of several interleaved runs; this says when it happens.
# Usage: Tests/bench/rss_trace.sh BINARY [RUN OPTIONS...]
# Environment: SESSION_LENGTH (1: unclustered, the default; 10: sessions of ten), WORK (default: a
#   temporary directory; peak_rss.sh's work directory is reused as it is).
set -euo pipefail
[ $# -gt 0 ] || { sed -n 2,9p "$0"; exit 2; }
bin=$1; shift
W=${WORK:-$(mktemp -d)}
mkdir -p "$W"
"$bin" cluster --partitions 128 --bootstrap-file "$W/kafka-trace" --topic cl-trace >/dev/null 2>&1 &
C=$!
trap 'kill $C 2>/dev/null; wait $C 2>/dev/null || true; rm -f "$W/kafka-trace"; [ -n "${WORK:-}" ] || rm -rf "$W"' EXIT
while [ ! -s "$W/kafka-trace" ]; do sleep 0.1; done
K=(--bootstrap-servers "$(cat "$W/kafka-trace")")
if [ ! -s "$W/listens.jsonl" ]; then
  "$bin" events generate --output-dir "$W" --listens 2000000 --users 100000 --tracks 200000 --first-session 0 --dims 80 \
    --session-length "${SESSION_LENGTH:-1}" --embedding-batch-id emb-demo-1 >/dev/null
fi
[ -s "$W/model/manifest.json" ] || "$bin" model init --output "$W/model" --embedding-batch-id emb-demo-1 >/dev/null
"$bin" tracks import "${K[@]}" --file "$W/tracks.jsonl" | tail -1
"$bin" events import "${K[@]}" --file "$W/listens.jsonl" --topic listens | tail -1
rm -rf "$W/state-trace"
"$bin" run "${K[@]}" --model "$W/model/manifest.json" --state-dir "$W/state-trace" --group-id g-trace \
  --changelog-topic cl-trace --stop-when-caught-up --log-level debug "$@" >"$W/trace.log" 2>&1 &
P=$!
: >"$W/trace.rss"
while kill -0 "$P" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$P/status" 2>/dev/null || true)
  [ -n "$rss" ] && echo "$(date +%s.%N) $rss" >>"$W/trace.rss"
  sleep 0.02
done
wait "$P" || { echo "the worker failed; its log: $W/trace.log" >&2; exit 1; }
python3 - "$W/trace.log" "$W/trace.rss" <<'PY'
import datetime, re, sys
cycles = []
for line in open(sys.argv[1]):
    m = re.match(r'(\S+)Z debug userrep\.run: .*?records=(\d+) stages_ms=(.*?) (?:state_bytes=\d+ )?users=(\d+)', line)
    if not m:
        continue
    end = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()
    stages = [(k, float(v) / 1000) for k, v in (s.split('=') for s in m.group(3).split())]
    at = end - sum(d for _, d in stages)
    bounds = []
    for k, d in stages:
        bounds.append((k, at, at + d))
        at += d
    cycles.append((bounds[0][1], end, bounds, int(m.group(4))))
samples = [(float(t), int(r) // 1024) for t, r in (l.split() for l in open(sys.argv[2]) if len(l.split()) == 2)]
def where(t):
    for i, (start, end, bounds, users) in enumerate(cycles):
        for k, a, z in bounds:
            if a <= t <= z:
                return f"cycle {i} ({users} users), {k}"
    return "between cycles"
for i, (start, end, bounds, users) in enumerate(cycles):
    inside = [(t, r) for t, r in samples if start <= t <= end]
    if not inside:
        continue
    t, peak = max(inside, key=lambda s: s[1])
    print(f"cycle {i:3d}: {users:6d} users, {inside[0][1]:5d} MiB at its start, peak {peak:5d} MiB in {where(t).split(', ')[-1]}")
t, peak = max(samples, key=lambda s: s[1])
print(f"peak RSS {peak} MiB, {where(t)}")
PY
