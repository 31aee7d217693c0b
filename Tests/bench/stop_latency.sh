#!/usr/bin/env bash
# How long the worker takes to notice the end (issue 16, goal 3): the gap from the last cycle's log line
# to "worker stopped", for `run --stop-when-caught-up` and for `backfill`, on an embedded cluster
# with PARTITIONS partitions and 20k listens.
# Usage: Tests/bench/stop_latency.sh PARTITIONS [BIN]   (BIN default .build/release/userrep)
set -euo pipefail
P=$1; bin=${2:-.build/release/userrep}
W=$(mktemp -d)
B=$bin
$B cluster --partitions $P --bootstrap-file $W/kafka >/dev/null &
C=$!
trap "kill $C; wait $C 2>/dev/null || true; rm -rf $W" EXIT
while [ ! -s $W/kafka ]; do sleep 0.1; done
K="--bootstrap-servers $(cat $W/kafka)"
$B events generate --output-dir $W --users 5000 --tracks 1000 --listens 20000 --taste-clusters 0 --dims 80 --first-session 0 --embedding-batch-id emb-demo-1 >/dev/null
$B tracks import $K --file $W/tracks.jsonl >/dev/null
$B events import $K --file $W/listens.jsonl >/dev/null
$B model init --output $W/m >/dev/null
gap() { python3 -c "
import sys, datetime
lines=[l for l in open('$1') if l[:2]=='20']
def t(l): return datetime.datetime.strptime(l.split()[0], '%Y-%m-%dT%H:%M:%S.%fZ')
cyc=[l for l in lines if '] cycle' in l]; stop=[l for l in lines if 'worker stopped' in l]
start=t(lines[0])
print('first log -> last cycle %.3f s, last cycle -> stopped %.3f s' % ((t(cyc[-1])-start).total_seconds(), (t(stop[-1])-t(cyc[-1])).total_seconds()))"; }
$bin run $K --model $W/m/manifest.json --state-dir $W/st --stop-when-caught-up --log-level debug >/dev/null 2>$W/run.log
echo "P=$P run:      $(gap $W/run.log)"
$bin backfill $K --replay-topic listens --model $W/m/manifest.json --state-dir $W/bf --no-publish --log-level debug >/dev/null 2>$W/bf.log
echo "P=$P backfill: $(gap $W/bf.log)"
