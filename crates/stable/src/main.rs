//! `trizone-stable`: serves the V2 zone until SIGTERM or Ctrl-C.

// glibc's malloc took a tenth of V2's CPU under load, with threads waiting
// on its arena locks; mimalloc's per-thread heaps take less and wait less.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    trizone_http::zone::main(
        "trizone-stable",
        "trizone V2 stable service",
        async |config: trizone_stable::Config, listener, shutdown| {
            trizone_stable::run(
                &config,
                trizone_router::Providers::from_env()?,
                listener,
                shutdown,
            )
            .await
        },
    )
    .await
}
