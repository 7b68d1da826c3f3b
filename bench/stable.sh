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

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
start_bench

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
