#!/usr/bin/env bash
# Benchmark: the fake upstream called directly, the same calls through oag,
# through Portkey's gateway (@portkey-ai/gateway@1.15.2) and the bare Beast
# hello server (the ceiling of one core) — measured in one run, interleaved
# round-robin over the targets so machine drift hits all of them alike.
#
# Gateways are pinned to core 0 (taskset -c 0); wrk, the latency client and
# the upstream to core 1. Everything listens on 127.0.0.1 only (Portkey's
# server has no bind option and listens on all interfaces; it is only ever
# called on 127.0.0.1).
#
# Besides the plain pass-through ("oag": provider of kind openai), oag is
# measured through a 10-rule routing config whose first nine rules never
# match (bench/routing-10-rules.json; target "oag-routed", model "auto") and
# through the Anthropic adapter against the upstream's Anthropic Messages
# mode ("oag-anthropic"); the report gives their added latency against the
# plain pass-through's.
#
# Usage: scripts/bench.sh [--write] [--quick]
#   --write   also write the results table into docs/PERFORMANCE.md
#   --quick   shorter runs (a smoke test of the script, figures are noisy)
# Env: OAG_BUILD_DIR (default build), OAG_BIN, BENCH_ROUNDS, BENCH_SKIP_PORTKEY=1,
#      BENCH_SKIP_VARIANTS=1 (leave out oag-routed and oag-anthropic)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

WRITE=0
QUICK=0
for a in "$@"; do
  case "$a" in
    --write) WRITE=1 ;;
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown argument: $a" >&2; exit 2 ;;
  esac
done

BUILD_DIR="${OAG_BUILD_DIR:-build}"
OAG="${OAG_BIN:-$BUILD_DIR/bin/oag}"
LAT_SECS=4; STEP_SECS=3; LOAD_SECS=4; TTFB_N=300; ROUNDS="${BENCH_ROUNDS:-3}"; RATE_ROUNDS=2
if [ "$QUICK" = 1 ]; then LAT_SECS=2; STEP_SECS=1; LOAD_SECS=2; TTFB_N=100; ROUNDS="${BENCH_ROUNDS:-1}"; RATE_ROUNDS=1; fi
CONN_STEPS=(1 2 4 8 16 32 64 128)
P99_LIMIT_US=5000

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/oag-bench.XXXXXX")
RESULTS="$RUN_DIR/results.tsv"
: > "$RESULTS"
log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in wrk curl node taskset; do command -v "$tool" >/dev/null || die "$tool is required (scripts/install-deps.sh installs it)"; done
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then GW_CPU=(taskset -c 0); LOAD_CPU=(taskset -c 1); else GW_CPU=(); LOAD_CPU=(); log "only one CPU: no pinning"; fi
CLK_TCK=$(getconf CLK_TCK)

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP_BENCH_DIR:-0}" != 1 ]; then rm -rf "$RUN_DIR"; else log "kept $RUN_DIR"; fi
}
trap cleanup EXIT

# ---- binaries ---------------------------------------------------------------
[ -x "$OAG" ] || die "no oag binary at $OAG (run scripts/build.sh first)"

# Builds a bench helper with CMake when the target exists, else directly with g++.
bench_bin() {
  local target=$1 src=$2
  if [ -x "$BUILD_DIR/bin/$target" ] && [ "$BUILD_DIR/bin/$target" -nt "$src" ]; then echo "$BUILD_DIR/bin/$target"; return; fi
  if [ -f "$BUILD_DIR/CMakeCache.txt" ] && cmake --build "$BUILD_DIR" --target "$target" -j "$NCPU" >"$RUN_DIR/build-$target.log" 2>&1; then
    echo "$BUILD_DIR/bin/$target"; return
  fi
  local out="$BUILD_DIR/bench-bin/$target"
  mkdir -p "$(dirname "$out")"
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ]; then
    log "building $target with g++ (no CMake target)"
    g++ -O2 -DNDEBUG -std=c++17 "$src" -o "$out" -pthread || die "could not build $target"
  fi
  echo "$out"
}
UPSTREAM_BIN=$(bench_bin oag_bench_upstream bench/fake_upstream.cpp)
HELLO_BIN=""
if [ -f bench/hello_server.cpp ]; then HELLO_BIN=$(bench_bin oag_bench_hello bench/hello_server.cpp); fi

