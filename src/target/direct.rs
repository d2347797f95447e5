//! The direct target: connect with a URL or the PG* environment, run pg_dump and psql from
//! PATH or `--pg-bin` on this host.

use std::path::PathBuf;

use super::{conn, ConnParams, PgTool, Target};
use crate::config::Config;
use crate::error::Result;

/// A database reached directly from this host.
#[derive(Debug, Clone)]
pub struct DirectTarget {
    /// Connection parameters (the password stays in memory).
    pub params: ConnParams,
    /// Directory with pg_dump/psql, or None for PATH.
    pub pg_bin: Option<PathBuf>,
    /// Whether the URL came from the command line/config (shown as `--url` in CLI hints).
    url_given: bool,
}

impl DirectTarget {
    /// From `--url` / `PGKEEP_URL` / config, else the PG* environment.
    pub fn from_config(config: &Config) -> Result<DirectTarget> {
        if let Some(port) = conn::process_env("PGPORT") {
            if port.trim().parse::<u16>().map_or(true, |p| p == 0) {
                return Err(crate::Error::Config(format!(
                    "PGPORT={port:?} is not a port number: set PGPORT to the server's port (for example 5432) or unset it"
                )));
            }
        }
        let params = match &config.url {
            Some(url) => ConnParams::from_url(url, &conn::process_env)?,
            None => ConnParams::from_env(&conn::process_env),
        };
        Ok(DirectTarget {
            params,
            pg_bin: config.pg_bin.clone(),
            url_given: config.url.is_some(),
        })
    }

    /// From explicit parameters (tests, demo).
    pub fn new(params: ConnParams, pg_bin: Option<PathBuf>) -> DirectTarget {
        DirectTarget {
            params,
            pg_bin,
            url_given: false,
        }
    }

    /// Path of a client program: in `--pg-bin` or on PATH.
    pub fn program_path(&self, tool: PgTool) -> PathBuf {
        match &self.pg_bin {
            Some(dir) => dir.join(tool.program()),
            None => PathBuf::from(tool.program()),
        }
    }
}

/// libpq variables removed from a child's environment before ours are set, so nothing
/// inherited (a service file, another password) changes where it connects.
const INHERITED_PG_VARS: &[&str] = &[
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGHOSTADDR",
    "PGOPTIONS",
    "PGREQUIRESSL",
    "PGSSLMODE",
    "PGTARGETSESSIONATTRS",
    "PGPASSWORD",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
];

impl Target for DirectTarget {
    fn kind_name(&self) -> &'static str {
        "direct"
    }

    fn database(&self) -> &str {
        &self.params.dbname
    }

    fn user(&self) -> &str {
        &self.params.user
    }

    fn describe(&self) -> String {
        self.params.describe()
    }

    fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        self.params.pg_config(database, "pgkeep")
    }

    fn command(&self, tool: PgTool, database: &str, app_name: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(self.program_path(tool));
        for v in INHERITED_PG_VARS {
            cmd.env_remove(v);
        }
        for (k, v) in self.params.child_env(database, app_name) {
            cmd.env(k, v);
        }
        cmd.kill_on_drop(true);
        cmd
    }

    fn cli_flags(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.url_given {
            let p = &self.params;
            v.push("--url".into());
            v.push(format!(
                "postgresql://{}@{}:{}/{}",
                p.user, p.host, p.port, p.dbname
            ));
        }
        if let Some(b) = &self.pg_bin {
            v.push("--pg-bin".into());
            v.push(b.display().to_string());
        }
        v
    }
}
