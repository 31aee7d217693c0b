#!/usr/bin/env bash
# The synthetic world end to end: `userrep events generate` (planted taste clusters, countries,
# sign-ups with onboarding picks and first sessions), its audio embeddings as the content vectors,
# then pipeline.sh (tracks build learns the collaborative half from co-occurrence before the split).
# Usage: Tests/evaluation/synthetic.sh [WORK]   (default .build/evaluation/synthetic); report in WORK/report.json.
# Environment: USERS (3000), TRACKS (2000), LISTENS (150000), CLUSTERS (8), and pipeline.sh's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="${1:-.build/evaluation/synthetic}"
bin="${USERREP:-}"
if [ -z "$bin" ]; then
  if [ -x .build/release/userrep ]; then bin=.build/release/userrep; else bin=.build/debug/userrep; fi
fi
rm -rf "$work"
mkdir -p "$work"
"$bin" events generate --output-dir "$work" --users "${USERS:-3000}" --tracks "${TRACKS:-2000}" --listens "${LISTENS:-150000}" \
  --taste-clusters "${CLUSTERS:-8}" --dims 32 --embedding-batch-id synth-emb-1
python3 - "$work" "${CLUSTERS:-8}" <<'PY'
import json, sys
work, clusters = sys.argv[1], int(sys.argv[2])
with open(work + "/content.jsonl", "w") as out:
    for line in open(work + "/tracks.jsonl"):
        r = json.loads(line)
        out.write(json.dumps({"track_id": r["track_id"], "artist_id": r["artist_id"], "content": r["audio"]}) + "\n")
# The truth the generator planted (user uN's taste cluster is N mod CLUSTERS), as a one-hot: the
# ceiling of what any representation can know of a user's taste in this world.
users = set()
for name in ("listens.jsonl", "onboarding.jsonl"):
    for line in open(f"{work}/{name}"):
        users.add(json.loads(line)["user_id"])
with open(work + "/planted-taste.vectors.jsonl", "w") as out:
    for u in sorted(users):
        c = int(u[1:]) % clusters
        out.write(json.dumps({"user_id": u, "vector": [1.0 if k == c else 0.0 for k in range(clusters)]}) + "\n")
PY
# The generator's timeline ends at 2026-09-21T13:46:40Z (1790000000000 ms); split 30 days before.
cat > "$work/settings.env" <<ENV
COUNTRIES=SE,US,BR,DE,JP
LANGUAGES=en,sv,pt,de,ja,es
AUDIO_DIMS=32
COLLABORATIVE_DIMS=32
BATCH=synth-emb-1
NAME=synthetic
SPLIT=1787408000000
ENV
"$here/pipeline.sh" "$work"
