#!/usr/bin/env bash
# V2 beside the fastest Rust gateway, on one machine, in one run. An
# upstream that answers one fixed review at once (`trizone-sim --fixed`)
# is loaded directly, through V2 (POST /api/v2/reviews: records, SLO
# windows, auth and the rate limiter on) and, when TZ_GATEWAY names a built
# TensorZero gateway (tag 2025.5.7, `cargo build --release -p gateway`),
# through TensorZero's OpenAI-compatible endpoint with observability off.
# wrk closed loop at 1 and 64 connections, REPEATS (default 3) rounds of
# BENCH_SECONDS (default 10), the targets interleaved within each round;
# medians. Prints req/s at 64, the p50 each gateway adds at 1, CPU per
# request (V2's own process and PostgreSQL's share apart) and idle RSS, and
# checks that V2 stored a review for every review it answered.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
REPEATS=${REPEATS:-3}
CONNECTIONS=(1 64)
WORK=target/bench/peers
SIM_PORT=18092
V2_PORT=18084
TZ_PORT=18300
TOKEN=bench-end-user-token
SIM_FLAGS=--fixed
mkdir -p "$WORK"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
start_bench

# CPU ticks of every PostgreSQL process: the work V2's records cause.
pg_ticks() {
    local total=0 pid
    for pid in $(pgrep -x postgres); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
reviews_stored() { psql "$DB_URL" -Atc "SELECT count(*) FROM production.code_reviews"; }
reviews_answered() {
    curl -sf "http://127.0.0.1:$V2_PORT/metrics" -H "Authorization: Bearer $SCRAPER_TOKEN" |
        awk '/^v2_requests_total\{/ && /route="\/api\/v2\/reviews"/ && /status="201"/ { n += $2 } END { print n + 0 }'
}

TARGETS=(direct v2)
declare -A URL SCRIPT PID IDLE_KIB
URL[direct]="http://127.0.0.1:$SIM_PORT/v1/chat/completions"; SCRIPT[direct]="$WORK/chat.lua"
URL[v2]="http://127.0.0.1:$V2_PORT/api/v2/reviews"; SCRIPT[v2]="$WORK/v2.lua"
PID[direct]=${PIDS[0]}; PID[v2]=$V2_PID
IDLE_KIB[direct]=$(mem_kib "${PID[direct]}" VmRSS)
IDLE_KIB[v2]=$(mem_kib "$V2_PID" VmRSS)

if [ -n "${TZ_GATEWAY:-}" ]; then
    [ -x "$TZ_GATEWAY" ] || die "TZ_GATEWAY=$TZ_GATEWAY is not an executable"
    cat >"$WORK/tensorzero.toml" <<EOF
[gateway]
observability.enabled = false
bind_address = "127.0.0.1:$TZ_PORT"

[models."bench-model"]
routing = ["openai"]

[models."bench-model".providers.openai]
type = "openai"
model_name = "bench-model"
api_base = "http://127.0.0.1:$SIM_PORT/v1/"
api_key_location = "none"
EOF
    RUST_LOG=warn "$TZ_GATEWAY" "$WORK/tensorzero.toml" >"$WORK/tensorzero.log" 2>&1 &
    PID[tensorzero]=$!
    PIDS+=("${PID[tensorzero]}")
    wait_for_port "$TZ_PORT" || die "TensorZero did not start; see $WORK/tensorzero.log"
    # The chat request V2's router sends, addressed to TensorZero's model.
    sed 's/"model": "bench-model"/"model": "tensorzero::model_name::bench-model"/' "$WORK/chat.lua" >"$WORK/tz.lua"
    sed -i '/Authorization/d' "$WORK/tz.lua"
    URL[tensorzero]="http://127.0.0.1:$TZ_PORT/openai/v1/chat/completions"; SCRIPT[tensorzero]="$WORK/tz.lua"
    load "${URL[tensorzero]}" "${SCRIPT[tensorzero]}" 1 1 >/dev/null
    IDLE_KIB[tensorzero]=$(mem_kib "${PID[tensorzero]}" VmRSS)
    TARGETS+=(tensorzero)
fi

say "measuring: ${#TARGETS[@]} targets x ${#CONNECTIONS[@]} concurrencies x $REPEATS rounds x ${SECONDS_PER_RUN}s, interleaved"
for target in "${TARGETS[@]}"; do load "${URL[$target]}" "${SCRIPT[$target]}" 16 2 >/dev/null; done
STORED_BEFORE=$(reviews_stored); ANSWERED_BEFORE=$(reviews_answered)
HZ=$(getconf CLK_TCK)
declare -A RPS P50 CPU PG
for _ in $(seq 1 "$REPEATS"); do
    for c in "${CONNECTIONS[@]}"; do
        for target in "${TARGETS[@]}"; do
            before=$(cpu_ticks "${PID[$target]}"); pg_before=$(pg_ticks)
            read -r r a _ n <<<"$(load "${URL[$target]}" "${SCRIPT[$target]}" "$c" "$SECONDS_PER_RUN")"
            after=$(cpu_ticks "${PID[$target]}"); pg_after=$(pg_ticks)
            RPS[$target,$c]+="$r "; P50[$target,$c]+="$a "
            CPU[$target,$c]+="$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.4f", t / hz / n * 1e3 }') "
            PG[$target,$c]+="$(awk -v t=$((pg_after - pg_before)) -v hz="$HZ" -v n="$n" 'BEGIN { printf "%.4f", t / hz / n * 1e3 }') "
        done
    done
