//! `pgkeep doctor`: the old troubleshooting steps as checks, each failure with the exact
//! command that fixes it. Docker reachable; container running and healthy; data volume;
//! database reachable; backup dir; WAL archiving; free disk; pg_dump version; schedule; age
//! of the last backup. The console's status pane shows the failing ones.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Stdio;

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, SimpleQueryMessage};

use super::checks::Check;
use super::container;
use super::doctor_checks::{self as judge, fail, pass, ArchiverFacts, DirFacts};
use crate::config::Config;
use crate::engine::{catalog, fsutil, pgtools};
use crate::error::Result;
use crate::target::compose::{self, ComposeCli, ComposeTarget};
use crate::target::docker;
use crate::target::{self, direct::DirectTarget, PgTool, Target};

/// Whether the configuration selects the compose target (see [`target::uses_compose`]).
pub fn uses_compose(config: &Config) -> bool {
    target::uses_compose(config, &crate::target::conn::process_env)
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
    if let Some(t) = &target {
        // Without a published port the container's own psql still answers the checks.
        let sql = match &client {
            Some(c) => Some(Sql::Conn(c)),
            None if t.sql_unavailable().is_some() => Some(Sql::InContainer),
            None => None,
        };
        if let Some(sql) = sql {
            checks.push(wal_check(&sql, t.as_ref(), &dir).await);
            checks.push(pg_dump_check(&sql, t.as_ref()).await);
        }
    }
    if let Some(c) = &client {
        checks.push(super::pitr_check::check(c, config).await);
    }
    let entries = catalog::scan(&dir).unwrap_or_default();
    let last = judge::newest_complete(&entries, target.as_ref().map(|t| t.database()));
    if let Ok(free) = fsutil::free_space(if dir.is_dir() { &dir } else { Path::new(".") }) {
        checks.push(judge::free_disk(&dir, free, last));
    }
    let summary = crate::schedule::summary(&config.schedule);
    checks.push(judge::schedule(&summary.expression, &summary.crontab));
    checks.extend(super::cron_health::checks(&dir, &summary.crontab));
    checks.push(judge::last_backup(&dir, last, Utc::now()));
    checks.push(health_check(&entries, config));
    if let (Some(c), Some(t)) = (&client, &target) {
        if let Some(v) = super::vanished::check(c, &entries, t.database()).await {
            checks.push(v);
        }
    }
    checks.extend(crate::offsite::check::doctor_check(config));
    checks
}

/// The schedule-aware health warnings (overdue beyond the schedule's interval plus the grace
/// period, last verification failed) as one check.
fn health_check(entries: &[catalog::BackupEntry], config: &Config) -> Check {
    let warnings = crate::alerts::backup_health(entries, config, Utc::now());
    if warnings.is_empty() {
        return pass(
            "backup health",
            "on schedule, last verification not failed".to_string(),
        );
    }
    let fix = if warnings.iter().any(|w| w.contains("verif")) {
        "pgkeep verify latest"
    } else {
        "pgkeep backup"
    };
    fail("backup health", warnings.join("; "), Some(fix.to_string()))
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
        world_writable: m.mode() & 0o002 != 0,
    });
    judge::backup_dir(
        dir,
        facts,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

/// How the doctor's queries reach the server: the connection, or psql inside the container
/// when the container publishes no port.
enum Sql<'a> {
    Conn(&'a Client),
    InContainer,
}

/// Marks SQL NULL in psql's unaligned output.
const PSQL_NULL: &str = "\u{1}NULL";

impl Sql<'_> {
    /// The rows of `query` as text (NULL as None), by the simple query protocol or psql.
    async fn rows(&self, t: &dyn Target, query: &str) -> Result<Vec<Vec<Option<String>>>> {
        match self {
            Sql::Conn(c) => {
                let msgs = c.simple_query(query).await.map_err(target::sql_error)?;
                Ok(msgs
                    .iter()
                    .filter_map(|m| match m {
                        SimpleQueryMessage::Row(r) => {
                            Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                        }
                        _ => None,
                    })
                    .collect())
            }
            Sql::InContainer => {
                let mut cmd = t.command(PgTool::Psql, t.database(), "pgkeep-doctor");
                cmd.args([
                    "-X",
                    "-q",
                    "-A",
                    "-t",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-F",
                    "\u{1f}",
                ])
                .args(["-P", &format!("null={PSQL_NULL}"), "-c", query])
                .stdin(Stdio::null());
                let out = docker::output_of(cmd, "psql in the container").await?;
                Ok(out
                    .lines()
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        l.split('\u{1f}')
                            .map(|f| (f != PSQL_NULL).then(|| f.to_string()))
                            .collect()
                    })
                    .collect())
            }
        }
    }

    /// The first row of `query`.
    async fn row(&self, t: &dyn Target, query: &str) -> Result<Vec<Option<String>>> {
        self.rows(t, query)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| crate::Error::Sql(format!("no row from: {query}")))
    }
}

fn epoch(v: &Option<String>) -> Option<DateTime<Utc>> {
    let secs: f64 = v.as_deref()?.parse().ok()?;
    DateTime::from_timestamp_micros((secs * 1e6) as i64)
}

fn int(v: &Option<String>) -> i64 {
    v.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0)
}

async fn wal_check(sql: &Sql<'_>, t: &dyn Target, dir: &Path) -> Check {
    let row = sql
        .row(
            t,
            "SELECT current_setting('archive_mode'), archived_count, failed_count,
                    extract(epoch FROM last_archived_time)::float8, last_failed_wal,
                    extract(epoch FROM last_failed_time)::float8
               FROM pg_stat_archiver",
        )
        .await;
    let row = match row {
        Ok(r) if r.len() == 6 => r,
        Ok(r) => {
            return fail(
                "WAL archiving",
                format!("unexpected pg_stat_archiver row: {r:?}"),
                None,
            )
        }
        Err(e) => return fail("WAL archiving", e.to_string(), None),
    };
    let facts = ArchiverFacts {
        mode: row[0].clone().unwrap_or_default(),
        archived_count: int(&row[1]),
        failed_count: int(&row[2]),
        last_archived_time: epoch(&row[3]),
        last_failed_wal: row[4].clone(),
        last_failed_time: epoch(&row[5]),
    };
    let fix = t.container().map(|c| super::wal_perms::fix(dir, &c));
    judge::wal_archiving(&facts, fix)
}

async fn pg_dump_check(sql: &Sql<'_>, t: &dyn Target) -> Check {
    let name = "pg_dump version";
    let server = sql
        .row(
            t,
            "SELECT current_setting('server_version'), current_setting('server_version_num')",
        )
        .await;
    let (server_version, server_major) = match server {
        Ok(r) if r.len() == 2 => (
            r[0].clone().unwrap_or_default(),
            (int(&r[1]) / 10000) as u32,
        ),
        Ok(r) => return fail(name, format!("unexpected version row: {r:?}"), None),
        Err(e) => return fail(name, e.to_string(), None),
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
