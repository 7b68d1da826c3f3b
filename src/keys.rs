//! `trizone key-entry`: the line a zone's keys file holds for a token, so
//! an operator never computes a hash by hand (or with the wrong secret).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use trizone_http::auth::{KeyStore, MIN_TOKEN_CHARS, Role, token_hash_hex, token_hmac_hex};

#[derive(Debug, Args)]
pub struct KeyEntryArgs {
    /// The key's role: end_user, experimenter, admin, gate, experimentation or scraper.
    #[arg(long, value_parser = parse_role)]
    role: Role,
    /// The person or team the key is bound to: what owns what it registers
    /// and what the audit trail names.
    #[arg(long)]
    name: Option<String>,
    /// The zones' secret (`TRIZONE_API_KEY_SECRET_FILE`); without it the
    /// entry is the token's plain SHA-256, for zones run without a secret.
    #[arg(long, env = "TRIZONE_API_KEY_SECRET_FILE")]
    secret_file: Option<PathBuf>,
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("unknown role `{raw}`"))
}

/// Reads the token on standard input (never a flag, which `ps` and shell
/// history would keep) and prints its entry.
pub fn key_entry(args: &KeyEntryArgs) -> anyhow::Result<()> {
    let mut token = String::new();
    std::io::stdin()
        .read_to_string(&mut token)
        .context("cannot read the token on standard input")?;
    let entry = entry(args, token.trim())?;
    writeln!(std::io::stdout().lock(), "{entry}")?;
    Ok(())
}

fn entry(args: &KeyEntryArgs, token: &str) -> anyhow::Result<String> {
    anyhow::ensure!(
        token.chars().count() >= MIN_TOKEN_CHARS,
        "the token is {} characters: a token needs at least {MIN_TOKEN_CHARS}",
        token.chars().count()
    );
    let hash = match &args.secret_file {
        Some(path) => {
            let secret = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the secret file {}", path.display()))?;
            token_hmac_hex(secret.trim().as_bytes(), token)?
        }
        None => token_hash_hex(token),
    };
    let entry = match &args.name {
        Some(name) => format!("{}:{hash}:{name}", args.role),
        None => format!("{}:{hash}", args.role),
    };
    // The zones' own parser: a name they would refuse is refused here.
    KeyStore::parse(&entry)?;
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_what_a_zone_with_that_secret_accepts() {
        let dir = std::env::temp_dir().join(format!("trizone-key-entry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "0123456789abcdef0123456789abcdef01234567\n").unwrap();
        let args = KeyEntryArgs {
            role: Role::Admin,
            name: Some("alice".into()),
            secret_file: Some(secret.clone()),
        };
        let token = "tz-admin-0123456789abcdef0123";
        let line = entry(&args, token).unwrap();
        let zone = trizone_http::AuthArgs {
            api_keys: Some(line),
            api_key_secret_file: Some(secret),
            ..trizone_http::AuthArgs::default()
        }
        .load()
        .unwrap();
        let caller = zone.authenticate(token).unwrap();
        assert_eq!(
            (caller.role, caller.principal.as_str()),
            (Role::Admin, "alice")
        );
        assert!(entry(&args, "short").is_err());
        let bad_name = KeyEntryArgs {
            name: Some("not a name".into()),
            ..args
        };
        assert!(entry(&bad_name, token).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