# ---- helpers ------------------------------------------------------------------
free_port() { node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# wait_line FILE REGEX TIMEOUT_S -> prints the first capture group
wait_line() {
  local file=$1 re=$2 t=$3 i=0 m
  while [ $i -lt $((t * 20)) ]; do
    m=$(sed -nE "s#.*${re}.*#\\1#p" "$file" 2>/dev/null | head -1)
    if [ -n "$m" ]; then echo "$m"; return 0; fi
    sleep 0.05; i=$((i + 1))
  done
  return 1
}

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---- start the upstream, oag, portkey, hello ---------------------------------
"${LOAD_CPU[@]}" "$UPSTREAM_BIN" 0 >"$RUN_DIR/upstream.log" 2>&1 &
PIDS+=($!); UP_PID=$!
UP_PORT=$(wait_line "$RUN_DIR/upstream.log" 'listening on 127\.0\.0\.1:([0-9]+)' 10) || die "upstream did not start"
UPSTREAM="http://127.0.0.1:$UP_PORT"
log "upstream on $UPSTREAM (pid $UP_PID)"

ADMIN_TOKEN="bench-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$RUN_DIR/oag-data"
cat >"$RUN_DIR/oag.json" <<EOF
{"listen":"127.0.0.1:0","demo":false,"prices_file":"$ROOT/config/prices.json","durability":"wal"}
EOF
OAG_ADMIN_TOKEN="$ADMIN_TOKEN" OAG_MASTER_KEY="$(head -c 32 /dev/urandom | base64)" \
  "${GW_CPU[@]}" "$OAG" serve --config "$RUN_DIR/oag.json" --data-dir "$RUN_DIR/oag-data" --listen 127.0.0.1:0 \
  >"$RUN_DIR/oag.log" 2>&1 &
PIDS+=($!); OAG_PID=$!
OAG_PORT=$(wait_line "$RUN_DIR/oag.log" 'OAG listening on http://127\.0\.0\.1:([0-9]+)' 20) || { tail -20 "$RUN_DIR/oag.log" >&2; die "oag did not start"; }
OAG_URL="http://127.0.0.1:$OAG_PORT"
log "oag on $OAG_URL (pid $OAG_PID)"
adm() { curl -sS -f -H "authorization: Bearer $ADMIN_TOKEN" -H 'content-type: application/json' "$@"; }
CO_ID=$(adm -X POST "$OAG_URL/admin/v1/companies" -d '{"name":"bench","credit_ot":"100000000"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
OAG_KEY=$(adm -X POST "$OAG_URL/admin/v1/companies/$CO_ID/keys" -d '{"name":"bench"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).key')
adm -X PUT "$OAG_URL/admin/v1/companies/$CO_ID/providers/fake" \
  -d "{\"kind\":\"openai\",\"base_url\":\"$UPSTREAM/v1\",\"api_key\":\"sk-bench-upstream\"}" >/dev/null

VARIANTS=0
if [ "${BENCH_SKIP_VARIANTS:-0}" != 1 ]; then
  VARIANTS=1
  # The Anthropic adapter: the same upstream in its Anthropic Messages mode.
  adm -X PUT "$OAG_URL/admin/v1/companies/$CO_ID/providers/claude" \
    -d "{\"kind\":\"anthropic\",\"base_url\":\"$UPSTREAM\",\"api_key\":\"sk-ant-bench\",\"prices\":{\"claude-bench\":{\"input\":3,\"cached_input\":0.3,\"output\":15}}}" >/dev/null
  # A second company with the 10-rule routing config: only the last rule
  # matches (model "auto"), after every other condition kind was evaluated.
  CO2_ID=$(adm -X POST "$OAG_URL/admin/v1/companies" -d '{"name":"bench-routed","credit_ot":"100000000"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).id')
  OAG_KEY2=$(adm -X POST "$OAG_URL/admin/v1/companies/$CO2_ID/keys" -d '{"name":"bench"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).key')
  adm -X PUT "$OAG_URL/admin/v1/companies/$CO2_ID/providers/fake" \
    -d "{\"kind\":\"openai\",\"base_url\":\"$UPSTREAM/v1\",\"api_key\":\"sk-bench-upstream\"}" >/dev/null
  adm -X PUT "$OAG_URL/admin/v1/companies/$CO2_ID/routing" --data-binary @bench/routing-10-rules.json >/dev/null
fi

PK_PID=""
PK_PORT=""
if [ "${BENCH_SKIP_PORTKEY:-0}" != 1 ]; then
  PK_JS=bench/portkey/node_modules/@portkey-ai/gateway/build/start-server.js
  if [ ! -f "$PK_JS" ]; then
    log "installing @portkey-ai/gateway@1.15.2 into bench/portkey/"
    mkdir -p bench/portkey
    [ -f bench/portkey/package.json ] || echo '{"name":"oag-bench-portkey","private":true}' > bench/portkey/package.json
    (cd bench/portkey && npm install --no-audit --no-fund --loglevel=error @portkey-ai/gateway@1.15.2) >&2 || log "npm install of Portkey failed; skipping it"
  fi
  if [ -f "$PK_JS" ]; then
    PK_PORT=$(free_port)
    # The shim only makes upstream response headers mutable (see the file).
    NODE_ENV=production "${GW_CPU[@]}" node --import "$ROOT/bench/portkey_fetch_shim.mjs" "$PK_JS" --headless --port="$PK_PORT" \
      >"$RUN_DIR/portkey.log" 2>&1 &
    PIDS+=($!); PK_PID=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$PK_PORT/" && break; sleep 0.1; done
    log "portkey on http://127.0.0.1:$PK_PORT (pid $PK_PID)"
  fi
fi

HELLO_PID=""
HELLO_PORT=""
if [ -n "$HELLO_BIN" ]; then
  "${GW_CPU[@]}" "$HELLO_BIN" 0 >"$RUN_DIR/hello.log" 2>&1 &
  PIDS+=($!); HELLO_PID=$!
  HELLO_PORT=$(wait_line "$RUN_DIR/hello.log" 'listening on 127\.0\.0\.1:([0-9]+)' 10) || die "hello server did not start"
  log "hello on http://127.0.0.1:$HELLO_PORT (pid $HELLO_PID)"
fi

# ---- targets -------------------------------------------------------------------
# name|url|model|auth|headers(|-separated)|pid|streams
TARGETS=("direct|$UPSTREAM/v1/chat/completions|gpt-4o-mini|||$UP_PID|1"
         "oag|$OAG_URL/v1/chat/completions|fake/gpt-4o-mini|$OAG_KEY||$OAG_PID|1")
if [ "$VARIANTS" = 1 ]; then
  TARGETS+=("oag-routed|$OAG_URL/v1/chat/completions|auto|$OAG_KEY2||$OAG_PID|1"
            "oag-anthropic|$OAG_URL/v1/chat/completions|claude/claude-bench|$OAG_KEY||$OAG_PID|1")
fi
[ -n "$PK_PID" ] && TARGETS+=("portkey|http://127.0.0.1:$PK_PORT/v1/chat/completions|gpt-4o-mini|sk-bench-upstream|x-portkey-provider: openai|x-portkey-custom-host: $UPSTREAM/v1|$PK_PID|1")
[ -n "$HELLO_PID" ] && TARGETS+=("hello|http://127.0.0.1:$HELLO_PORT/v1/chat/completions|gpt-4o-mini|||$HELLO_PID|0")

# Fields: the headers field may itself contain "|" separators, so parse from both ends.
t_name() { echo "${1%%|*}"; }
t_field() { # $1 target, $2 index from start (1-based, for 1..4) or "pid"/"streams"/"headers"
  local t=$1 IFS='|'; read -r -a f <<<"$t"
  local n=${#f[@]}
  case "$2" in
    pid) echo "${f[$((n - 2))]}" ;;
    streams) echo "${f[$((n - 1))]}" ;;
    headers) local h=(); local i; for ((i = 4; i < n - 2; i++)); do [ -n "${f[$i]}" ] && h+=("${f[$i]}"); done; (IFS='|'; echo "${h[*]}") ;;
    *) echo "${f[$(($2 - 1))]}" ;;
  esac
}

