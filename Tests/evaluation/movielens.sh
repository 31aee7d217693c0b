#!/usr/bin/env bash
# MovieLens-100K end to end: fetch (RecBole's wheel), convert (convert_movielens.py documents the
# mapping), then pipeline.sh (tracks build, replay, backfill --until, export, train, evaluate).
# Usage: Tests/evaluation/movielens.sh [WORK]   (default .build/evaluation/movielens); report in WORK/report.json.
# Environment: MOVIELENS_DATA (default .build/movielens/data), and pipeline.sh's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work="${1:-.build/evaluation/movielens}"
data=$("$here/fetch_movielens.sh" "${MOVIELENS_DATA:-.build/movielens/data}")
rm -rf "$work"
mkdir -p "$work"
python3 "$here/convert_movielens.py" "$data" "$work"
"$here/pipeline.sh" "$work"
