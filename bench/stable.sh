#!/usr/bin/env bash
# V2's serving overhead, measured over loopback with wrk (closed loop):
#   - POST /api/v2/reviews on trizone-stable, backed by the simulator at 0 ms;
#   - the same chat request sent straight to the simulator (the baseline);
#   - the same chat request through LiteLLM's proxy (one worker) to the
#     simulator, for the throughput ratio.
# At 1, 16 and 64 connections, BENCH_SECONDS (default 5) each, median of 3.
# Prints throughput, p50/p99, the latency V2 adds over direct, V2's CPU time
# per request and its idle and peak memory. Record-keeping and SLO
# accounting stay on. Installs wrk (apt) and LiteLLM (PyPI, in a venv under
# target/bench) when absent; BENCH_LITELLM=0 skips LiteLLM.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-5}
REPEATS=3
CONNECTIONS=(1 16 64)
# The newest release whose dependencies this PyPI mirror has (1.101+ need
# certifi 2026.10.19, not mirrored here).
LITELLM_VERSION=1.100.5
WORK=target/bench/stable
SIM_PORT=18090
V2_PORT=18082
LITELLM_PORT=18400
TOKEN=bench-end-user-token
mkdir -p "$WORK"

if ! command -v wrk >/dev/null 2>&1; then
    say "installing wrk"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
fi
require_rust
find_postgres
say "building release binaries"
export SQLX_OFFLINE=true
cargo build --release --locked -q -p trizone -p trizone-stable -p trizone-sim --bins

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

# --- database: one active deployment pointing at the simulator -------------
DB_URL="$PG_SERVER_URL/trizone_bench"
psql "$PG_SERVER_URL/postgres" -q -c "DROP DATABASE IF EXISTS trizone_bench WITH (FORCE)"
target/release/trizone migrate --create --database-url "$DB_URL" >/dev/null
CONFIG=$(cat <<EOF
{"name": "bench-reviewer",
 "models": {"primary": {"provider": "openai", "model": "bench-model", "base_url": "http://127.0.0.1:$SIM_PORT/v1", "input_per_mtok": 1, "output_per_mtok": 2}},
 "strategy": {"kind": "primary"},
 "prompt": {"system": "You are a careful reviewer.", "template": "Review {{path}} ({{language}}):\n{{code}}"},
 "parameters": {"temperature": 0, "max_tokens": 1024, "timeout_ms": 20000, "max_retries": 0}}
EOF
)
psql "$DB_URL" -q -v ON_ERROR_STOP=1 -v config="$CONFIG" <<'SQL'
WITH experiment AS (
    INSERT INTO experiments_v1.experiments
        (name, owner, configuration, fingerprint, prompt_hash, primary_model, strategy)
    VALUES ('bench-reviewer', 'bench', :'config'::jsonb,
            encode(sha256(convert_to(:'config', 'UTF8')), 'hex'),
            encode(sha256('prompt'::bytea), 'hex'), 'openai/bench-model', 'primary')
    RETURNING id, fingerprint, configuration),
deployment AS (
    INSERT INTO production.deployments (experiment_id, fingerprint, configuration, status, activated_at)
    SELECT id, fingerprint, configuration, 'active', now() FROM experiment
    RETURNING id)
INSERT INTO production.active_deployment (deployment_id) SELECT id FROM deployment;
SQL

# --- processes ----------------------------------------------------------------
RUST_LOG=warn target/release/trizone-sim --port "$SIM_PORT" >"$WORK/sim.log" 2>&1 &
PIDS+=($!)
TOKEN_HASH=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
RUST_LOG=warn TRIZONE_LOG_FORMAT=json OPENAI_API_KEY=sk-bench \
    TRIZONE_V2_LISTEN="127.0.0.1:$V2_PORT" \
    TRIZONE_V2_DATABASE_URL="${PG_SERVER_URL/postgres@/trizone_stable@}/trizone_bench" \
    TRIZONE_API_KEYS="end_user:$TOKEN_HASH" \
    TRIZONE_V2_RATE_PER_MINUTE=100000000 TRIZONE_V2_RATE_BURST=1000000 \
    target/release/trizone-stable >"$WORK/v2.log" 2>&1 &
