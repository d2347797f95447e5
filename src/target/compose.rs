//! The compose target: pg_dump and psql run inside the service's container (`docker exec -i`),
//! so their version always matches the server's. (Filled in by the compose issue.)

use std::path::PathBuf;

use super::{PgTool, Target};
use crate::config::Config;
use crate::error::{Error, Result};

/// Compose file names looked up in the project folder, in docker compose's order.
pub const COMPOSE_FILE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The compose file the configuration names, or the first one found in the current folder.
pub fn compose_file(config: &Config) -> Option<PathBuf> {
    if let Some(f) = &config.compose.file {
        return Some(f.clone());
    }
    COMPOSE_FILE_NAMES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// A database running in a compose service's container.
#[derive(Debug, Clone)]
pub struct ComposeTarget {
    /// The container's id.
    pub container_id: String,
    /// Database name.
    pub database: String,
    /// User name.
    pub user: String,
}

impl ComposeTarget {
    /// Finds the service's container and reads user and database from its environment.
    pub async fn discover(config: &Config) -> Result<ComposeTarget> {
        let _ = config;
        Err(Error::Docker(
            "the compose target is not available yet: pass --target direct with --url".into(),
        ))
    }
}

impl Target for ComposeTarget {
    fn kind_name(&self) -> &'static str {
        "compose"
    }
    fn database(&self) -> &str {
        &self.database
    }
    fn user(&self) -> &str {
        &self.user
    }
    fn describe(&self) -> String {
        format!("{}@container {}/{}", self.user, self.container_id, self.database)
    }
    fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.user(&self.user).dbname(database);
        c
    }
    fn command(&self, tool: PgTool, database: &str, app_name: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["exec", "-i", "-e", &format!("PGAPPNAME={app_name}")])
            .args(["-e", &format!("PGDATABASE={database}")])
            .arg(&self.container_id)
            .arg(tool.program());
        cmd.kill_on_drop(true);
        cmd
    }
    fn cli_flags(&self) -> Vec<String> {
        vec!["--target".into(), "compose".into()]
    }
    fn container(&self) -> Option<String> {
        Some(self.container_id.clone())
    }
}
