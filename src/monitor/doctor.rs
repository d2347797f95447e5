//! `pgkeep doctor`: the old troubleshooting steps as checks, each failure with the exact
//! command that fixes it. Docker reachable; container running and healthy; data volume;
//! database reachable; backup dir; WAL archiving; free disk; pg_dump version; schedule; age
//! of the last backup. The console's status pane shows the failing ones.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;

use chrono::Utc;
use tokio_postgres::Client;

use super::checks::Check;
use super::container;
use super::doctor_checks::{self as judge, fail, pass, ArchiverFacts, DirFacts};
use crate::config::{Config, TargetKind};
use crate::engine::{catalog, fsutil, pgtools};
use crate::target::compose::{self, ComposeCli, ComposeTarget};
use crate::target::docker;
use crate::target::{self, direct::DirectTarget, PgTool, Target};

/// Whether the configuration selects the compose target.
pub fn uses_compose(config: &Config) -> bool {
    match config.target {
        TargetKind::Compose => true,
        TargetKind::Direct => false,
        TargetKind::Auto => config.url.is_none() && compose::compose_file(config).is_some(),
    }
}

/// Runs every check against the deployment `config` describes. Never fails: a check that
/// cannot run is a failed check that says why.
pub async fn run_checks(config: &Config) -> Vec<Check> {
    let mut checks = Vec::new();
    let target: Option<Box<dyn Target>> = if uses_compose(config) {
        compose_checks(config, &mut checks)
            .await
            .map(|t| Box::new(t) as Box<dyn Target>)
    } else {
        checks.push(pass("docker", "direct target: docker checks skipped"));
        match DirectTarget::from_config(config) {
            Ok(t) => Some(Box::new(t)),
            Err(e) => {
                checks.push(fail("database reachable", e.to_string(), None));
                None
            }
        }
    };
    let client = match &target {
        Some(t) => match target::connect(t.as_ref(), t.database()).await {
            Ok(c) => {
                checks.push(pass(
                    "database reachable",
                    format!("connected to {}", t.describe()),
                ));
                Some(c)
            }
            Err(e) => {
                checks.push(fail(
                    "database reachable",
                    e.to_string(),
                    reach_fix(config, t.as_ref()),
                ));
                None
            }
        },
        None => None,
    };

    let dir = absolute(&config.backup_dir);
    checks.push(backup_dir_check(&dir));
    if let (Some(c), Some(t)) = (&client, &target) {
        checks.push(wal_check(c, t.as_ref()).await);
        checks.push(pg_dump_check(c, t.as_ref()).await);
    }
    let entries = catalog::scan(&dir).unwrap_or_default();
    let last = judge::newest_complete(&entries, target.as_ref().map(|t| t.database()));
    if let Ok(free) = fsutil::free_space(if dir.is_dir() { &dir } else { Path::new(".") }) {
        checks.push(judge::free_disk(&dir, free, last));
    }
    let summary = crate::schedule::summary(&config.schedule);
    checks.push(judge::schedule(&summary.expression, &summary.crontab));
    checks.push(judge::last_backup(&dir, last, Utc::now()));
    checks
}

