#!/usr/bin/env bash
# What shadow traffic costs the users of V2. wrk (closed loop) on
# POST /api/v2/reviews against release-built trizone-stable backed by the
# simulator at 0 ms, with no rollout and with a candidate shadowing a
# SHADOW_SAMPLE (default 0.1) of requests, alternated REPEATS (default 5)
# times at 1 and 16 connections, BENCH_SECONDS (default 5) each. Prints,
# per condition, the medians of throughput, p50, p99 and V2's CPU time per
# user request, and how many shadow answers were written and dropped.
set -euo pipefail
. "$(dirname "$0")/../scripts/lib/common.sh"
cd "$ROOT"

SECONDS_PER_RUN=${BENCH_SECONDS:-5}
REPEATS=${REPEATS:-5}
SAMPLE=${SHADOW_SAMPLE:-0.1}
CONNECTIONS=(1 16)
WORK=target/bench/shadow
SIM_PORT=18091
V2_PORT=18083
TOKEN=bench-end-user-token
mkdir -p "$WORK"

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
start_bench

# A candidate on another simulated model, shadowing beside the active one.
shadow_on() {
    psql "$DB_URL" -q -v ON_ERROR_STOP=1 -v sample="$SAMPLE" <<'SQL'
WITH candidate AS (
    INSERT INTO production.deployments (experiment_id, fingerprint, configuration, status)
    SELECT experiment_id, repeat('c', 64),
           jsonb_set(configuration, '{models,primary,model}', '"bench-shadow-model"'), 'shadowing'
    FROM production.deployments WHERE status = 'active'
    RETURNING id)
INSERT INTO production.rollouts (deployment_id, stable_deployment_id, plan, shadow_sample)
SELECT candidate.id, active.deployment_id,
       '{"shadow_sample": 0.1, "min_requests": 20, "min_agreement": 0.8, "steps": [100]}', :'sample'
FROM candidate, production.active_deployment active;
SELECT pg_notify('trizone_active_deployment', 'shadow');
SQL
}

shadow_off() {
    psql "$DB_URL" -q -v ON_ERROR_STOP=1 <<'SQL'
UPDATE production.rollouts SET outcome = 'aborted', ended_at = now() WHERE outcome IS NULL;
UPDATE production.deployments SET status = 'failed' WHERE status = 'shadowing';
SELECT pg_notify('trizone_active_deployment', 'no shadow');
SQL
}


say "measuring: ${#CONNECTIONS[@]} concurrencies x $REPEATS alternations x ${SECONDS_PER_RUN}s, without and with a ${SAMPLE} shadow sample"
declare -A RPS_OF P50_OF P99_OF CPU_OF
for c in "${CONNECTIONS[@]}"; do
    for condition in none shadow; do
        RPS_OF[$c.$condition]=""; P50_OF[$c.$condition]=""; P99_OF[$c.$condition]=""; CPU_OF[$c.$condition]=""
    done
    for _ in $(seq 1 "$REPEATS"); do
        for condition in none shadow; do
            if [ "$condition" = shadow ]; then shadow_on; else shadow_off; fi
            sleep 0.5
            measure "http://127.0.0.1:$V2_PORT/api/v2/reviews" "$WORK/v2.lua" "$c" "$V2_PID" 1
            RPS_OF[$c.$condition]+="$RPS "; P50_OF[$c.$condition]+="$P50 "
            P99_OF[$c.$condition]+="$P99 "; CPU_OF[$c.$condition]+="$CPU_US "
        done
    done
done
shadow_off
sleep 1

echo
echo "V2 with no rollout vs a candidate shadowing ${SAMPLE} of requests; median of $REPEATS alternations x ${SECONDS_PER_RUN}s, wrk closed loop"
printf '%-5s %-8s | %10s %9s %9s %10s\n' conns shadow "req/s" "p50 ms" "p99 ms" "CPU/req"
for c in "${CONNECTIONS[@]}"; do
    for condition in none shadow; do
        # shellcheck disable=SC2086
        printf '%-5s %-8s | %10.0f %9.3f %9.3f %7.1f us\n' "$c" "$condition" \
            "$(median ${RPS_OF[$c.$condition]})" "$(median ${P50_OF[$c.$condition]})" \
            "$(median ${P99_OF[$c.$condition]})" "$(median ${CPU_OF[$c.$condition]})"
    done
    # shellcheck disable=SC2086
    printf '%-5s ratio    | %10.2f %9.2f %9.2f %10.2f  (shadow / none)\n' "$c" \
        "$(awk -v a="$(median ${RPS_OF[$c.shadow]})" -v b="$(median ${RPS_OF[$c.none]})" 'BEGIN { print a / b }')" \
        "$(awk -v a="$(median ${P50_OF[$c.shadow]})" -v b="$(median ${P50_OF[$c.none]})" 'BEGIN { print a / b }')" \
        "$(awk -v a="$(median ${P99_OF[$c.shadow]})" -v b="$(median ${P99_OF[$c.none]})" 'BEGIN { print a / b }')" \
        "$(awk -v a="$(median ${CPU_OF[$c.shadow]})" -v b="$(median ${CPU_OF[$c.none]})" 'BEGIN { print a / b }')"
done
written=$(psql "$DB_URL" -Atc "SELECT count(*) FROM production.shadow_reviews")
reviews=$(psql "$DB_URL" -Atc "SELECT count(*) FROM production.code_reviews")
echo "shadow answers written: $written, beside $reviews user reviews (CPU/req counts V2's whole process, shadow calls included)"
