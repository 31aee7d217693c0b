#!/usr/bin/env bash
# Regenerates the committed Swift code for schemas/*.proto. Needs protoc (Debian protobuf-compiler)
# and protoc-gen-swift from apple/swift-protobuf 1.39.0 (swift build -c release --product protoc-gen-swift).
set -euo pipefail
cd "$(dirname "$0")/.."
PLUGIN="${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift)}"
protoc --plugin=protoc-gen-swift="$PLUGIN" --swift_opt=Visibility=Public \
  --swift_out=Sources/UserRepPipeline/Generated -I schemas schemas/*.proto
