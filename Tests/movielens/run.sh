#!/usr/bin/env bash
# The whole pipeline on MovieLens-100K, end to end, through the embedded Kafka cluster:
#   fetch → convert (convert.py documents the mapping) → tracks build (co-occurrence before T,
#   genres + year as content) → replay topics → backfill --until T → features export --as-of T
#   → train → evaluate (future listening, cold start, cluster nDCG@50) → WORK/report.json.
# Usage: Tests/movielens/run.sh [WORK]   (default .build/movielens/run)
# Environment: USERREP (binary; default .build/release/userrep, else .build/debug/userrep),
#   SPLIT (default 2025-12-01T00:00:00Z, i.e. 1997-12-01 before the 28-year shift),
#   LAYERS (default 256,120), EPOCHS (default 200), SEED (default 1), EVALUATE_ARGS (extra options).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="${1:-.build/movielens/run}"
bin="${USERREP:-}"
if [ -z "$bin" ]; then
  if [ -x .build/release/userrep ]; then bin=.build/release/userrep; else bin=.build/debug/userrep; fi
fi
split="${SPLIT:-2025-12-01T00:00:00Z}"
layers="${LAYERS:-256,120}"
epochs="${EPOCHS:-200}"
seed="${SEED:-1}"
data=$("$here/fetch.sh" "${MOVIELENS_DATA:-.build/movielens/data}")
rm -rf "$work"
mkdir -p "$work"
python3 "$here/convert.py" "$data" "$work"
# shellcheck disable=SC1091
source "$work/vocab.env"
dims=(--audio-dims "$CONTENT_DIMS" --collaborative-dims 32)
batch=ml100k-emb-1
"$bin" tracks build --listens "$work/listens.jsonl" --until "$split" --content "$work/content.jsonl" \
  --output "$work/tracks.jsonl" --embedding-batch-id "$batch" "${dims[@]}"
"$bin" model init --output "$work/layout" --batch-id ml100k-layout --embedding-batch-id "$batch" "${dims[@]}" \
  --preset context --countries "$COUNTRIES" --languages "$LANGUAGES" >/dev/null

# 100k listens are ~9 MB of JSON: 8 partitions keep each under the embedded cluster's ~5 MiB.
"$bin" cluster --bootstrap-file "$work/kafka" --topic listens-replay --topic onboarding-replay --partitions 8 >/dev/null &
cluster=$!
trap 'kill $cluster 2>/dev/null || true; wait $cluster 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/kafka" ] && break; sleep 0.1; done
[ -s "$work/kafka" ] || { echo "the embedded cluster did not start" >&2; exit 1; }
kafka=(--bootstrap-servers "$(cat "$work/kafka")")
"$bin" tracks import "${kafka[@]}" --file "$work/tracks.jsonl" "${dims[@]}"
"$bin" events import "${kafka[@]}" --file "$work/listens.jsonl" --topic listens-replay
"$bin" events import "${kafka[@]}" --file "$work/onboarding.jsonl" --kind onboarding --topic onboarding-replay
"$bin" backfill "${kafka[@]}" --replay-topic listens-replay --onboarding-replay-topic onboarding-replay \
  --model "$work/layout/manifest.json" --state-dir "$work/state" --until "$split" --no-publish --log-level warning
kill $cluster; wait $cluster 2>/dev/null || true
trap - EXIT

"$bin" features export --state-dir "$work/state" --model "$work/layout/manifest.json" --tracks-file "$work/tracks.jsonl" \
  --output "$work/features.safetensors" --as-of "$split" --log-level warning
"$bin" train --features "$work/features.safetensors" --output "$work/model" --batch-id ml100k-ae-1 \
  --layers "$layers" --epochs "$epochs" --seed "$seed"
# shellcheck disable=SC2086
"$bin" evaluate --features "$work/features.safetensors" --model "$work/model/manifest.json" \
  --listens "$work/listens.jsonl" --onboarding "$work/onboarding.jsonl" --tracks-file "$work/tracks.jsonl" \
  --seed "$seed" --json "$work/report.json" ${EVALUATE_ARGS:-}