curl_target() { # target, stream(0/1) -> prints HTTP status
  local t=$1 s=$2 url model auth hdrs args=()
  url=$(t_field "$t" 2); model=$(t_field "$t" 3); auth=$(t_field "$t" 4); hdrs=$(t_field "$t" headers)
  [ -n "$auth" ] && args+=(-H "authorization: Bearer $auth")
  if [ -n "$hdrs" ]; then local IFS='|'; for h in $hdrs; do args+=(-H "$h"); done; unset IFS; fi
  local body="{\"model\":\"$model\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":64"
  [ "$s" = 1 ] && body="$body,\"stream\":true"
  curl -s -o "$RUN_DIR/preflight.out" -D "$RUN_DIR/preflight.headers" -w '%{http_code}' -H 'content-type: application/json' "${args[@]}" -d "$body}" "$url"
}

for t in "${TARGETS[@]}"; do
  n=$(t_name "$t")
  code=$(curl_target "$t" 0)
  [ "$code" = 200 ] || { cat "$RUN_DIR/preflight.out" >&2; die "preflight $n: HTTP $code"; }
  if [ "$n" = oag-routed ]; then
    grep -qi '^x-oag-route: rule=auto; target=fake/gpt-4o-mini; attempts=1' "$RUN_DIR/preflight.headers" || { cat "$RUN_DIR/preflight.headers" >&2; die "preflight $n: not routed by the last rule"; }
  fi
  if [ "$(t_field "$t" streams)" = 1 ]; then
    code=$(curl_target "$t" 1)
    [ "$code" = 200 ] && grep -q '\[DONE\]' "$RUN_DIR/preflight.out" || { cat "$RUN_DIR/preflight.out" >&2; die "preflight $n (stream): HTTP $code"; }
  fi
  pid=$(t_field "$t" pid)
  echo -e "rss_idle\t$n\t$(rss_kb "$pid")" >>"$RESULTS"