/// Docker reachable, the container running and healthy, its data volume; returns the target.
async fn compose_checks(config: &Config, checks: &mut Vec<Check>) -> Option<ComposeTarget> {
    let mut version = tokio::process::Command::new("docker");
    version
        .args(["version", "--format", "{{.Server.Version}}"])
        .stdin(Stdio::null());
    match docker::output_of(version, "docker version").await {
        Ok(v) => checks.push(pass(
            "docker reachable",
            format!("docker engine {}", v.trim()),
        )),
        Err(e) => {
            let fix = match std::env::var("DOCKER_HOST") {
                Ok(h) => format!("start the docker daemon listening on {h}"),
                Err(_) => "sudo systemctl start docker".to_string(),
            };
            checks.push(fail("docker reachable", e.to_string(), Some(fix)));
            return None;
        }
    }
    let file = compose::compose_file(config).unwrap_or_else(|| "docker-compose.yml".into());
    let service = &config.compose.service;
    let cli = ComposeCli::detect().await.unwrap_or(ComposeCli::V2);
    let up = cli.up_command(&file, service);
    let target = match ComposeTarget::discover(config).await {
        Ok(t) => t,
        Err(e) => {
            checks.push(fail("container running", e.to_string(), Some(up)));
            return None;
        }
    };
    match container::fetch(&target.container_id).await {
        Ok(st) => {
            let detail = format!(
                "{} {}, image {}, {} restarts{}",
                st.name,
                st.state_text(),
                st.image,
                st.restart_count,
                st.started_at
                    .map(|t| format!(", started {}", t.format("%Y-%m-%d %H:%M:%S UTC")))
                    .unwrap_or_default()
            );
            if st.is_healthy() {
                checks.push(pass("container running", detail));
            } else {
                let logs = super::docker_logs::DockerLogSource::new(&target.container_id)
                    .tail(5)
                    .await
                    .map(|l| l.join(" / "))
                    .unwrap_or_default();
                checks.push(fail(
                    "container running",
                    format!("{detail}; last log lines: {logs}"),
                    Some(up),
                ));
            }
            match st.volume_warning {
                None => checks.push(pass(
                    "data volume",
                    format!(
                        "{} at the data directory",
                        st.data_volume.unwrap_or_default()
                    ),
                )),
                Some(w) => checks.push(fail(
                    "data volume",
                    w,
                    Some(format!(
                        "edit {}: mount the named volume {} (`name: {}`) at the data directory",
                        file.display(),
                        container::EXPECTED_VOLUME,
                        container::EXPECTED_VOLUME
                    )),
                )),
            }
        }
        Err(e) => checks.push(fail("container running", e.to_string(), Some(up))),
    }
    Some(target)
}

/// What to do when the database cannot be reached.
fn reach_fix(config: &Config, t: &dyn Target) -> Option<String> {
    if t.kind_name() != "compose" {
        return None;
    }
    let file = compose::compose_file(config).unwrap_or_else(|| "docker-compose.yml".into());
    Some(format!(
        "check POSTGRES_* in .env beside {}, then `docker compose up -d {}`",
        file.display(),
        config.compose.service
    ))
}

fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The backup directory as the file system sees it.
pub fn backup_dir_check(dir: &Path) -> Check {
    let facts = std::fs::metadata(dir).ok().map(|m| DirFacts {
        is_dir: m.is_dir(),
        writable: nix::unistd::access(
            dir,
            nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
        )
        .is_ok(),
        owner: m.uid(),
    });
    judge::backup_dir(
        dir,
        facts,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

async fn wal_check(client: &Client, t: &dyn Target) -> Check {
    let row = client
        .query_one(
            "SELECT current_setting('archive_mode'), archived_count, failed_count,
                    last_archived_time, last_failed_wal, last_failed_time
               FROM pg_stat_archiver",
            &[],
        )
        .await;
    let row = match row {
        Ok(r) => r,
        Err(e) => return fail("WAL archiving", target::sql_error(e).to_string(), None),
    };
    let facts = ArchiverFacts {
        mode: row.get(0),
        archived_count: row.get(1),
        failed_count: row.get(2),
        last_archived_time: row.get(3),
        last_failed_wal: row.get(4),
        last_failed_time: row.get(5),
    };
    let fix = t.container().map(|c| {
        format!(
            "docker exec {c} sh -c 'mkdir -p /backups/wal && chown postgres:postgres /backups/wal'"
        )
    });
    judge::wal_archiving(&facts, fix)
}

async fn pg_dump_check(client: &Client, t: &dyn Target) -> Check {
    let name = "pg_dump version";
    let server = client
        .query_one(
            "SELECT current_setting('server_version'), current_setting('server_version_num')::int",
            &[],
        )
        .await;
    let (server_version, server_major) = match server {
        Ok(r) => (r.get::<_, String>(0), (r.get::<_, i32>(1) / 10000) as u32),
        Err(e) => return fail(name, target::sql_error(e).to_string(), None),
    };
    match pgtools::tool_version(t, PgTool::PgDump).await {
        Ok((major, v)) if major >= server_major => {
            pass(name, format!("pg_dump {v} can dump server {server_version}"))
        }
        Ok((_, v)) => fail(
            name,
            format!("pg_dump {v} is older than server {server_version} and cannot dump it"),
            Some(format!(
                "sudo apt-get install postgresql-client-{server_major} && pgkeep --pg-bin /usr/lib/postgresql/{server_major}/bin doctor"
            )),
        ),
        Err(e) => fail(name, e.to_string(), Some("sudo apt-get install postgresql-client".into())),
    }
}
