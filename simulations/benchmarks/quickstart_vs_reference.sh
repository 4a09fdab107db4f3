#!/usr/bin/env bash
# quickstart_vs_reference.sh [--rounds R] [--out DIR]
#
# Runs the quickstart federation (fedge-sim: 10 clients + coordinator over mutual TLS on
# loopback), then the single-process Python reference of the same workload
# (/work/shared/reference/fedavg_inprocess.py) with the same number of rounds, one after the
# other, and prints their mean seconds per round, the ratio fedge/reference (target <= 0.85),
# fedge's start-up time (target < 2 s) and both final accuracies. The targets are printed,
# never enforced: the exit status is non-zero only if something failed to run.
# Run from the repository root after building build/simulations/fedge-sim.
set -euo pipefail

readonly SCENARIO=simulations/quickstart.toml
readonly SIM=build/simulations/fedge-sim
readonly REFERENCE=${FEDGE_REFERENCE:-/work/shared/reference/fedavg_inprocess.py}
readonly PY=/usr/bin/python3  # python3-torch and python3-numpy are Debian packages

die() { echo "quickstart_vs_reference: $*" >&2; exit 1; }
# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Both programs spin-wait in OpenMP: another busy process on this 2-core machine slows them
# far more than its own share, so say when the machine is not idle (CPU use over 1 s, from
# /proc/stat; the load average would still count the previous run).
warn_if_busy() {
  local busy
  busy=$(cpu_busy_percent)
  if (( busy >= 10 )); then
    echo "note: the CPUs are ${busy}% busy before $1 starts; other work on this machine makes" \
         "the timings noisy (and OpenMP spin-waiting makes them much worse than its share)"
  fi
}

# The OpenBLAS kernel family the reference gets in this environment. fedge repairs OpenBLAS's
# choice itself (ml::ConfigureRuntime); Python does not, so on CPUs OpenBLAS 0.3.21 does not
# know it runs the SSE3 "Prescott" kernels unless OPENBLAS_CORETYPE is set. Reported, not changed.
reference_blas_core() {
  "$PY" -c 'import ctypes
f = ctypes.CDLL("libblas.so.3").openblas_get_corename
f.restype = ctypes.c_char_p
print(f().decode())' 2>/dev/null || echo "unknown (not OpenBLAS?)"
}

