#!/usr/bin/env bash
# Benchmark of parked Assistants runs (issue 4): how many runs waiting in
# requires_action one daemon holds, RSS per parked run and the idle CPU of
# the daemon holding them; then the time to resume them after a restart
# (SIGTERM, then kill -9): spawn → /readyz 200, spawn → submit_tool_outputs on
# the last created run accepted and the run completed, spawn → 100 runs spread
# over the set submitted and completed. The work is done by
# bench/parked_runs.mjs (plain fetch, keep-alive); see docs/PERFORMANCE.md.
#
# Usage: scripts/bench-runs.sh [--write] [--quick] [--n N]
#   --write   also write the results into docs/PERFORMANCE.md (between
#             <!-- bench-runs:begin --> and <!-- bench-runs:end -->)
#   --quick   1000 runs instead of 10000 (a smoke test of the script)
#   --n N     N runs
# Env: OAG_BUILD_DIR (default build), OAG_BIN (default $OAG_BUILD_DIR/bin/oag),
#      BENCH_CONCURRENCY (default 32), BENCH_SAMPLE (default 100),
#      KEEP_BENCH_DIR=1 (keep the temp dir: daemon logs, results.json; it is
#      always kept when the benchmark fails, removed when it is interrupted)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRITE=0
QUICK=0
N=10000
while [ $# -gt 0 ]; do
  case "$1" in
    --write) WRITE=1 ;;
    --quick) QUICK=1; N=1000 ;;
    --n) [ $# -ge 2 ] || { echo "--n needs a number" >&2; exit 2; }; N=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$N" =~ ^[0-9]+$ ]] && [ "$N" -ge 10 ] || { echo "N must be a number ≥ 10 (got $N)" >&2; exit 2; }

log() { printf '[bench-runs] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BUILD_DIR="${OAG_BUILD_DIR:-build}"
OAG="${OAG_BIN:-$BUILD_DIR/bin/oag}"
[ -x "$OAG" ] || die "no oag binary at $OAG (run scripts/build.sh first, or set OAG_BIN)"
OAG=$(cd "$(dirname "$OAG")" && pwd)/$(basename "$OAG")
command -v node >/dev/null || die "node is required (scripts/install-deps.sh installs it)"
node -e 'process.exit(typeof fetch === "function" ? 0 : 1)' || die "node ≥ 18 is required (global fetch)"
[ -f "$ROOT/config/prices.json" ] || die "config/prices.json is missing"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/oag-bench-runs.XXXXXX")
NODE_PID=""
cleanup() {
  local rc=$?
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
  # The daemon the node script started (it kills it itself, unless it was killed hard).
  if [ -f "$RUN_DIR/oag.pid" ]; then
    local p; p=$(cat "$RUN_DIR/oag.pid")
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q oag "/proc/$p/cmdline" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null || true
    fi
  fi
  # Kept on a failure (rc 1: its daemon logs tell why), removed when interrupted.
  if [ "${KEEP_BENCH_DIR:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" -lt 128 ]; }; then
    log "kept $RUN_DIR (daemon logs oag-*.log, results.json)"
  else
    rm -rf "$RUN_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ARGS=(--oag "$OAG" --dir "$RUN_DIR" --prices "$ROOT/config/prices.json" --n "$N"
      --concurrency "${BENCH_CONCURRENCY:-32}" --sample "${BENCH_SAMPLE:-100}"
      --clk-tck "$(getconf CLK_TCK)" --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
[ "$QUICK" = 1 ] && ARGS+=(--quick)
[ "$WRITE" = 1 ] && ARGS+=(--write "$ROOT/docs/PERFORMANCE.md")

log "other processes using the CPU now: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s(%s%%) ", $2, $1}')"
node "$ROOT/bench/parked_runs.mjs" "${ARGS[@]}" &
NODE_PID=$!
wait "$NODE_PID"
NODE_PID=""
