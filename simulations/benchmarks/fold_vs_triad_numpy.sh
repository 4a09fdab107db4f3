#!/usr/bin/env bash
# fold_vs_triad_numpy.sh [--updates N] [--reps R]
#
# Runs fold_throughput_bench (exact FedAvg fold throughput and a STREAM-like triad, same run),
# which writes its updates and fedge's mean to a temporary directory, then
# flower_fedavg_numpy.py (Flower-style FedAvg in NumPy) on the same updates, and prints
# fold/triad (target >= 0.4) and fold/numpy (target >= 2.0). Targets are printed, never
# enforced: the exit status is non-zero only if something failed to run or the two means
# disagree. Run from the repository root after building
# build/simulations/benchmarks/fold_throughput_bench.
set -euo pipefail

readonly BENCH=build/simulations/benchmarks/fold_throughput_bench
readonly NUMPY_SCRIPT=simulations/benchmarks/flower_fedavg_numpy.py
readonly PY=/usr/bin/python3  # Debian's python3 with python3-numpy
TMP_DIR=""
trap 'if [[ -n "$TMP_DIR" ]]; then rm -rf "$TMP_DIR"; fi' EXIT  # ~200 MB of updates

die() { echo "fold_vs_triad_numpy: $*" >&2; exit 1; }
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# CPU use over 1 s from /proc/stat: both programs are memory-bound single threads, and another
# busy process on this 2-core machine (a compiler) skews them differently.
warn_if_busy() {
  local busy
  busy=$(cpu_busy_percent)
  if (( busy >= 10 )); then
    echo "note: the CPUs are ${busy}% busy before $1 starts; the ratios are noisy, rerun idle"
  fi
}

# Value of key `k` in the last "RESULT k=v ..." line of file $2.
result() {
  awk -v k="$1" '/^RESULT / { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) v = kv[2] } }
                 END { if (v == "") exit 1; print v }' "$2"
}

verdict() {  # verdict VALUE TARGET -> "meets target" / "MISSES target"
  awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "meets target" : "MISSES target") }'
}

main() {
  local bench_args=() reps=7 tmp triad fold fold_ref numpy
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --updates) [[ $# -ge 2 ]] || die "--updates needs a value"; bench_args+=(--updates "$2"); shift 2 ;;
      --reps) [[ $# -ge 2 ]] || die "--reps needs a value"; reps=$2; shift 2 ;;
      -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) die "unknown argument '$1' (usage: $0 [--updates N] [--reps R])" ;;
    esac
  done
  [[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive integer, got '$reps'"
  [[ -f "$NUMPY_SCRIPT" ]] || die "$NUMPY_SCRIPT not found: run this from the repository root"
  [[ -x "$BENCH" ]] || die "$BENCH is missing: build it first (cmake --build build --target fold_throughput_bench -j2)"
  "$PY" -c 'import numpy' 2>/dev/null || die "$PY cannot import numpy (apt install python3-numpy)"

  TMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/fold_vs_numpy.XXXXXX")
  tmp=$TMP_DIR

  warn_if_busy fold_throughput_bench
  "$BENCH" --reps "$reps" --data-dir "$tmp" "${bench_args[@]}" | tee "$tmp/fold.log" \
    || die "fold_throughput_bench failed"
  echo
  warn_if_busy flower_fedavg_numpy.py
  "$PY" "$NUMPY_SCRIPT" "$tmp" --reps "$reps" | tee "$tmp/numpy.log" \
    || die "flower_fedavg_numpy.py failed (or its mean disagrees with fedge's)"

  triad=$(result triad_gbps "$tmp/fold.log") || die "no triad figure in fold_throughput_bench's output"
  fold=$(result fold_gbps "$tmp/fold.log") || die "no fold figure in fold_throughput_bench's output"
  fold_ref=$(result fold_const_ref_gbps "$tmp/fold.log") || die "no Fold(const&) figure"
  numpy=$(result numpy_gbps "$tmp/numpy.log") || die "no figure in flower_fedavg_numpy.py's output"
  local r_triad r_numpy r_ref
  r_triad=$(awk -v a="$fold" -v b="$triad" 'BEGIN { printf "%.3f", a / b }')
  r_numpy=$(awk -v a="$fold" -v b="$numpy" 'BEGIN { printf "%.3f", a / b }')
  r_ref=$(awk -v a="$fold_ref" -v b="$numpy" 'BEGIN { printf "%.3f", a / b }')
  echo
  echo "triad ${triad} GB/s, fold ${fold} GB/s (Fold(&&); Fold(const&) ${fold_ref} GB/s), numpy ${numpy} GB/s"
  echo "fold/triad = ${r_triad}   target >= 0.4: $(verdict "$r_triad" 0.4)"
  echo "fold/numpy = ${r_numpy}   target >= 2.0: $(verdict "$r_numpy" 2.0)"
  echo "(Fold(const&)/numpy = ${r_ref}, for reference)"
}

main "$@"
