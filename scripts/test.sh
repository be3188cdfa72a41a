#!/usr/bin/env bash
# Installs what is missing, builds OAG with its tests, and runs every test:
# the Catch2 unit tests (ctest) and the integration/end-to-end tests, which
# start real `oag` processes against fake upstreams and drive them with the
# official `openai` npm SDK.
#
#   scripts/test.sh              # everything
#   scripts/test.sh --unit       # unit tests only
#   scripts/test.sh --sanitize   # also build with -DOAG_SANITIZE=address,undefined
#                                # (build-asan/) and run the unit and
#                                # integration tests against that build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

unit_only=0; sanitize=0
for a in "$@"; do
  case "$a" in
    --unit) unit_only=1 ;;
    --sanitize) sanitize=1 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done

scripts/install-deps.sh

run_suite() {
  local build_dir="$1"
  echo "== unit tests ($build_dir)"
  ctest --test-dir "$build_dir" --output-on-failure
  if [ "$unit_only" = 0 ]; then
    echo "== integration tests ($build_dir)"
    (cd tests && OAG_BIN="$ROOT/$build_dir/bin/oag" npm test)
  fi
}

echo "== build"
OAG_BUILD_DIR=build scripts/build.sh
run_suite build

if [ "$sanitize" = 1 ]; then
  echo "== sanitizer build"
  OAG_BUILD_DIR=build-asan OAG_SANITIZE=address,undefined OAG_BUILD_TYPE=Debug scripts/build.sh
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 run_suite build-asan
fi
