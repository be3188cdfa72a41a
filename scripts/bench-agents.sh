#!/usr/bin/env bash
# Benchmark of autonomous agents (issue 5).
#
# 1. Topic fan-out: 100,000 agents created over HTTP (the create rate),
#    subscribed across 1,000 topic patterns (100 subscribers each, some `**`),
#    200 events published at a steady rate and at full speed: events/s
#    accepted, deliveries (agent runs whose model call reached the fake
#    upstream)/s, p50/p99 publish (202) → run's model call, RSS with the
#    agents indexed (per agent), and the restart (SIGTERM, then kill -9):
#    spawn → /readyz, spawn → the first event's deliveries.
# 2. Parked approvals: 10,000 agent runs parked on an approval gate (a
#    registered tool `pay` gated "always"): RSS per parked run, idle CPU, and
#    after a restart (SIGTERM, then kill -9) spawn → /readyz, spawn → one
#    approval approved and its run completed, spawn → 100 spread approvals.
# The work is done by bench/agents.mjs (a fake OpenAI upstream and a fake
# tool service in the node process; plain fetch, keep-alive); see
# docs/PERFORMANCE.md, section "Agents".
#
# Usage: scripts/bench-agents.sh [--write] [--quick] [--only fanout|parked]
#   --write   also write the results into docs/PERFORMANCE.md (between
#             <!-- bench-agents:begin --> and <!-- bench-agents:end -->)
#   --quick   10,000 agents over 100 patterns, 20 events, 1,000 parked runs
#   --only    run one of the two parts
#   --report FILE  re-render a kept results.json (with --write: into the doc)
# Env: OAG_BUILD_DIR (default build), OAG_BIN (default $OAG_BUILD_DIR/bin/oag),
#      OAG_COMMIT (the commit named in the report; default git HEAD),
#      BENCH_AGENTS, BENCH_PATTERNS, BENCH_EVENTS, BENCH_PARKED (override the
#      sizes), BENCH_RATE (steady events/s, default 2), BENCH_CONCURRENCY
#      (default 32), BENCH_SAMPLE (default 100), BENCH_PERF=1 (perf record
#      the daemon during the full-speed publishing and the second half of the
#      parking: perf-*.data in the kept temp dir), KEEP_BENCH_DIR=1 (keep the
#      temp dir: daemon logs, results.json; it is always kept when the
#      benchmark fails, removed when it is interrupted)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRITE=0
QUICK=0
ONLY=all
REPORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --write) WRITE=1 ;;
    --quick) QUICK=1 ;;
    --only) [ $# -ge 2 ] || { echo "--only needs fanout or parked" >&2; exit 2; }; ONLY=$2; shift ;;
    --report) [ $# -ge 2 ] || { echo "--report needs a results.json" >&2; exit 2; }; REPORT=$2; shift ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case "$ONLY" in all|fanout|parked) ;; *) echo "--only: fanout or parked (got $ONLY)" >&2; exit 2 ;; esac

log() { printf '[bench-agents] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [ -n "$REPORT" ]; then
  [ -f "$REPORT" ] || die "no such file: $REPORT"
  W=(); [ "$WRITE" = 1 ] && W=(--write "$ROOT/docs/PERFORMANCE.md")
  exec node "$ROOT/bench/agents.mjs" --report "$REPORT" "${W[@]}"
fi

BUILD_DIR="${OAG_BUILD_DIR:-build}"
OAG="${OAG_BIN:-$BUILD_DIR/bin/oag}"
[ -x "$OAG" ] || die "no oag binary at $OAG (run scripts/build.sh first, or set OAG_BIN)"
OAG=$(cd "$(dirname "$OAG")" && pwd)/$(basename "$OAG")
command -v node >/dev/null || die "node is required (scripts/install-deps.sh installs it)"
node -e 'process.exit(typeof fetch === "function" ? 0 : 1)' || die "node ≥ 18 is required (global fetch)"
[ -f "$ROOT/config/prices.json" ] || die "config/prices.json is missing"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/oag-bench-agents.XXXXXX")
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

ARGS=(--oag "$OAG" --dir "$RUN_DIR" --prices "$ROOT/config/prices.json" --only "$ONLY"
      --rate "${BENCH_RATE:-2}" --concurrency "${BENCH_CONCURRENCY:-32}" --sample "${BENCH_SAMPLE:-100}"
      --clk-tck "$(getconf CLK_TCK)" --commit "${OAG_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}")
[ -n "${BENCH_AGENTS:-}" ] && ARGS+=(--agents "$BENCH_AGENTS")
[ -n "${BENCH_PATTERNS:-}" ] && ARGS+=(--patterns "$BENCH_PATTERNS")
[ -n "${BENCH_EVENTS:-}" ] && ARGS+=(--events "$BENCH_EVENTS")
[ -n "${BENCH_PARKED:-}" ] && ARGS+=(--parked "$BENCH_PARKED")
[ "${BENCH_PERF:-0}" = 1 ] && ARGS+=(--perf)
[ "$QUICK" = 1 ] && ARGS+=(--quick)
[ "$WRITE" = 1 ] && ARGS+=(--write "$ROOT/docs/PERFORMANCE.md")

log "other processes using the CPU now: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s(%s%%) ", $2, $1}')"
node "$ROOT/bench/agents.mjs" "${ARGS[@]}" &
NODE_PID=$!
wait "$NODE_PID"
NODE_PID=""