V2_PID=$!
PIDS+=("$V2_PID")
wait_for_port "$SIM_PORT" || die "the simulator did not start; see $WORK/sim.log"
wait_for_port "$V2_PORT" || die "V2 did not start; see $WORK/v2.log"
for _ in $(seq 1 50); do
    curl -sf "http://127.0.0.1:$V2_PORT/readyz" >/dev/null && break
    sleep 0.2
done
curl -sf "http://127.0.0.1:$V2_PORT/readyz" >/dev/null || die "V2 is not ready; see $WORK/v2.log"

# --- requests -------------------------------------------------------------------
# Request bodies as JSON (with JSON's own escapes); wrk gets them as Lua
# strings, with backslashes and quotes escaped once more.
CODE='def calc(e):\n    return eval(e)\n'
REVIEW='{"language": "python", "path": "app/calc.py", "code": "'"$CODE"'"}'
# What the router sends the simulator for that review (system prompt with
# the output contract, rendered template), so the baseline does the same work.
CHAT='{"model": "bench-model", "temperature": 0, "max_tokens": 1024, "messages": [{"role": "system", "content": "You are a careful reviewer.\n\nAnswer with one JSON object and nothing else."}, {"role": "user", "content": "Review app/calc.py (python):\n'"$CODE"'"}]}'
lua_string() {
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}
wrk_script() { # file body bearer
    {
        echo 'wrk.method = "POST"'
        echo "wrk.body = $(lua_string "$2")"
        echo 'wrk.headers["Content-Type"] = "application/json"'
        echo "wrk.headers[\"Authorization\"] = \"Bearer $3\""
    } >"$1"
}
wrk_script "$WORK/v2.lua" "$REVIEW" "$TOKEN"
wrk_script "$WORK/chat.lua" "$CHAT" sk-bench
curl -sf -X POST "http://127.0.0.1:$V2_PORT/api/v2/reviews" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d "$REVIEW" >/dev/null ||
    die "V2 does not answer a review; see $WORK/v2.log"

# Latency in ms from wrk's "123.45us" / "1.23ms" / "1.02s".
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.3f", n }'
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
mem_kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

