#!/usr/bin/env bash
# Benchmark of WebSocket chat sessions (issue 6): S concurrent sessions on
# GET /v1/realtime/chat (default 2,000) each send one chat.message, spread
# evenly over a ramp (default 10 s: session i at i × 10 s / S), and stream the
# answer of a fake upstream (a thread and a run per session, as the Assistants
# API would create). The answer (120 chunks, one every 250 ms: 29.8 s; 8,000
# chunks/s for 2,000 sessions) lasts longer than the ramp, so at the peak all
# sessions stream at once; the report says how many did and for how long. Reports stalls (--stall-s
# seconds without a token before the run ended) before and after the first
# token, the time to first token the gateway adds (p50/p99), the longest gap
# between tokens, the tokens delivered per second, and the daemon's RSS per
# session (idle and streaming). Then, for comparison, S new sessions send
# their messages in the same millisecond (the burst: it measures the
# run-creation queue more than the streaming). The work is done by
# bench/ws_chat.mjs (the `ws` client from tests/node_modules); see
# docs/PERFORMANCE.md and bench/README.md. About 2 minutes with the defaults.
#
# Usage: scripts/bench-ws.sh [--write] [--quick] [--sessions N] [--ramp-ms N] [--no-burst]
#   --write        also write the results into docs/PERFORMANCE.md (between
#                  <!-- bench-ws:begin --> and <!-- bench-ws:end -->)
#   --quick        200 sessions (a smoke test of the script)
#   --sessions N   N sessions
#   --ramp-ms N    spread the messages over N ms (default 10000); 0: all at
#                  once (the burst alone, no second phase)
#   --no-burst     skip the burst phase
# Env: OAG_BUILD_DIR (default build), OAG_BIN (default $OAG_BUILD_DIR/bin/oag),
#      OAG_COMMIT (the commit named in the report; default git HEAD),
#      BENCH_COMPANIES (10), BENCH_TOKENS (120), BENCH_INTERVAL_MS (250),
#      BENCH_FIRST_MS (50), BENCH_STALL_S (5), BENCH_GAP_WARN_MS (1000),
#      BENCH_BURST_SESSIONS (default S), KEEP_BENCH_DIR=1 (keep the temp dir)
#
# File descriptors: each session is a client socket (node), a server socket
# and an upstream connection (oag) and an upstream socket (the fake): about
# 2 per session in each process, so the limit is raised to 4 × S + 1024.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRITE=0
S=2000
RAMP=10000
BURST=1
while [ $# -gt 0 ]; do
  case "$1" in
    --write) WRITE=1 ;;
    --quick) S=200 ;;
    --sessions) [ $# -ge 2 ] || { echo "--sessions needs a number" >&2; exit 2; }; S=$2; shift ;;
    --ramp-ms) [ $# -ge 2 ] || { echo "--ramp-ms needs a number" >&2; exit 2; }; RAMP=$2; shift ;;
    --no-burst) BURST=0 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$S" =~ ^[0-9]+$ ]] && [ "$S" -ge 1 ] || { echo "--sessions must be a number ≥ 1 (got $S)" >&2; exit 2; }
[[ "$RAMP" =~ ^[0-9]+$ ]] || { echo "--ramp-ms must be a number ≥ 0 (got $RAMP)" >&2; exit 2; }
BURST_S=0
[ "$BURST" = 1 ] && [ "$RAMP" -gt 0 ] && BURST_S=${BENCH_BURST_SESSIONS:-$S}
[[ "$BURST_S" =~ ^[0-9]+$ ]] || { echo "BENCH_BURST_SESSIONS must be a number (got $BURST_S)" >&2; exit 2; }

log() { printf '[bench-ws] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BUILD_DIR="${OAG_BUILD_DIR:-build}"
OAG="${OAG_BIN:-$BUILD_DIR/bin/oag}"
[ -x "$OAG" ] || die "no oag binary at $OAG (run scripts/build.sh first, or set OAG_BIN)"
OAG=$(cd "$(dirname "$OAG")" && pwd)/$(basename "$OAG")
command -v node >/dev/null || die "node is required (scripts/install-deps.sh installs it)"
[ -d "$ROOT/tests/node_modules/ws" ] || (cd "$ROOT/tests" && npm ci --no-audit --no-fund >/dev/null) || die "cannot install tests/node_modules (ws)"

# The burst's sessions are opened after the first ones are closed.
MAXS=$(( S > BURST_S ? S : BURST_S ))
NEED=$((4 * MAXS + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED" ]; then
  ulimit -n "$NEED" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$NEED" ] || die "need $NEED file descriptors (ulimit -n is $(ulimit -n), hard limit $(ulimit -Hn))"
fi
log "ulimit -n $(ulimit -n) (need about $NEED for $MAXS sessions)"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/oag-bench-ws.XXXXXX")
NODE_PID=""
cleanup() {
  local rc=$?
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then kill "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
  for f in oag.pid upstream.pid; do
    [ -f "$RUN_DIR/$f" ] || continue
    local p; p=$(cat "$RUN_DIR/$f")
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
      kill "$p" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$p" 2>/dev/null || true
    fi
  done
  if [ "${KEEP_BENCH_DIR:-0}" = 1 ] || { [ "$rc" != 0 ] && [ "$rc" -lt 128 ]; }; then
    log "kept $RUN_DIR (oag.log, results.json)"
  else
    rm -rf "$RUN_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

ARGS=(--oag "$OAG" --dir "$RUN_DIR" --prices "$ROOT/config/prices.json" --sessions "$S" --ramp-ms "$RAMP"
      --burst-sessions "$BURST_S"
      --companies "${BENCH_COMPANIES:-10}" --tokens "${BENCH_TOKENS:-120}" --interval-ms "${BENCH_INTERVAL_MS:-250}"
      --first-ms "${BENCH_FIRST_MS:-50}" --stall-s "${BENCH_STALL_S:-5}" --gap-warn-ms "${BENCH_GAP_WARN_MS:-1000}"
      --commit "${OAG_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}")
[ "$WRITE" = 1 ] && ARGS+=(--write "$ROOT/docs/PERFORMANCE.md")

log "load average $(cut -d' ' -f1-3 /proc/loadavg); other processes using the CPU now: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s(%s%%) ", $2, $1}')"
node "$ROOT/bench/ws_chat.mjs" "${ARGS[@]}" &
NODE_PID=$!
wait "$NODE_PID"
NODE_PID=""
