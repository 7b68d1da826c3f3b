//! The V3 service's settings, read once by clap from flags or `TRIZONE_*`.

use std::net::SocketAddr;

use trizone_http::AuthArgs;

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to serve on.
    #[arg(long, env = "TRIZONE_V3_LISTEN", default_value = "127.0.0.1:8083")]
    pub listen: SocketAddr,
    /// PostgreSQL URL logging in as the read-only `trizone_quarantine` role.
    #[arg(
        long = "database-url",
        env = "TRIZONE_V3_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: secrecy::SecretString,
    #[command(flatten)]
    pub auth: AuthArgs,
}

impl trizone_http::zone::ZoneConfig for Config {
    fn listen(&self) -> SocketAddr {
        self.listen
    }
}
