#!/usr/bin/env bash
# ml_vs_pytorch.sh [--arch cnn_color] [--epochs E] [--examples N] [--frames F] [--threads T]
#                  [--bin PATH]
#
# Runs ml_bench (fedge_ml, C++) and torch_reference.py (the same network in python3-torch)
# back to back, then again in reverse order (C++, Python, Python, C++), each with 2 threads
# (--threads), SGD lr 0.05 momentum 0.9 batch 64 on the same number of random 3x32x32 examples,
# then prints
# both sides' training img/s and batch-1 latency p50/p95/p99 and the ratios
# C++/Python (throughput, target >= 1.0) and Python/C++ (latency, target >= 1.0).
# Both sides get the same runtime tuning: the C++ side calls ml::ConfigureRuntime (mallopt
# thresholds, OpenBLAS kernel repair); Python gets the same malloc thresholds through glibc's
# MALLOC_*_ environment variables and the OpenBLAS core the C++ side reported. Targets are
# printed, never enforced; the exit status is non-zero only if something failed to run.
# Run from the repository root after building ml_bench (default build/..., see --bin).
set -euo pipefail

readonly PY=/usr/bin/python3  # Debian's python3 with python3-torch
readonly HERE=$(dirname "${BASH_SOURCE[0]}")

die() { echo "ml_vs_pytorch: $*" >&2; exit 1; }
# shellcheck source=common.sh
source "$HERE/common.sh"

# field NAME LINE: the value of NAME=value in a RESULT line.
field() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" <<<"$2"; }

main() {
  local arch=cnn_color epochs=2 examples=4096 frames=500 threads=2
  local bin=build/simulations/benchmarks/ml_bench
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --arch|--epochs|--examples|--frames|--threads|--bin)
        [[ $# -ge 2 ]] || die "$1 needs a value"
        local name=${1#--}; printf -v "$name" '%s' "$2"; shift 2 ;;
      -h|--help) sed -n '2,16s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) die "unknown argument '$1' (see --help)" ;;
    esac
  done
  [[ -x "$bin" ]] || die "$bin is missing: cmake --build build --target ml_bench -j2 (or --bin)"
  [[ -x "$PY" ]] || die "$PY not found (the reference needs python3-torch)"
  local common=(--arch "$arch" --epochs "$epochs" --examples "$examples" --frames "$frames"
                --threads "$threads")
  local busy cpp=() py=() out core params
  busy=$(cpu_busy_percent)
  (( busy < 10 )) || echo "note: the CPUs are ${busy}% busy before the runs; timings are noisy"

  for side in cpp py py cpp; do
    if [[ $side == cpp ]]; then
      echo "== $bin ${common[*]}"
      out=$("$bin" "${common[@]}") || die "ml_bench failed"
      core=$(sed -n 's/.*(\([A-Za-z0-9]*\))$/\1/p' <<<"$out" | head -1)
      params=$(field params "$(grep '^RESULT' <<<"$out")")
      cpp+=("$(grep '^RESULT' <<<"$out")")
    else
      echo "== $PY $HERE/torch_reference.py ${common[*]} (OPENBLAS_CORETYPE=${core:-unset})"
      out=$(MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824 \
            OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core} \
            "$PY" "$HERE/torch_reference.py" "${common[@]}" --expect-params "$params") ||
        die "torch_reference.py failed"
      py+=("$(grep '^RESULT' <<<"$out")")
    fi
    echo "$out"
  done

  echo
  echo "$arch, $params parameters, $threads threads, $examples examples x $epochs epochs, $frames frames"
  printf '%-8s %10s %10s %7s %12s %12s %7s %9s %9s\n' pair "C++ img/s" "Py img/s" "C++/Py" \
    "C++ img/cpus" "Py img/cpus" "C++/Py" "Py/C++p50" "Py/C++p99"
  local i c p
  for i in 0 1; do
    c=${cpp[$i]}; p=${py[$i]}
    awk -v pair="$( ((i == 0)) && echo "C++,Py" || echo "Py,C++")" \
        -v ct="$(field train_img_s "$c")" -v pt="$(field train_img_s "$p")" \
        -v cc="$(field train_img_cpu_s "$c")" -v pc="$(field train_img_cpu_s "$p")" \
        -v c50="$(field p50_ms "$c")" -v p50="$(field p50_ms "$p")" \
        -v c99="$(field p99_ms "$c")" -v p99="$(field p99_ms "$p")" \
        'BEGIN { printf "%-8s %10.1f %10.1f %7.2f %12.1f %12.1f %7.2f %9.2f %9.2f\n",
                 pair, ct, pt, ct / pt, cc, pc, cc / pc, p50 / c50, p99 / c99 }'
  done
  for i in 0 1; do
    echo "latency ms (p50/p95/p99) run $((i + 1)): C++ $(field p50_ms "${cpp[$i]}")/$(field p95_ms "${cpp[$i]}")/$(field p99_ms "${cpp[$i]}")" \
         " Python $(field p50_ms "${py[$i]}")/$(field p95_ms "${py[$i]}")/$(field p99_ms "${py[$i]}")"
  done
  echo "img/cpus: training images per CPU-second of the process (all threads; OpenMP spinning"
  echo "counts), less sensitive to other load than wall-clock img/s at 1 thread"
  echo "targets: C++/Py img/s >= 1.0, Py/C++ latency >= 1.0 (printed, not enforced)"
}

main "$@"; exit  # on one line: bash must not read past it after main returns
