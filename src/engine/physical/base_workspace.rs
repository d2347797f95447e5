//! Where pg_basebackup writes its plain copy before pgkeep packs it: a private folder on this
//! host (direct target), or a folder inside the database's container (compose target, so the
//! tools match the server's version); the packed `.tar.gz` is always written on this host.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::cluster::{self, ClusterFacts};
use crate::engine::pgtools;
use crate::engine::progress::Sink;
use crate::error::{Error, Result};

/// The plain copy's folder.
#[derive(Debug, Clone)]
pub enum Workspace {
    /// A folder on this host.
    Host(PathBuf),
    /// A folder inside container `id`.
    Container {
        /// The container.
        id: String,
        /// The folder inside it.
        dir: String,
    },
}

impl Workspace {
    /// The folder as pg_basebackup's `-D` argument.
    pub fn dir_arg(&self) -> String {
        match self {
            Workspace::Host(p) => p.display().to_string(),
            Workspace::Container { dir, .. } => dir.clone(),
        }
    }

    fn exec(&self, program: &str) -> Command {
        match self {
            Workspace::Host(_) => Command::new(program),
            Workspace::Container { id, .. } => {
                let mut c = Command::new("docker");
                c.args(["exec", "-i", id, program]);
                c
            }
        }
    }

    /// Reads a file of the copy.
    pub fn read(&self, file: &str) -> Result<Vec<u8>> {
        match self {
            Workspace::Host(p) => std::fs::read(p.join(file))
                .map_err(|e| Error::Other(format!("cannot read {file} of the base backup: {e}"))),
            Workspace::Container { dir, .. } => {
                let out = self
                    .exec("cat")
                    .arg(format!("{dir}/{file}"))
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| Error::Other(format!("docker exec cat: {e}")))?;
                if !out.status.success() {
                    return Err(Error::Other(format!(
                        "cannot read {file} of the base backup in the container: {}",
                        String::from_utf8_lossy(&out.stderr).trim()
                    )));
                }
                Ok(out.stdout)
            }
        }
    }

    /// Runs pg_verifybackup on the copy; false (with a log line) when it is not installed.
    pub async fn verify(
        &self,
        facts: &ClusterFacts,
        pg_bin: Option<&Path>,
        sink: &Sink,
    ) -> Result<bool> {
        let mut cmd = match self {
            Workspace::Host(_) => {
                match cluster::server_program("pg_verifybackup", facts.major, pg_bin) {
                    Some(p) => Command::new(p),
                    None => {
                        sink.log("pg_verifybackup not found: the copy was not checked against backup_manifest");
                        return Ok(false);
                    }
                }
            }
            Workspace::Container { .. } => self.exec("pg_verifybackup"),
        };
        cmd.arg(self.dir_arg()).stdin(Stdio::null());
        let out = tokio::task::spawn_blocking(move || cmd.output())
            .await
            .map_err(|e| Error::Other(e.to_string()))?
            .map_err(|e| Error::Other(format!("cannot run pg_verifybackup: {e}")))?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            if matches!(self, Workspace::Container { .. })
                && (out.status.code() == Some(127) || err.contains("executable file not found"))
            {
                sink.log("pg_verifybackup is not in the container: the copy was not checked against backup_manifest");
                return Ok(false);
            }
            return Err(Error::ToolFailed {
                tool: "pg_verifybackup".into(),
                message: pgtools::summarize_stderr(&err),
            });
        }
        sink.log("pg_verifybackup: the copy matches PostgreSQL's backup_manifest");
        Ok(true)
    }

    /// `tar -cf - .` of the copy, to be read from stdout.
    pub fn tar(&self) -> Command {
        let mut c = self.exec("tar");
        c.arg("-C").arg(self.dir_arg()).args(["-cf", "-", "."]);
        c
    }

    /// Deletes the copy.
    pub fn remove(&self) {
        match self {
            Workspace::Host(p) => {
                let _ = std::fs::remove_dir_all(p.parent().unwrap_or(p));
            }
            Workspace::Container { dir, .. } => {
                let _ = self
                    .exec("rm")
                    .args(["-rf", dir])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}