# All of the work is in main, called on the last line, so bash has parsed it all before it
# starts: editing this file during a run cannot break the run.
main() {
  local rounds="" out=out/bench-quickstart scenario report ref_log
  local n_rounds fedge_mean fedge_median fedge_startup fedge_acc fedge_blas
  local ref_rounds ref_mean ref_median ref_acc ref_core
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --rounds) [[ $# -ge 2 ]] || die "--rounds needs a value"; rounds=$2; shift 2 ;;
      --out) [[ $# -ge 2 ]] || die "--out needs a directory"; out=$2; shift 2 ;;
      -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) die "unknown argument '$1' (usage: $0 [--rounds R] [--out DIR])" ;;
    esac
  done
  if [[ -n "$rounds" && ! "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    die "--rounds must be a positive integer, got '$rounds'"
  fi

  [[ -f "$SCENARIO" ]] || die "$SCENARIO not found: run this from the repository root"
  [[ -d build ]] || die "build/ is missing: configure and build first (cmake -S . -B build && cmake --build build --target fedge-sim -j2)"
  [[ -x "$SIM" ]] || die "$SIM is missing: build it first (cmake --build build --target fedge-sim -j2)"
  [[ -x "$PY" ]] || die "$PY not found (the reference needs Debian's python3 with python3-torch)"
  [[ -f "$REFERENCE" ]] || die "reference script $REFERENCE not found (set FEDGE_REFERENCE)"

  mkdir -p "$out"
  scenario=$SCENARIO
  if [[ -n "$rounds" ]]; then
    # A copy of the scenario with [scenario] rounds replaced; the data dir there is absolute.
    scenario="$out/scenario-rounds-$rounds.toml"
    "$PY" - "$SCENARIO" "$scenario" "$rounds" <<'EOF' || die "cannot write $scenario"
import re, sys
src, dst, rounds = sys.argv[1], sys.argv[2], sys.argv[3]
text, n = re.subn(r"(?m)^(\s*rounds\s*=\s*)\d+", r"\g<1>" + rounds, open(src).read(), count=1)
if n != 1:
    sys.exit(f"no 'rounds = N' line in {src}")
open(dst, "w").write(text)
EOF
  fi

  warn_if_busy fedge-sim
  echo "== fedge-sim $scenario --out $out"
  "$SIM" "$scenario" --out "$out" || die "fedge-sim failed (see above)"
  report="$out/report.json"
  [[ -f "$report" ]] || die "fedge-sim wrote no $report"

  # rounds, mean and median round, start-up, accuracy, BLAS, from the report.
  read -r n_rounds fedge_mean fedge_median fedge_startup fedge_acc fedge_blas < <(
    "$PY" - "$report" <<'EOF'
import json, statistics, sys
r = json.load(open(sys.argv[1]))
t = r["timing"]
median = statistics.median(x["seconds"] for x in r["rounds"]) if r["rounds"] else 0
print(r["scenario"]["rounds"], t["mean_round_seconds"], median, t["startup_seconds"],
      r["final"]["accuracy"], r.get("runtime", {}).get("blas") or "?")
EOF
  ) || die "cannot parse $report"

  ref_log="$out/reference.log"
  ref_core=$(reference_blas_core)
  warn_if_busy "the reference"
  echo "== $PY $REFERENCE rounds=$n_rounds  (log: $ref_log)"
  "$PY" "$REFERENCE" "rounds=$n_rounds" 2>&1 | tee "$ref_log" || die "the reference failed (see $ref_log)"

  # "round N acc X t Ts" lines (t cumulative): mean = last t / rounds; median of the steps.
  read -r ref_rounds ref_mean ref_median ref_acc < <("$PY" - "$ref_log" <<'EOF'
import re, statistics, sys
rounds = [re.match(r"round (\d+) acc ([0-9.]+) t ([0-9.]+)s", line) for line in open(sys.argv[1])]
rounds = [m for m in rounds if m]
if not rounds:
    sys.exit("no 'round N acc X t Ts' line")
t = [0.0] + [float(m.group(3)) for m in rounds]
n = int(rounds[-1].group(1))
print(n, t[-1] / n, statistics.median(b - a for a, b in zip(t, t[1:])), rounds[-1].group(2))
EOF
  ) || die "cannot parse the reference's output in $ref_log"
  [[ "$ref_rounds" == "$n_rounds" ]] || die "the reference ran $ref_rounds rounds, fedge $n_rounds"

  "$PY" - "$n_rounds" "$fedge_mean" "$ref_mean" "$fedge_startup" "$fedge_acc" "$ref_acc" \
    "$fedge_median" "$ref_median" "$fedge_blas" "$ref_core" "${OPENBLAS_CORETYPE:-unset}" <<'EOF'
import sys
rounds, fedge, ref, startup, facc, racc, fmed, rmed = (float(x) for x in sys.argv[1:9])
blas, ref_core, coretype = sys.argv[9:12]
ratio = fedge / ref
def verdict(ok):
    return "meets target" if ok else "MISSES target"
print()
print(f"quickstart vs in-process reference, {int(rounds)} rounds, run one after the other")
print(f"  fedge mean round          {fedge:8.2f} s   (timing.mean_round_seconds)")
print(f"  reference mean round      {ref:8.2f} s   (last cumulative t / rounds)")
print(f"  ratio fedge/reference     {ratio:8.3f}     target <= 0.85: {verdict(ratio <= 0.85)}")
print(f"  median round fedge / ref  {fmed:8.2f} s / {rmed:.2f} s = {fmed / rmed:.3f}"
      "   (less sensitive to other load)")
print(f"  fedge start-up            {startup:8.2f} s   target < 2 s:   {verdict(startup < 2)}")
print(f"  final accuracy fedge      {facc:8.4f}")
print(f"  final accuracy reference  {racc:8.4f}")
print(f"  fedge BLAS                {blas}")
print(f"  reference OpenBLAS core   {ref_core} (OPENBLAS_CORETYPE={coretype})")
if ref_core == "Prescott":
    print("  note: the reference ran OpenBLAS's SSE3 kernels while fedge picks AVX2/AVX-512 ones"
          " itself; export OPENBLAS_CORETYPE=SkylakeX (or Haswell) for a like-for-like run")
EOF
}

main "$@"; exit  # on one line: bash must not read past it after main returns
