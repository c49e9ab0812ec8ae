#!/usr/bin/env bash
# Regenerate the committed phantom benchmark reports in benchmarks/results/ (x86_64 + arm64 EMULATED).
#
# Usage: bash benchmarks/run_phantom_bench.sh
#
# 1. `fetaledge build --target arm64` with the default embedded config (the phantom benchmark configuration);
#    stages are cached in $WORK, so a re-run only redoes what changed (a first run takes 10-15 min on 2 cores).
# 2. the arm64 emulator (cached; a no-op when it is set up already).
# 3. `fetaledge bench` on every artifact of that build, the side-by-side comparison, peak memory over a full
#    840-frame case, the qemu arm64 parity run and the ARM instruction counts -> benchmarks/results/phantom.{json,md},
#    phantom_*.png, phantom_arm_count.{json,md} and
#    phantom_arm64_emulated.{json,md,png}.
#
# Environment: WORK (default /tmp/fetaledge-bench/work), BUNDLE (default /tmp/fetaledge-bench/bundle),
# FETALEDGE (default: the project's .venv/bin/fetaledge, else `fetaledge` on PATH), BENCH_ARGS (extra options
# for `fetaledge bench`, e.g. "--repeats 9").
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WORK="${WORK:-/tmp/fetaledge-bench/work}"
BUNDLE="${BUNDLE:-/tmp/fetaledge-bench/bundle}"
if [[ -z "${FETALEDGE:-}" ]]; then
  if [[ -x "$REPO_ROOT/.venv/bin/fetaledge" ]]; then FETALEDGE="$REPO_ROOT/.venv/bin/fetaledge"; else FETALEDGE=fetaledge; fi
fi

cd "$REPO_ROOT"
"$FETALEDGE" build --target arm64 --out "$BUNDLE" --work "$WORK"
bash benchmarks/arm64/setup_arm64.sh
# shellcheck disable=SC2086
"$FETALEDGE" bench --work "$WORK" --bundle "$BUNDLE" --target arm64 --emulate --arm-count \
  --out benchmarks/results --label phantom ${BENCH_ARGS:-}
