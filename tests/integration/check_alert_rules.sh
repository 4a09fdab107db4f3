#!/bin/sh
# ctest: the example alerting rules must pass `promtool check rules` (Debian package
# `prometheus`). A missing promtool is a failure, not a skip: scripts/setup installs it.
set -eu
rules="$1"
if ! command -v promtool >/dev/null 2>&1; then
  echo "promtool not found: run scripts/setup (it installs Debian's prometheus package)" >&2
  exit 1
fi
promtool check rules "$rules"