# One wrk run; prints "throughput p50_ms p99_ms requests".
load() {
    local url=$1 script=$2 connections=$3 seconds=$4 out
    local threads=$(( connections < 2 ? 1 : 2 ))
    out=$(wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$script" "$url")
    if grep -q "Non-2xx" <<<"$out"; then
        printf '%s\n' "$out" >&2
        die "non-2xx answers from $url"
    fi
    local rps p50 p99 requests
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
    p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
    requests=$(awk '/requests in/ { print $1 }' <<<"$out")
    echo "$rps $p50 $p99 $requests"
}

# Median of REPEATS runs; sets RPS P50 P99 and, with a pid, CPU_US (CPU
# time per request of that process).
measure() {
    local url=$1 script=$2 connections=$3 pid=${4:-}
    local rps=() p50=() p99=() cpu=()
    load "$url" "$script" "$connections" 1 >/dev/null # warm-up
    for _ in $(seq 1 "$REPEATS"); do
        local before after result
        [ -n "$pid" ] && before=$(cpu_ticks "$pid")
        result=$(load "$url" "$script" "$connections" "$SECONDS_PER_RUN")
        read -r r a b n <<<"$result"
        rps+=("$r"); p50+=("$a"); p99+=("$b")
        if [ -n "$pid" ]; then
            after=$(cpu_ticks "$pid")
            cpu+=("$(awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", t / hz / n * 1e6 }')")
        fi
    done
    RPS=$(median "${rps[@]}"); P50=$(median "${p50[@]}"); P99=$(median "${p99[@]}")
    CPU_US=$([ -n "$pid" ] && median "${cpu[@]}" || echo "-")
}

IDLE_KIB=$(mem_kib "$V2_PID" VmRSS)
say "measuring: ${#CONNECTIONS[@]} concurrencies x $REPEATS runs x ${SECONDS_PER_RUN}s, V2 and direct"
declare -A V2_RPS V2_P50 V2_P99 V2_CPU D_RPS D_P50 D_P99
for c in "${CONNECTIONS[@]}"; do
    measure "http://127.0.0.1:$SIM_PORT/v1/chat/completions" "$WORK/chat.lua" "$c"
    D_RPS[$c]=$RPS; D_P50[$c]=$P50; D_P99[$c]=$P99
    measure "http://127.0.0.1:$V2_PORT/api/v2/reviews" "$WORK/v2.lua" "$c" "$V2_PID"
    V2_RPS[$c]=$RPS; V2_P50[$c]=$P50; V2_P99[$c]=$P99; V2_CPU[$c]=$CPU_US
done
PEAK_KIB=$(mem_kib "$V2_PID" VmHWM)

# --- LiteLLM ----------------------------------------------------------------------
LITELLM_RPS=""
if [ "${BENCH_LITELLM:-1}" != 0 ]; then
    VENV=target/bench/litellm-venv
    if ! "$VENV/bin/litellm" --version >/dev/null 2>&1; then
        say "installing LiteLLM $LITELLM_VERSION from PyPI"
        python3 -m venv "$VENV"
        "$VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
    fi
    cat >"$WORK/litellm.yaml" <<EOF
model_list:
  - model_name: bench-model
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:$SIM_PORT/v1
      api_key: sk-bench
litellm_settings:
  telemetry: false
  turn_off_message_logging: true
EOF
    LITELLM_TELEMETRY=False LITELLM_LOG=ERROR \
        "$VENV/bin/litellm" --config "$WORK/litellm.yaml" --host 127.0.0.1 --port "$LITELLM_PORT" \
        --num_workers 1 --telemetry False >"$WORK/litellm.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 150); do
        curl -sf "http://127.0.0.1:$LITELLM_PORT/health/liveliness" >/dev/null && break
        sleep 0.4
    done
    curl -sf "http://127.0.0.1:$LITELLM_PORT/health/liveliness" >/dev/null ||
        die "LiteLLM did not start; see $WORK/litellm.log"
    say "measuring LiteLLM at 64 connections"
    measure "http://127.0.0.1:$LITELLM_PORT/v1/chat/completions" "$WORK/chat.lua" 64
    LITELLM_RPS=$RPS; LITELLM_P50=$P50; LITELLM_P99=$P99
fi

# --- report -----------------------------------------------------------------------
echo
echo "V2 (POST /api/v2/reviews) vs direct to the simulator; median of $REPEATS x ${SECONDS_PER_RUN}s, wrk closed loop"
printf '%-5s | %10s %9s %9s | %10s %9s %9s | %12s %12s | %8s\n' \
    conns "V2 req/s" "p50 ms" "p99 ms" "sim req/s" "p50 ms" "p99 ms" "added p50" "added p99" "CPU/req"
for c in "${CONNECTIONS[@]}"; do
    printf '%-5s | %10.0f %9.3f %9.3f | %10.0f %9.3f %9.3f | %9.3f ms %9.3f ms | %5s us\n' "$c" \
        "${V2_RPS[$c]}" "${V2_P50[$c]}" "${V2_P99[$c]}" "${D_RPS[$c]}" "${D_P50[$c]}" "${D_P99[$c]}" \
        "$(awk -v a="${V2_P50[$c]}" -v b="${D_P50[$c]}" 'BEGIN { print a - b }')" \
        "$(awk -v a="${V2_P99[$c]}" -v b="${D_P99[$c]}" 'BEGIN { print a - b }')" "${V2_CPU[$c]}"
done
echo "V2 memory: idle $((IDLE_KIB / 1024)) MiB RSS, peak $((PEAK_KIB / 1024)) MiB (VmHWM)"
if [ -n "$LITELLM_RPS" ]; then
    printf 'LiteLLM %s proxy, 1 worker, 64 conns: %.0f req/s, p50 %.3f ms, p99 %.3f ms\n' \
        "$LITELLM_VERSION" "$LITELLM_RPS" "$LITELLM_P50" "$LITELLM_P99"
    printf 'V2 / LiteLLM throughput at 64 conns: %.1fx\n' \
        "$(awk -v a="${V2_RPS[64]}" -v b="$LITELLM_RPS" 'BEGIN { print a / b }')"
fi
written=$(psql "$DB_URL" -Atc "SELECT count(*) FROM production.code_reviews")
echo "records written by V2 during the run: $written (record-keeping on)"
