//! How to reach the database: a [`Target`] hands out connection settings for queries
//! (tokio-postgres) and builds the commands that run pg_dump and psql. The direct target runs
//! them on this host; the compose target runs them inside the service's container. Nothing
//! outside this module may assume where pg_dump runs.

pub mod compose;
pub mod conn;
pub mod direct;
pub mod docker;

use std::time::Duration;

use tokio_postgres::Client;

use crate::config::{Config, TargetKind};
use crate::error::{Error, Result};

pub use conn::ConnParams;

/// A PostgreSQL client program the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgTool {
    /// pg_dump, for backups.
    PgDump,
    /// psql, for restores.
    Psql,
    /// pg_basebackup, for base backups.
    PgBasebackup,
}

impl PgTool {
    /// The program's file name.
    pub fn program(self) -> &'static str {
        match self {
            PgTool::PgDump => "pg_dump",
            PgTool::Psql => "psql",
            PgTool::PgBasebackup => "pg_basebackup",
        }
    }
}

/// How to reach the database. Object safe: the engine takes `&dyn Target`.
pub trait Target: Send + Sync + std::fmt::Debug {
    /// "direct" or "compose".
    fn kind_name(&self) -> &'static str;
    /// The database pgkeep protects.
    fn database(&self) -> &str;
    /// The user pgkeep connects as.
    fn user(&self) -> &str;
    /// Where the database is, for messages: never contains a password.
    fn describe(&self) -> String;
    /// Connection settings for queries against `database` on the same server.
    fn pg_config(&self, database: &str) -> tokio_postgres::Config;
    /// A command that runs `tool` against `database` with `app_name` as its application_name.
    /// Arguments added by the caller go to the tool. The password travels in the child's
    /// environment only, never on a command line.
    fn command(&self, tool: PgTool, database: &str, app_name: &str) -> tokio::process::Command;
    /// Flags that select this target on pgkeep's command line (no secrets), for showing the
    /// equivalent CLI command of a console action.
    fn cli_flags(&self) -> Vec<String>;
    /// The container's id or name, for the compose target.
    fn container(&self) -> Option<String> {
        None
    }
    /// Why queries cannot reach this target's server at all (e.g. a container that publishes
    /// no port), phrased with the fix; None when they can.
    fn sql_unavailable(&self) -> Option<String> {
        None
    }
}

/// Builds the target the configuration asks for.
pub async fn from_config(config: &Config) -> Result<Box<dyn Target>> {
    if uses_compose(config, &conn::process_env) {
        Ok(Box::new(compose::ComposeTarget::discover(config).await?))
    } else {
        Ok(Box::new(direct::DirectTarget::from_config(config)?))
    }
}

/// libpq variables whose presence says "connect directly": an operator who exported them
/// (or a script, or cron with a PGHOST) means that server, not the compose service.
pub const DIRECT_INTENT_VARS: &[&str] = &["PGHOST", "PGPORT", "PGDATABASE", "PGSERVICE"];

/// Whether the configuration selects the compose target. `auto` picks compose only when no
/// URL is configured, none of [`DIRECT_INTENT_VARS`] is set, and a compose file is found.
pub fn uses_compose(config: &Config, env: conn::EnvLookup) -> bool {
    match config.target {
        TargetKind::Compose => true,
        TargetKind::Direct => false,
        TargetKind::Auto => {
            config.url.is_none()
                && DIRECT_INTENT_VARS.iter().all(|v| env(v).is_none())
                && compose::compose_file(config).is_some()
        }
    }
}

/// Connects to `database` on the target's server, mapping failures to clear errors.
pub async fn connect(target: &dyn Target, database: &str) -> Result<Client> {
    if let Some(reason) = target.sql_unavailable() {
        return Err(Error::Unreachable {
            target: target.describe(),
            reason,
        });
    }
    let mut cfg = target.pg_config(database);
    cfg.connect_timeout(Duration::from_secs(10));
    let user = cfg.get_user().unwrap_or("").to_string();
    match cfg.connect(tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(client)
        }
        Err(e) => Err(map_connect_error(e, &target.describe(), &user, database)),
    }
}

/// Turns a tokio-postgres connection error into one clear line.
pub fn map_connect_error(e: tokio_postgres::Error, where_: &str, user: &str, db: &str) -> Error {
    if let Some(db_err) = e.as_db_error() {
        let code = db_err.code().code();
        return match code {
            "28P01" => Error::Authentication {
                target: where_.to_string(),
                user: user.to_string(),
            },
            // "role … does not exist" shares 28000 with pg_hba.conf rejections; its fix is
            // the user name, not the server's access rules.
            "28000" if db_err.message().contains("does not exist") => Error::Other(format!(
                "the server at {where_} has no role \"{user}\": check the user in the URL / PGUSER (or POSTGRES_USER of the compose service), or create it with `createuser {user}`"
            )),
            "28000" => Error::AccessDenied {
                target: where_.to_string(),
                reason: db_err.message().to_string(),
            },
            "3D000" => Error::NoSuchDatabase(db.to_string()),
            _ => Error::Unreachable {
                target: where_.to_string(),
                reason: db_err.message().to_string(),
            },
        };
    }
    let text = e.to_string();
    let source_text = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or_default();
    if text.contains("password missing") || source_text.contains("password missing") {
        return Error::NoPassword {
            target: where_.to_string(),
            user: user.to_string(),
        };
    }
    let reason = std::error::Error::source(&e)
        .map(|s| s.to_string())
        .unwrap_or(text);
    Error::Unreachable {
        target: where_.to_string(),
        reason,
    }
}

/// Maps an error from a query on an established connection.
pub fn sql_error(e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Sql(db.message().to_string()),
        None => Error::Sql(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_prefers_direct_when_libpq_variables_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let compose = dir.path().join("docker-compose.yml");
        std::fs::write(&compose, "services: {}\n").unwrap();
        let mut config = Config::default();
        config.compose.file = Some(compose);
        let none = |_: &str| None;
        let pghost = |k: &str| (k == "PGHOST").then(|| "/tmp".to_string());
        assert!(uses_compose(&config, &none));
        assert!(!uses_compose(&config, &pghost));
        config.url = Some("postgresql://u@h/db".into());
        assert!(!uses_compose(&config, &none));
        config.target = TargetKind::Compose;
        assert!(uses_compose(&config, &pghost));
        config.target = TargetKind::Direct;
        config.compose.file = None;
        assert!(!uses_compose(&config, &none));
    }
}
