#!/usr/bin/env bash
# A worker's restart on a real broker (Tansu, in-memory storage; issue 16's goal 2 there): one worker
# reads a backlog of LISTENS listens of USERS users with a TRACKS-track table, then restarts on its
# state directory ROUNDS times, each time after 1,000 more listens, alternating the binaries given
# (A B A B ...). Each restart reports when it was ready (track table loaded) and had run its first
# cycle, counted from its first log line and from its assignment (Tansu's group join takes ~23 s of a
# restart), the changelog partitions it rebuilt and records it restored, its CPU (user + sys) and peak
# RSS. KEEP=1 keeps the scratch directory (logs, state).
# Usage: Tests/bench/restart_real_broker.sh BIN_A [BIN_B]   (env: USERS, TRACKS, LISTENS, ROUNDS)
#   e.g. Tests/bench/restart_real_broker.sh /tmp/old/userrep .build/release/userrep
set -euo pipefail
cd "$(dirname "$0")/../.."
bins=("$@")
[ ${#bins[@]} -ge 1 ] || { echo "usage: $0 BIN_A [BIN_B]" >&2; exit 1; }
users=${USERS:-20000}; tracks=${TRACKS:-200000}; listens=${LISTENS:-100000}; rounds=${ROUNDS:-6}
tools=$(Tests/broker/fetch.sh .build/broker)
export LD_LIBRARY_PATH="$tools/lib"
W=$(mktemp -d)
source Tests/broker/tansu.sh
trap 'kill -9 ${TANSU_PID:-} 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "kept $W" >&2 || rm -rf "$W"' EXIT
start_tansu "$tools" "$W/tansu.log"
K="--bootstrap-servers 127.0.0.1:$TANSU_PORT"
B=${bins[0]}
extra=$((rounds * 1000))
$B events generate --output-dir "$W" --users "$users" --tracks "$tracks" --listens $((listens + extra)) \
  --taste-clusters 0 --dims 80 --embedding-batch-id emb-demo-1 >/dev/null
head -n "$listens" "$W/listens.jsonl" >"$W/backlog.jsonl"
tail -n "$extra" "$W/listens.jsonl" | split -l 1000 - "$W/more-"
$B topics create $K --partitions 8 >/dev/null
$B tracks import $K --file "$W/tracks.jsonl" >/dev/null
$B events import $K --file "$W/backlog.jsonl" >/dev/null
$B model init --output "$W/m" >/dev/null
run() { # binary, log name: one run to the end, its summary line on stdout
  /usr/bin/time -f "%U %S %M" -o "$W/$2.time" "$1" run $K --model "$W/m/manifest.json" --state-dir "$W/st" \
    --stop-when-caught-up --log-level debug >/dev/null 2>"$W/$2.log"
}
run "$B" first
echo "first run: $(grep -c '] cycle' "$W/first.log") cycles, cpu $(awk '{printf "%.1f s", $1 + $2}' "$W/first.time")"
i=0
for more in "$W"/more-*; do
  bin=${bins[$((i % ${#bins[@]}))]}
  $B events import $K --file "$more" >/dev/null
  run "$bin" "restart-$i"
  python3 - "$W/restart-$i.log" "$W/restart-$i.time" "$bin" <<'EOF'
import sys, datetime, re
lines = [l for l in open(sys.argv[1]) if l[:2] == '20']
def t(l): return datetime.datetime.strptime(l.split()[0], '%Y-%m-%dT%H:%M:%S.%fZ')
cycle = next((l for l in lines if '] cycle' in l), None)
assigned = next((l for l in lines if 'partitions assigned' in l), None)
ready = next((l for l in lines if 'ready: ' in l), None)
restored = sum(int(m.group(1)) for l in lines if 'restored state from the changelog' in l for m in [re.search(r'records=(\d+)', l)] if m)
rebuilt = sum('rebuilding it from the changelog' in l for l in lines)
user, sys_, rss = open(sys.argv[2]).read().split()[-3:]
def gap(a, b): return '%.2f s' % (t(b) - t(a)).total_seconds() if a and b else 'none'
print('%s: ready %s and first cycle %s after its first log line (%s after the group assigned its partitions); '
      '%d partitions rebuilt, %d changelog records restored; cpu %.2f s, peak rss %d MiB'
      % (sys.argv[3], gap(lines[0], ready), gap(lines[0], cycle), gap(assigned, cycle), rebuilt, restored,
         float(user) + float(sys_), int(rss) // 1024))
EOF
  i=$((i + 1))
done
