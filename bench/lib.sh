# What the V2 benchmarks share: a database with one active deployment
# pointing at the simulator, the simulator and a release-built V2, wrk
# scripts for a review and for the same chat request sent straight to the
# simulator, and closed-loop measurement (median of REPEATS runs).
# Sourced after common.sh, with SIM_PORT, V2_PORT, WORK, TOKEN, REPEATS
# and SECONDS_PER_RUN set (and SIM_FLAGS, to start the simulator other
# than with a control token); `start_bench` sets DB_URL and V2_PID. V2
# also accepts SCRAPER_TOKEN (set below) on its /metrics.
# shellcheck shell=bash

PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
SCRAPER_TOKEN=bench-scraper-token-0123456789

ensure_wrk() {
    if ! command -v wrk >/dev/null 2>&1; then
        say "installing wrk"
        if [ "$(id -u)" -eq 0 ]; then apt-get install -y -q wrk >/dev/null; else sudo apt-get install -y -q wrk >/dev/null; fi
    fi
}

# A fresh database at DB_URL with one active deployment of a reviewer on
# the simulator's `bench-model`.
setup_database() {
    psql "$PG_SERVER_URL/postgres" -q -c "DROP DATABASE IF EXISTS trizone_bench WITH (FORCE)"
    target/release/trizone migrate --create --database-url "$DB_URL" >/dev/null
    CONFIG=$(cat <<EOF
{"name": "bench-reviewer",
 "models": {"primary": {"provider": "sim-openai", "model": "bench-model", "input_per_mtok": 1, "output_per_mtok": 2}},
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
            encode(sha256('prompt'::bytea), 'hex'), 'sim-openai/bench-model', 'primary')
    RETURNING id, fingerprint, configuration),
deployment AS (
    INSERT INTO production.deployments (experiment_id, fingerprint, configuration, status, activated_at)
    SELECT id, fingerprint, configuration, 'active', now() FROM experiment
    RETURNING id)
INSERT INTO production.active_deployment (deployment_id) SELECT id FROM deployment;
SQL
}

# The simulator and V2, started (V2 with the simulator as its one
# provider, `sim-openai`); sets V2_PID.
start_services() {
    printf 'sk-bench\n' >"$WORK/sim-key"
    printf 'providers:\n  - name: sim-openai\n    api: openai\n    base_url: http://127.0.0.1:%s/v1\n    key_file: %s\n' \
        "$SIM_PORT" "$ROOT/$WORK/sim-key" >"$WORK/providers.yaml"
    # shellcheck disable=SC2086 # flags, split on purpose
    RUST_LOG=warn target/release/trizone-sim --port "$SIM_PORT" ${SIM_FLAGS:---control-token bench-control} \
        >"$WORK/sim.log" 2>&1 &
    PIDS+=($!)
    TOKEN_HASH=$(printf '%s' "$TOKEN" | sha256sum | cut -d' ' -f1)
    SCRAPER_HASH=$(printf '%s' "$SCRAPER_TOKEN" | sha256sum | cut -d' ' -f1)
    RUST_LOG=warn TRIZONE_LOG_FORMAT=json TRIZONE_PROVIDERS_FILE="$ROOT/$WORK/providers.yaml" \
        TRIZONE_V2_LISTEN="127.0.0.1:$V2_PORT" \
        TRIZONE_V2_DATABASE_URL="${PG_SERVER_URL/postgres@/trizone_stable@}/trizone_bench" \
        TRIZONE_API_KEYS="end_user:$TOKEN_HASH,scraper:$SCRAPER_HASH" \
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
}

# The wrk scripts $WORK/v2.lua (a review) and $WORK/chat.lua (the chat
# request the router sends for it, straight to the simulator).
write_requests() {
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
}

# wrk, release binaries, the database at DB_URL, the simulator, V2 and
# the request scripts: everything a measurement needs.
start_bench() {
    ensure_wrk
    require_rust
    find_postgres
    say "building release binaries"
    export SQLX_OFFLINE=true
    cargo build --release --locked -q -p trizone -p trizone-stable -p trizone-sim --bins
    DB_URL="$PG_SERVER_URL/trizone_bench"
    setup_database
    start_services
    write_requests
}

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

# Median of REPEATS runs (or $5); sets RPS P50 P99 and, with a pid, CPU_US
# (CPU time per request of that process).
measure() {
    local url=$1 script=$2 connections=$3 pid=${4:-} runs=${5:-$REPEATS}
    local rps=() p50=() p99=() cpu=()
    load "$url" "$script" "$connections" 1 >/dev/null # warm-up
    for _ in $(seq 1 "$runs"); do
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

