//! The scratch server of a compose `restore --time` as a [`Target`]: queries reach it through
//! its socket in a private folder of this host, pg_dump runs inside its temporary container.

use std::path::PathBuf;

use super::pitr_compose::SOCKET_MOUNT;
use crate::target::{PgTool, Target};

/// The recovering server in the temporary container, as a [`Target`].
#[derive(Debug, Clone)]
pub struct ScratchContainerTarget {
    pub(super) container: String,
    pub(super) socket_dir: PathBuf,
    pub(super) user: String,
    pub(super) database: String,
}

impl Target for ScratchContainerTarget {
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
        format!(
            "{}@scratch container {}/{}",
            self.user, self.container, self.database
        )
    }
    fn pg_config(&self, database: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        c.host_path(&self.socket_dir)
            .port(5432)
            .user(&self.user)
            .dbname(database)
            .application_name("pgkeep");
        c
    }
    fn command(&self, tool: PgTool, database: &str, app_name: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(["exec", "-i"]);
        for var in ["PGUSER", "PGDATABASE", "PGAPPNAME", "PGHOST", "PGPORT"] {
            cmd.args(["-e", var]);
        }
        cmd.env("PGUSER", &self.user)
            .env("PGDATABASE", database)
            .env("PGAPPNAME", app_name)
            .env("PGHOST", SOCKET_MOUNT)
            .env("PGPORT", "5432")
            .env_remove("PGPASSWORD");
        cmd.arg(&self.container).arg(tool.program());
        cmd.kill_on_drop(true);
        cmd
    }
    fn cli_flags(&self) -> Vec<String> {
        Vec::new()
    }
    fn container(&self) -> Option<String> {
        Some(self.container.clone())
    }
}
