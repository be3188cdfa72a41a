#!/usr/bin/env bash
# Benchmark of WebSocket chat sessions (issue 6): S concurrent sessions on
# GET /v1/realtime/chat (default 2,000) each send one chat.message at the
# same moment and stream the answer of a fake upstream (a thread and a run
# per session, as the Assistants API would create). Reports stalls (sessions
# that went --stall-s seconds without a token before their run ended), the
# time to first token the gateway adds (p50/p99), the longest gap between
# tokens, and the daemon's RSS per session (idle and streaming). The work is
# done by bench/ws_chat.mjs (the `ws` client from tests/node_modules); see
# docs/PERFORMANCE.md.
#
# Usage: scripts/bench-ws.sh [--write] [--quick] [--sessions N]
#   --write        also write the results into docs/PERFORMANCE.md (between
#                  <!-- bench-ws:begin --> and <!-- bench-ws:end -->)
#   --quick        200 sessions (a smoke test of the script)
#   --sessions N   N sessions
# Env: OAG_BUILD_DIR (default build), OAG_BIN (default $OAG_BUILD_DIR/bin/oag),
#      BENCH_COMPANIES (10), BENCH_TOKENS (40), BENCH_INTERVAL_MS (25),
#      BENCH_FIRST_MS (50), BENCH_STALL_S (5), KEEP_BENCH_DIR=1 (keep the temp dir)
#
# File descriptors: each session is a client socket (node), a server socket
# and an upstream connection (oag) and an upstream socket (the fake): about
# 2 per session in each process, so the limit is raised to 4 × S + 1024.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRITE=0
S=2000
while [ $# -gt 0 ]; do
  case "$1" in
    --write) WRITE=1 ;;
    --quick) S=200 ;;
    --sessions) [ $# -ge 2 ] || { echo "--sessions needs a number" >&2; exit 2; }; S=$2; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$S" =~ ^[0-9]+$ ]] && [ "$S" -ge 1 ] || { echo "--sessions must be a number ≥ 1 (got $S)" >&2; exit 2; }

log() { printf '[bench-ws] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

BUILD_DIR="${OAG_BUILD_DIR:-build}"
OAG="${OAG_BIN:-$BUILD_DIR/bin/oag}"
[ -x "$OAG" ] || die "no oag binary at $OAG (run scripts/build.sh first, or set OAG_BIN)"
OAG=$(cd "$(dirname "$OAG")" && pwd)/$(basename "$OAG")
command -v node >/dev/null || die "node is required (scripts/install-deps.sh installs it)"
[ -d "$ROOT/tests/node_modules/ws" ] || (cd "$ROOT/tests" && npm ci --no-audit --no-fund >/dev/null) || die "cannot install tests/node_modules (ws)"

NEED=$((4 * S + 1024))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$NEED" ]; then
  ulimit -n "$NEED" 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true
  [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$NEED" ] || die "need $NEED file descriptors (ulimit -n is $(ulimit -n), hard limit $(ulimit -Hn))"
fi
log "ulimit -n $(ulimit -n) (need about $NEED for $S sessions)"

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

ARGS=(--oag "$OAG" --dir "$RUN_DIR" --prices "$ROOT/config/prices.json" --sessions "$S"
      --companies "${BENCH_COMPANIES:-10}" --tokens "${BENCH_TOKENS:-40}" --interval-ms "${BENCH_INTERVAL_MS:-25}"
      --first-ms "${BENCH_FIRST_MS:-50}" --stall-s "${BENCH_STALL_S:-5}"
      --commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)")
[ "$WRITE" = 1 ] && ARGS+=(--write "$ROOT/docs/PERFORMANCE.md")

log "other processes using the CPU now: $(ps -eo pcpu=,comm= --sort=-pcpu | head -5 | awk '{printf "%s(%s%%) ", $2, $1}')"
node "$ROOT/bench/ws_chat.mjs" "${ARGS[@]}" &
NODE_PID=$!
wait "$NODE_PID"
NODE_PID=""
