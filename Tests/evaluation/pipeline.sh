#!/usr/bin/env bash
# The training and evaluation pipeline on event files, end to end through the embedded Kafka cluster:
#   tracks build (co-occurrence before the split + content vectors) → replay topics →
#   backfill --until SPLIT → features export --as-of SPLIT → train → evaluate → WORK/report.json.
# Usage: Tests/evaluation/pipeline.sh WORK
#   WORK holds listens.jsonl, onboarding.jsonl, content.jsonl ({"track_id","artist_id","content"})
#   and settings.env (COUNTRIES, LANGUAGES, AUDIO_DIMS, COLLABORATIVE_DIMS, BATCH, NAME, SPLIT);
#   each WORK/NAME.vectors.jsonl is scored too (`evaluate --vectors NAME=...`).
# Environment: USERREP (binary; default .build/release/userrep, else .build/debug/userrep),
#   LAYERS (default 256,120), EPOCHS (default 200), SEED (default 1), REPEATS (default 10),
#   THREADS (BLAS threads of train and evaluate; default: the core count),
#   TRAIN_ARGS (extra options for train), EVALUATE_ARGS (extra options for evaluate),
#   PARTITIONS (of the replay topics; default 8, enough for ~300k listens).
set -euo pipefail
work="$1"
bin="${USERREP:-}"
if [ -z "$bin" ]; then
  if [ -x .build/release/userrep ]; then bin=.build/release/userrep; else bin=.build/debug/userrep; fi
fi
layers="${LAYERS:-256,120}"
epochs="${EPOCHS:-200}"
seed="${SEED:-1}"
repeats="${REPEATS:-10}"
threads=()
if [ -n "${THREADS:-}" ]; then threads=(--threads "$THREADS"); fi
# shellcheck disable=SC1091
source "$work/settings.env"
dims=(--audio-dims "$AUDIO_DIMS" --collaborative-dims "$COLLABORATIVE_DIMS")
"$bin" tracks build --listens "$work/listens.jsonl" --until "$SPLIT" --content "$work/content.jsonl" \
  --output "$work/tracks.jsonl" --embedding-batch-id "$BATCH" "${dims[@]}"
"$bin" model init --output "$work/layout" --batch-id "$NAME-layout" --embedding-batch-id "$BATCH" "${dims[@]}" \
  --preset context --countries "$COUNTRIES" --languages "$LANGUAGES" >/dev/null

# PARTITIONS (default 8) keep each under the embedded cluster's ~5 MiB: 8 hold ~300k listens.
"$bin" cluster --bootstrap-file "$work/kafka" --topic listens-replay --topic onboarding-replay --partitions "${PARTITIONS:-8}" >/dev/null &
cluster=$!
trap 'kill $cluster 2>/dev/null || true; wait $cluster 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$work/kafka" ] && break; sleep 0.1; done
[ -s "$work/kafka" ] || { echo "the embedded cluster did not start" >&2; exit 1; }
kafka=(--bootstrap-servers "$(cat "$work/kafka")")
"$bin" tracks import "${kafka[@]}" --file "$work/tracks.jsonl" "${dims[@]}"
"$bin" events import "${kafka[@]}" --file "$work/listens.jsonl" --topic listens-replay
"$bin" events import "${kafka[@]}" --file "$work/onboarding.jsonl" --kind onboarding --topic onboarding-replay
"$bin" backfill "${kafka[@]}" --replay-topic listens-replay --onboarding-replay-topic onboarding-replay \
  --model "$work/layout/manifest.json" --state-dir "$work/state" --until "$SPLIT" --no-publish --log-level error 2>&1 \
  | grep -v '^%4|.*AUTOCREATE' >&2
kill $cluster; wait $cluster 2>/dev/null || true
trap - EXIT

"$bin" features export --state-dir "$work/state" --model "$work/layout/manifest.json" --tracks-file "$work/tracks.jsonl" \
  --listens "$work/listens.jsonl" --output "$work/features.safetensors" --as-of "$SPLIT" --log-level warning
# shellcheck disable=SC2086
"$bin" train --features "$work/features.safetensors" --output "$work/model" --batch-id "$NAME-ae-1" \
  --layers "$layers" --epochs "$epochs" --seed "$seed" "${threads[@]}" ${TRAIN_ARGS:-}
external=()
for f in "$work"/*.vectors.jsonl; do
  if [ -e "$f" ]; then external+=(--vectors "$(basename "$f" .vectors.jsonl)=$f"); fi
done
# shellcheck disable=SC2086
"$bin" evaluate --features "$work/features.safetensors" --model "$work/model/manifest.json" \
  --listens "$work/listens.jsonl" --onboarding "$work/onboarding.jsonl" --tracks-file "$work/tracks.jsonl" \
  --seed "$seed" --repeats "$repeats" --json "$work/report.json" "${threads[@]}" "${external[@]}" ${EVALUATE_ARGS:-}
