#!/usr/bin/env bash
# robustness.sh [--quick] [--clients N] [--rounds R] [--per-client P] [--attacks "a b"]
#               [--strategies "s t"] [--quarantine K] [--out DIR]
#
# Issue 17's robustness table: Fashion-MNIST, Dirichlet(0.5), 20 clients of which 20% attack,
# 20 rounds, every attack x every aggregation strategy, plus each strategy without attackers.
# Each cell is one fedge-sim run (real clients over mTLS; the attackers are real fedge clients
# with a malicious trainer, simulations/adversary.h); the cell is the final test accuracy on the
# 10,000 test images. --quick: 10 clients, 5 rounds, 1,500 training examples each (minutes, not
# hours); --clients, --rounds and --per-client (training examples per site, 0 = its whole share)
# set them one by one. --quarantine K adds the defence ([defence] quarantine_after = K of window = 10
# rounds, coordinator/site_defence.h); each cell then also shows who was quarantined by round
# 10 as "attackers/honest" (e.g. 2/0: both attackers and no honest site). Prints the table;
# never fails on an accuracy. Run from the repository root after building. The full table
# takes hours on 2 cores.
set -euo pipefail

clients=20 rounds=20 per_client=0 quarantine=0
attacks="none sign_flip scaling noise label_flip alie ipm min_max"
strategies="fedavg median trimmed_mean multi_krum centered_clip"
out=out/bench-robustness
while (($#)); do
  case "$1" in
    --quick) clients=10 rounds=5 per_client=1500; shift ;;
    --clients) clients=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --per-client) per_client=$2; shift 2 ;;
    --attacks) attacks=$2; shift 2 ;;
    --strategies) strategies=$2; shift 2 ;;
    --quarantine) quarantine=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "robustness: unknown argument $1" >&2; exit 2 ;;
  esac
done
readonly SIM=build/simulations/fedge-sim
[[ -x $SIM ]] || { echo "robustness: build first (scripts/setup)" >&2; exit 1; }
mkdir -p "$out"

# Attack strengths: sign flip of the change, a x10 boost, noise of std 0.1 on every weight,
# labels y -> 9 - y, ALIE with the paper's z for n and f, IPM with epsilon 0.1 (Xie et al.'s
# setting against robust rules), min-max's largest undetectable step.
scale_of() { case "$1" in scaling) echo 10 ;; ipm) echo 0.1 ;; *) echo 1 ;; esac; }

width=14; ((quarantine > 0)) && width=20
printf '%-12s' attack; for s in $strategies; do printf ' %*s' "$width" "$s"; done; echo
for a in $attacks; do
  printf '%-12s' "$a"
  for s in $strategies; do
    name="$a-$s"
    fraction=0.2; [[ $a == none ]] && fraction=0
    kind=$a; [[ $a == none ]] && kind=sign_flip
    awk -v c="$clients" -v r="$rounds" -v p="$per_client" -v s="$s" -v n="$name" '
      /^\[scenario\]/ { print; print "name = \"robustness-" n "\""; print "clients = " c;
                        print "rounds = " r; next }
      /^(name|clients|rounds) = / { next }
      /^\[data\]/ { print; if (p > 0) print "max_train_per_client = " p; next }
      /^\[training\]/ { print; print "aggregation = \"" s "\""; next }
      { print }' simulations/quickstart.toml > "$out/$name.toml"
    printf '[adversary]\nfraction = %s\nkind = "%s"\nscale = %s\n' \
      "$fraction" "$kind" "$(scale_of "$a")" >> "$out/$name.toml"
    if ((quarantine > 0)); then
      printf '[defence]\nquarantine_after = %s\nwindow = 10\n' "$quarantine" >> "$out/$name.toml"
    fi
    if "$SIM" "$out/$name.toml" --out "$out/$name" --quiet > "$out/$name.log" 2>&1; then
      acc=$(sed -n 's/^final: test accuracy \([0-9.]*\).*/\1/p' "$out/$name.log")
      if ((quarantine > 0)); then
        acc+=" $(python3 -c 'import json, sys
d = json.load(open(sys.argv[1])).get("defence") or {}
b = d.get("by_round_10") or {}
print("%s/%s" % (b.get("attackers_quarantined", "-"), b.get("honest_quarantined", "-")))' \
          "$out/$name/report.json")"
      fi
      printf ' %*s' "$width" "${acc:-?}"
    else
      printf ' %*s' "$width" failed
    fi
  done
  echo
done
echo "(final test accuracy; logs and reports in $out)"
