//! Server configuration: an optional TOML file, then the environment (the environment wins).
//!
//! | setting | file key | environment |
//! |---|---|---|
//! | database | `database_url` | `DATABASE_URL` |
//! | listen address | `listen` | `SYNC_LISTEN` |
//! | data folder (signing key) | `data_dir` | `SYNC_DATA_DIR` |
//! | largest request body | `max_body_bytes` | `SYNC_MAX_BODY_BYTES` |
//! | reverse proxies to believe (addresses, CIDR) | `trusted_proxies = ["127.0.0.1"]` | `SYNC_TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8` |
//! | database connections of this instance, opened at start and kept open | `database_pool` | `SYNC_DB_POOL` (default 32) |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Deserialize;

/// Why the configuration could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{name} is invalid: {detail}")]
    Invalid { name: &'static str, detail: String },
    #[error("no database configured: set DATABASE_URL or database_url in the config file")]
    NoDatabase,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    /// Reverse proxies whose `Forwarded`/`X-Forwarded-For` are believed (none by default).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connections this instance opens to Postgres when it starts and keeps open (the live
    /// listener holds one).
    pub database_pool: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    database_url: Option<String>,
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    max_body_bytes: Option<usize>,
    trusted_proxies: Option<Vec<String>>,
    database_pool: Option<u32>,
}

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default largest request body: 16 MiB (a push batch of 1000 changes is about 1 MiB).
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Default database connections per instance: Postgres' default `max_connections` of 100 leaves
/// room for two instances, the admin CLI and maintenance.
pub const DEFAULT_DATABASE_POOL: u32 = 32;

impl Config {
    /// Reads the file (if given), then overlays the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                toml::from_str(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
            None => FileConfig::default(),
        };
        Self::merge(from_file, |name| std::env::var(name).ok())
    }

    fn merge(file: FileConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let database_url = env("DATABASE_URL")
            .or(file.database_url)
            .ok_or(ConfigError::NoDatabase)?;
        let listen = env("SYNC_LISTEN")
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen.parse().map_err(|e| ConfigError::Invalid {
            name: "listen address",
            detail: format!("{listen:?}: {e}"),
        })?;
        let data_dir = env("SYNC_DATA_DIR")
            .map(PathBuf::from)
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("sync-server-data"));
        let max_body_bytes = match env("SYNC_MAX_BODY_BYTES") {
            Some(v) => v.parse().map_err(|e| ConfigError::Invalid {
                name: "SYNC_MAX_BODY_BYTES",
                detail: format!("{v:?}: {e}"),
            })?,
            None => file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
        };
        let trusted = env("SYNC_TRUSTED_PROXIES")
            .or_else(|| file.trusted_proxies.map(|list| list.join(",")))
            .unwrap_or_default();
        let trusted_proxies =
            crate::client::parse_trusted(&trusted).map_err(|detail| ConfigError::Invalid {
                name: "trusted proxies",
                detail,
            })?;
        let database_pool = match env("SYNC_DB_POOL") {
            Some(v) => v.parse().map_err(|e| ConfigError::Invalid {
                name: "SYNC_DB_POOL",
                detail: format!("{v:?}: {e}"),
            })?,
            None => file.database_pool.unwrap_or(DEFAULT_DATABASE_POOL),
        };
        if !(2..=1000).contains(&database_pool) {
            return Err(ConfigError::Invalid {
                name: "database pool",
                detail: format!("{database_pool} connections: give 2 to 1000"),
            });
        }
        Ok(Self {
            database_url: database_url.into(),
            listen,
            data_dir,
            max_body_bytes,
            trusted_proxies,
            database_pool,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn environment_wins_over_file() {
        let file = FileConfig {
            database_url: Some("postgres://file/db".into()),
            listen: Some("0.0.0.0:9000".into()),
            ..FileConfig::default()
        };
        let env = |name: &str| (name == "DATABASE_URL").then(|| "postgres://env/db".to_owned());
        let config = Config::merge(file, env).unwrap();
        assert_eq!(config.database_url.expose_secret(), "postgres://env/db");
        assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
    }

    #[test]
    fn trusted_proxies_come_from_the_environment_or_the_file_and_bad_ones_are_refused() {
        let file = FileConfig {
            database_url: Some("postgres://x/y".into()),
            trusted_proxies: Some(vec!["10.0.0.0/8".into(), "::1".into()]),
            ..FileConfig::default()
        };
        let config = Config::merge(file, |_| None).unwrap();
        assert_eq!(config.trusted_proxies.len(), 2);
        let env = |name: &str| match name {
            "DATABASE_URL" => Some("postgres://x/y".to_owned()),
            "SYNC_TRUSTED_PROXIES" => Some("127.0.0.1, bad".to_owned()),
            _ => None,
        };
        let err = Config::merge(FileConfig::default(), env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("trusted proxies") && err.contains("bad"),
            "{err}"
        );
        let default = Config::merge(FileConfig::default(), |n| {
            (n == "DATABASE_URL").then(|| "postgres://x/y".to_owned())
        })
        .unwrap();
        assert!(
            default.trusted_proxies.is_empty(),
            "no proxy is trusted unless configured"
        );
    }

    #[test]
    fn missing_database_and_bad_listen_are_clear_errors() {
        let none = |_: &str| None;
        assert!(matches!(
            Config::merge(FileConfig::default(), none),
            Err(ConfigError::NoDatabase)
        ));
        let file = FileConfig {
            database_url: Some("postgres://x/y".into()),
            listen: Some("not an address".into()),
            ..FileConfig::default()
        };
        let err = Config::merge(file, none).unwrap_err().to_string();
        assert!(err.contains("listen address"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let file = FileConfig {
            database_url: Some("postgres://user:hunter2@x/y".into()),
            ..FileConfig::default()
        };
        let config = Config::merge(file, |_| None).unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
