# One image for every zone: the command picks the binary, e.g.
#   command: ["/usr/local/bin/trizone-stable"]   (see k8s/)
# Build: docker build -t ghcr.io/trizone/trizone:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# Queries are checked against the committed .sqlx/ data: no database here.
ENV SQLX_OFFLINE=true CARGO_TERM_COLOR=never
COPY . .
# Without the `local` feature: no `trizone up`, `trizone demo` or provider
# simulator in the image (scripts/test checks it with cargo tree).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --no-default-features \
        --bin trizone --bin trizone-experiment --bin trizone-stable \
        --bin trizone-quarantine --bin trizone-gate && \
    mkdir -p /out && \
    cp target/release/trizone target/release/trizone-experiment target/release/trizone-stable \
       target/release/trizone-quarantine target/release/trizone-gate /out/

# distroless/cc: glibc, libgcc, CA certificates and nothing else: no shell,
# no package manager. The binaries write nothing to disk, so the root
# filesystem can be mounted read-only.
# checkov:skip=CKV_DOCKER_2:Kubernetes probes /healthz and /readyz (k8s/); the image has no shell or curl to run a HEALTHCHECK with
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
# The same numeric user the manifests run as (runAsUser: 10001).
USER 10001:10001
EXPOSE 8081 8082 8083 8084
ENTRYPOINT []
CMD ["/usr/local/bin/trizone", "--help"]
