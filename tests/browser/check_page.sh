#!/usr/bin/env bash
# check_page.sh: loads a page in headless Chromium and checks what the browser made of it.
#
#   tests/browser/check_page.sh [options] URL_OR_FILE
#     --text TEXT            the rendered page's text contains TEXT            (repeatable)
#     --absent TEXT          the rendered DOM does not contain TEXT            (repeatable)
#     --selector SEL         at least one element matches SEL                  (repeatable)
#     --count SEL=N          exactly N elements match SEL                      (repeatable)
#     --screenshot FILE      keep a PNG screenshot at FILE (its path is printed)
#     --dom FILE             keep the DOM Chromium serialised at FILE
#     --window-size W,H      viewport for the screenshot (default 1280,2000)
#     --ca-cert PEM          trust PEM as a root CA for this run only (throw-away NSS database;
#                            needs certutil from libnss3-tools). For HTTPS pages signed by a
#                            project CA; certificate errors are never ignored.
#     --chromium-flag FLAG   one more flag for Chromium, e.g. --virtual-time-budget=3000
#                            (repeatable)
#     --timeout SECONDS      per Chromium run (default 60)
#   SEL: tag#id.class[attr=value] parts separated by spaces (descendant), e.g.
#        'svg#chart-accuracy circle.point'. Checks run on the DOM after the page loaded.
#   Chromium is $CHROMIUM, else `chromium` on PATH. Exit: 0 all checks pass, 1 a check failed or
#   the page did not load, 2 bad usage or a missing tool (run scripts/setup).
set -u -o pipefail

here="$(cd "$(dirname "$0")" && pwd)"
usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "check_page: $*" >&2; exit 2; }

checks=() flags=() screenshot="" dom_out="" window="1280,2000" ca="" timeout_s=60 url=""
while [ $# -gt 0 ]; do
  case "$1" in
    --text) checks+=("text=${2?}"); shift 2 ;;
    --absent) checks+=("absent=${2?}"); shift 2 ;;
    --selector) checks+=("selector=${2?}"); shift 2 ;;
    --count) checks+=("count=${2?}"); shift 2 ;;
    --screenshot) screenshot="${2?}"; shift 2 ;;
    --dom) dom_out="${2?}"; shift 2 ;;
    --window-size) window="${2?}"; shift 2 ;;
    --ca-cert) ca="${2?}"; shift 2 ;;
    --chromium-flag) flags+=("${2?}"); shift 2 ;;
    --timeout) timeout_s="${2?}"; shift 2 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$url" ] || die "one page at a time ($url, $1)"; url="$1"; shift ;;
  esac
done
[ -n "$url" ] || usage

chromium="${CHROMIUM:-chromium}"
command -v "$chromium" > /dev/null ||
  die "$chromium not found: headless-browser tests need Debian's chromium package; run scripts/setup"
command -v python3 > /dev/null || die "python3 not found; run scripts/setup"
case "$url" in
  *://*) ;;
  *) [ -f "$url" ] || die "no such file: $url"; url="file://$(realpath "$url")" ;;
esac

# A private profile and HOME per run: no shared state between tests, and Chromium on Linux
# reads its trust store (NSS) from $HOME/.pki/nssdb.
work="$(mktemp -d "${TMPDIR:-/tmp}/fedge-check-page.XXXXXX")" || die "mktemp failed"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/home"
if [ -n "$ca" ]; then
  [ -f "$ca" ] || die "no such CA certificate: $ca"
  command -v certutil > /dev/null ||
    die "certutil not found: --ca-cert needs Debian's libnss3-tools package; run scripts/setup"
  mkdir -p "$work/home/.pki/nssdb"
  certutil -d "sql:$work/home/.pki/nssdb" -N --empty-password &&
    certutil -d "sql:$work/home/.pki/nssdb" -A -t "C,," -n fedge-test-ca -i "$ca" ||
    die "cannot add $ca to a throw-away NSS database"
fi

run_chromium() {  # run_chromium STDOUT_FILE EXTRA_FLAG...
  local out="$1"; shift
  HOME="$work/home" timeout "$timeout_s" "$chromium" --headless --disable-gpu --no-sandbox \
    --no-first-run --no-default-browser-check --disable-extensions --disable-sync \
    --user-data-dir="$work/profile" "${flags[@]}" "$@" "$url" > "$out" 2> "$work/stderr"
  local rc=$?
  if [ $rc -ne 0 ] || grep -q "Page load failed" "$work/stderr"; then
    echo "check_page: Chromium could not load $url (exit $rc):" >&2
    grep -v -e dbus -e 'unexpected operator' "$work/stderr" | tail -5 >&2
    exit 1
  fi
}

run_chromium "$work/dom.html" --dump-dom
[ -s "$work/dom.html" ] || { echo "check_page: Chromium returned an empty DOM for $url" >&2; exit 1; }
# Some Chromium versions (150 in Debian 12's main archive) exit 0 after a failed load and dump
# their error page instead of saying "Page load failed" (156 from bookworm-security): both fail.
if grep -q -e 'id="main-frame-error"' -e 'class="neterror' -e 'chrome-error://' \
  -e 'class="interstitial-wrapper"' "$work/dom.html"; then
  code="$(grep -o -m1 '"errorCode":"[A-Za-z_:]*"' "$work/dom.html" | head -1 | cut -d'"' -f4)"
  echo "check_page: Chromium could not load $url (its error page says ${code:-no error code})" >&2
  exit 1
fi
[ -z "$dom_out" ] || cp "$work/dom.html" "$dom_out"
if [ -n "$screenshot" ]; then
  mkdir -p "$(dirname "$screenshot")"
  rm -f "$screenshot"
  run_chromium /dev/null --screenshot="$(realpath -m "$screenshot")" --window-size="$window" \
    --hide-scrollbars
  [ -s "$screenshot" ] || { echo "check_page: Chromium wrote no screenshot" >&2; exit 1; }
  echo "screenshot: $(realpath "$screenshot")"
fi
python3 "$here/dom_check.py" "$work/dom.html" "${checks[@]}"
rc=$?
[ $rc -eq 0 ] && echo "check_page: all ${#checks[@]} checks passed on $url"
exit $rc
