#!/usr/bin/env bash
# Fails if any binary listed in $1 (one path a line: fedgectl and the tests CMake did not label
# `torch`) loads libtorch at start-up. Debian's torch target forces --no-as-needed, so one stray
# link of a library that links LibTorch costs every process of that binary ~1 s.
set -euo pipefail
list=${1:?usage: check_torch_free.sh LIST_FILE}
checked=0
bad=0
while IFS= read -r bin; do
  [[ -n "$bin" ]] || continue
  if [[ ! -x "$bin" ]]; then
    echo "missing test binary: $bin (build it first)" >&2
    bad=1
    continue
  fi
  if ldd "$bin" | grep -E 'libtorch(_cpu)?\.so|libc10\.so' >/dev/null; then
    echo "$bin loads LibTorch but is not labelled 'torch': remove fedge_ml from its link" \
         "or let tests/CMakeLists.txt label it" >&2
    bad=1
  fi
  checked=$((checked + 1))
done <"$list"
if ((checked == 0)); then
  echo "no torch-free binaries listed in $list" >&2
  exit 1
fi
echo "$checked torch-free binaries checked"
exit $bad
