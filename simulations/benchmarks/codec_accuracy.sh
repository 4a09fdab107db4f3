#!/usr/bin/env bash
# codec_accuracy.sh [--rounds R] [--scenario FILE] [--topk-fraction F] [--out DIR]
#
# Runs the same federation (default: the quickstart scenario, 8 rounds) once per update codec
# (fp32, fp16, int8, topk_int8) and prints, against the fp32 run of the same invocation, the
# bytes clients sent (report.json traffic.bytes_up) and the final test accuracy. Aims (issue 4):
# int8 <= 0.27x and topk_int8 <= 0.05x the fp32 bytes, each losing <= 1 point of accuracy.
# The aims are printed, never enforced. Run from the repository root after building.
set -euo pipefail

rounds=8
scenario=simulations/quickstart.toml
fraction=0.07
out=out/bench-codecs
while (($#)); do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --scenario) scenario=$2; shift 2 ;;
    --topk-fraction) fraction=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "codec_accuracy: unknown argument $1" >&2; exit 2 ;;
  esac
done
readonly SIM=build/simulations/fedge-sim
[[ -x $SIM ]] || { echo "codec_accuracy: build first (scripts/setup)" >&2; exit 1; }
mkdir -p "$out"

for codec in fp32 fp16 int8 topk_int8; do
  # The scenario with its round count and codec replaced (keys under [scenario] / [training]).
  awk -v r="$rounds" -v c="$codec" -v f="$fraction" '
    /^\[/ { section = $0 }
    section == "[scenario]" && /^rounds *=/ { print "rounds = " r; next }
    section == "[scenario]" && /^name *=/ { print "name = \"codec-" c "\""; next }
    /^\[training\]/ { print; print "codec = \"" c "\""; print "topk_fraction = " f; next }
    /^codec *=|^topk_fraction *=/ { next }
    { print }' "$scenario" > "$out/$codec.toml"
  echo "== $codec"
  "$SIM" "$out/$codec.toml" --out "$out/$codec" --quiet > "$out/$codec.log" 2>&1 ||
    { tail -20 "$out/$codec.log"; exit 1; }
done

python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = {c: json.load(open(f"{out}/{c}/report.json")) for c in ["fp32", "fp16", "int8", "topk_int8"]}
base = runs["fp32"]
b0, a0 = base["traffic"]["bytes_up"], base["final"]["accuracy"]
aims = {"int8": 0.27, "topk_int8": 0.05}
print(f"{'codec':10} {'bytes up':>12} {'x fp32':>7} {'accuracy':>9} {'points':>7}  aim")
for c, r in runs.items():
    b, a = r["traffic"]["bytes_up"], r["final"]["accuracy"]
    aim = f"bytes <= {aims[c]}x, loss <= 1 point" if c in aims else ""
    ok = "" if c not in aims else ("  met" if b / b0 <= aims[c] and (a0 - a) * 100 <= 1 else "  MISSED")
    print(f"{c:10} {b:12d} {b / b0:7.3f} {a:9.4f} {(a - a0) * 100:+7.2f}  {aim}{ok}")
PY
