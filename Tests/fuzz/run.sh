#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of every reader of outside bytes.
#   Tests/fuzz/run.sh                 every target for FUZZ_SECONDS (default 60) each
#   Tests/fuzz/run.sh listen track    only those targets
# Seeds come from `userrep-fuzz --write-seeds` (the tests' synthetic data); the corpus grows in
# Tests/fuzz/corpus/TARGET (not committed). A crash leaves its input in Tests/fuzz/crashes/TARGET; add it to
# Tests/UserRepPipelineTests/FuzzRegressions/TARGET/ so the normal suite replays it.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
targets=("$@")
if ((${#targets[@]} == 0)); then targets=(listen onboarding track state-codec safetensors manifest); fi

echo "building the fuzz driver with -sanitize=fuzzer,address (own scratch path .build-fuzz)" >&2
swift build --scratch-path .build-fuzz --product userrep-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
driver=.build-fuzz/debug/userrep-fuzz
swift build --product userrep-fuzz >&2
rm -rf Tests/fuzz/seeds && .build/debug/userrep-fuzz --write-seeds Tests/fuzz/seeds

status=0
for t in "${targets[@]}"; do
  mkdir -p "Tests/fuzz/corpus/$t" "Tests/fuzz/crashes/$t"
  echo "== $t: ${SECONDS_EACH}s" >&2
  log="Tests/fuzz/crashes/$t/last.log"
  if USERREP_FUZZ_TARGET="$t" "$driver" -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=4096 \
      -artifact_prefix="Tests/fuzz/crashes/$t/" "Tests/fuzz/corpus/$t" "Tests/fuzz/seeds/$t" > "$log" 2>&1; then
    echo "$t: $(grep -E '^#[0-9]+.*DONE|^Done' "$log" | tail -1) $(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)"
  else
    status=1
    echo "$t: FAILED, see $log and Tests/fuzz/crashes/$t/" >&2
    grep -E "ERROR|Fatal error|SUMMARY" "$log" | head -5 >&2 || true
  fi
done
exit $status