done
log "preflight ok: $(for t in "${TARGETS[@]}"; do printf '%s ' "$(t_name "$t")"; done)"

# run_wrk target conns secs [latency] -> prints "requests p50 p99 rps non2xx errors"; also sets WRK_CPU_US, WRK_RSS_KB
run_wrk() {
  local t=$1 c=$2 secs=$3 url model auth hdrs pid c0 c1 out
  url=$(t_field "$t" 2); model=$(t_field "$t" 3); auth=$(t_field "$t" 4); hdrs=$(t_field "$t" headers); pid=$(t_field "$t" pid)
  c0=$(cpu_ticks "$pid")
  ( sleep "$(awk "BEGIN{print $secs/2}")"; rss_kb "$pid" >"$RUN_DIR/rss.mid" ) &
  local sampler=$!
  out=$(BENCH_MODEL="$model" BENCH_AUTH="$auth" BENCH_HEADERS="$hdrs" \
    "${LOAD_CPU[@]}" wrk -t1 -c"$c" -d"${secs}s" --timeout 5s --latency -s bench/chat.lua "$url" 2>"$RUN_DIR/wrk.err" | grep '^BENCH_RESULT' || true)
  wait "$sampler" 2>/dev/null || true
  c1=$(cpu_ticks "$pid")
  [ -n "$out" ] || { cat "$RUN_DIR/wrk.err" >&2; die "wrk failed for $(t_name "$t")"; }
  local req dur non2xx errs p50 p99
  req=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$out"); dur=$(sed -E 's/.* duration_us=([0-9]+).*/\1/' <<<"$out")
  non2xx=$(sed -E 's/.* non2xx=([0-9]+).*/\1/' <<<"$out"); errs=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$out")
  p50=$(sed -E 's/.* p50_us=([0-9]+).*/\1/' <<<"$out"); p99=$(sed -E 's/.* p99_us=([0-9]+).*/\1/' <<<"$out")
  local rps cpu_us
  rps=$(awk "BEGIN{printf \"%.0f\", $req * 1000000 / $dur}")
  cpu_us=$(awk "BEGIN{ if ($req > 0) printf \"%.1f\", ($c1 - $c0) * 1000000 / $CLK_TCK / $req; else print \"nan\" }")
  [ "$non2xx" = 0 ] && [ "$errs" = 0 ] || log "warning: $(t_name "$t") c=$c: $non2xx non-2xx, $errs socket errors"
  echo "$req $p50 $p99 $rps $non2xx $errs $cpu_us $(cat "$RUN_DIR/rss.mid" 2>/dev/null || echo 0)"
}

# ---- warm-up ------------------------------------------------------------------------
for t in "${TARGETS[@]}"; do run_wrk "$t" 4 1 >/dev/null; done