done
# The writer flushes every few hundred milliseconds.
sleep 2
STORED=$(($(reviews_stored) - STORED_BEFORE)); ANSWERED=$(($(reviews_answered) - ANSWERED_BEFORE))

med() { # med "a b c"
    # shellcheck disable=SC2086
    median $1
}
echo
echo "trizone-sim --fixed as the upstream; wrk closed loop, median of $REPEATS interleaved rounds x ${SECONDS_PER_RUN}s; CPU in ms per request"
printf '%-12s | %12s | %14s | %10s | %10s | %10s | %9s\n' \
    target "req/s at 64" "added p50 @1" "CPU @64" "PG CPU @64" "CPU @1" "idle RSS"
for target in "${TARGETS[@]}"; do
    added="-"
    if [ "$target" != direct ]; then
        added=$(awk -v a="$(med "${P50[$target,1]}")" -v b="$(med "${P50[direct,1]}")" 'BEGIN { printf "%.3f ms", a - b }')
    fi
    pg="-"
    [ "$target" = v2 ] && pg=$(med "${PG[v2,64]}")
    printf '%-12s | %12.0f | %14s | %10s | %10s | %10s | %6d MB\n' "$target" \
        "$(med "${RPS[$target,64]}")" "$added" "$(med "${CPU[$target,64]}")" "$pg" \
        "$(med "${CPU[$target,1]}")" "$((IDLE_KIB[$target] / 1024))"
done
# The machine is shared and noisy: every round, not only the median.
for target in "${TARGETS[@]}"; do
    printf '%-12s req/s at 64, each round: %s\n' "$target" "${RPS[$target,64]}"
done
if [ -n "${PID[tensorzero]:-}" ]; then
    printf 'V2 / TensorZero at 64 connections: %.2fx req/s; CPU per request %.3f + %.3f (PostgreSQL) against %.3f ms\n' \
        "$(awk -v a="$(med "${RPS[v2,64]}")" -v b="$(med "${RPS[tensorzero,64]}")" 'BEGIN { print a / b }')" \
        "$(med "${CPU[v2,64]}")" "$(med "${PG[v2,64]}")" "$(med "${CPU[tensorzero,64]}")"
fi
echo "V2 answered $ANSWERED reviews during the rounds and stored $STORED"
[ "$STORED" -eq "$ANSWERED" ] || die "V2 stored $STORED reviews but answered $ANSWERED"