# ---- phase A: latency at concurrency 1 --------------------------------------------------
log "phase A: latency at concurrency 1 (${ROUNDS} rounds × ${LAT_SECS}s per target)"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    read -r req p50 p99 rps _ _ _ _ <<<"$(run_wrk "$t" 1 "$LAT_SECS")"
    echo -e "lat\t$(t_name "$t")\t$r\t$p50\t$p99\t$rps" >>"$RESULTS"
    log "  round $r $(t_name "$t"): p50 ${p50}µs p99 ${p99}µs ($rps req/s)"
  done
done

# ---- phase B: highest rate with p99 < 5 ms -------------------------------------------------
log "phase B: rate steps over connections ${CONN_STEPS[*]} (${RATE_ROUNDS} rounds × ${STEP_SECS}s)"
for r in $(seq 1 "$RATE_ROUNDS"); do
  declare -A over=()
  for c in "${CONN_STEPS[@]}"; do
    for t in "${TARGETS[@]}"; do
      n=$(t_name "$t")
      [ "${over[$n]:-0}" -ge 2 ] && continue
      read -r req p50 p99 rps _ _ _ _ <<<"$(run_wrk "$t" "$c" "$STEP_SECS")"
      echo -e "rate\t$n\t$r\t$c\t$rps\t$p99" >>"$RESULTS"
      if [ "$p99" -ge "$P99_LIMIT_US" ]; then over[$n]=$(( ${over[$n]:-0} + 1 )); fi
      log "  round $r c=$c $n: $rps req/s p99 ${p99}µs"
    done
  done
  unset over
done

# ---- phase C: CPU per request and RSS under load ------------------------------------------------
log "phase C: CPU and RSS under load (c=16, ${ROUNDS} rounds × ${LOAD_SECS}s)"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    read -r req _ p99 rps _ _ cpu rss <<<"$(run_wrk "$t" 16 "$LOAD_SECS")"
    echo -e "load\t$(t_name "$t")\t$r\t$req\t$cpu\t$rss\t$rps" >>"$RESULTS"
    log "  round $r $(t_name "$t"): ${cpu}µs CPU/req, RSS ${rss} kB, $rps req/s"
  done
done

# ---- phase D: time to first SSE byte ---------------------------------------------------------------
log "phase D: time to first SSE byte (${ROUNDS} rounds × ${TTFB_N} sequential streams)"
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    [ "$(t_field "$t" streams)" = 1 ] || continue
    n=$(t_name "$t"); args=(--url "$(t_field "$t" 2)" --model "$(t_field "$t" 3)" --n "$TTFB_N")
    auth=$(t_field "$t" 4); [ -n "$auth" ] && args+=(--auth "$auth")
    hdrs=$(t_field "$t" headers)
    if [ -n "$hdrs" ]; then IFS='|' read -r -a hs <<<"$hdrs"; for h in "${hs[@]}"; do args+=(--header "$h"); done; fi
    out=$("${LOAD_CPU[@]}" node bench/ttfb.mjs "${args[@]}")
    p50=$(sed -E 's/.* p50_us=([0-9.]+).*/\1/' <<<"$out"); p99=$(sed -E 's/.* p99_us=([0-9.]+).*/\1/' <<<"$out")
    errs=$(sed -E 's/.* errors=([0-9]+).*/\1/' <<<"$out")
    [ "$errs" = 0 ] || log "warning: $n: $errs failed streams"
    echo -e "ttfb\t$n\t$r\t$p50\t$p99" >>"$RESULTS"
    log "  round $r $n: TTFB p50 ${p50}µs p99 ${p99}µs"
  done
done

for t in "${TARGETS[@]}"; do
  echo -e "rss_after\t$(t_name "$t")\t$(rss_kb "$(t_field "$t" pid)")" >>"$RESULTS"
done
{
  echo -e "meta\tcpu\t$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)"
  echo -e "meta\tncpu\t$NCPU"
  echo -e "meta\tkernel\t$(uname -r)"
  echo -e "meta\toag\t$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo -e "meta\tquick\t$QUICK"
  echo -e "meta\tdate\t$(date -u +%Y-%m-%dT%H:%MZ)"
} >>"$RESULTS"

cp "$RESULTS" "$BUILD_DIR/bench-results.tsv" 2>/dev/null || true
REPORT_ARGS=("$RESULTS")
[ "$WRITE" = 1 ] && REPORT_ARGS+=(--write "$ROOT/docs/PERFORMANCE.md")
node bench/report.mjs "${REPORT_ARGS[@]}"
