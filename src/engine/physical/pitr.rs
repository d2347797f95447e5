//! `pgkeep restore --time`: point-in-time restore of one database through a scratch server.
//!
//! Order: make everything up to now reach the archive (a committed transaction id and a WAL
//! switch on the live server, then wait for the segment), pick the newest base backup that
//! finished before the target, check the archive covers the target — all before anything is
//! changed, refusing with the window otherwise. Then recover into a scratch server (see
//! [`super::scratch_server`]), dump the database from it and bring the dump in through the
//! logical restore's safe path (scratch database, swap, the replaced one kept).

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::base_catalog::{self, BaseBackup};
use super::cluster::{self, ClusterFacts};
use super::continuity::ArchiveContents;
use super::livewal;
use super::scratch_server::{RecoverySettings, ScratchServer};
use super::target_time::{for_server, TargetTime};
use super::walseg::Segment;
use super::window::{local, RecoveryWindow};
use crate::engine::backup::{self, BackupOptions};
use crate::engine::catalog;
use crate::engine::progress::{Phase, Sink};
use crate::engine::restore::{self, RestoreOptions, RestoreOutcome};
use crate::error::{Error, Result};
use crate::target::direct::DirectTarget;
use crate::target::{self, sql_error, ConnParams, Target};

/// How to restore to a moment.
#[derive(Debug, Clone)]
pub struct PitrOptions {
    /// The moment.
    pub time: TargetTime,
    /// Restore into this new database instead of replacing the live one.
    pub into: Option<String>,
    /// Take a `pre-restore` backup first.
    pub safety_backup: bool,
    /// gzip level for the dumps.
    pub compression_level: u32,
    /// The WAL archive folder (`<wal dir>`, holding one folder per cluster).
    pub wal_dir: PathBuf,
    /// Directory of the PostgreSQL programs, if configured.
    pub pg_bin: Option<PathBuf>,
}

/// What a point-in-time restore did.
#[derive(Debug, Clone)]
pub struct PitrOutcome {
    /// The logical restore's outcome.
    pub restore: RestoreOutcome,
    /// The base backup recovery started from.
    pub base: String,
    /// The moment asked for (UTC); the newest archived change for `latest`.
    pub target: DateTime<Utc>,
    /// What the recovering server said about where it stopped.
    pub server_said: Option<String>,
}

/// How long the newest WAL may take to reach the archive.
const ARCHIVE_WAIT: Duration = Duration::from_secs(30);

/// Restores the target's database to `opts.time`.
pub async fn restore_to_time(
    target: &dyn Target,
    backup_dir: &Path,
    opts: &PitrOptions,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<PitrOutcome> {
    if target.kind_name() != "direct" {
        return Err(Error::Refused(
            "restore --time is not supported for the compose target yet: use a dump (`pgkeep restore BACKUP`), or run pgkeep against the server directly (--target direct)".into(),
        ));
    }
    sink.phase(Phase::Check);
    let client = target::connect(target, target.database()).await?;
    let facts = ClusterFacts::read(&client).await?;
    let archive = opts.wal_dir.join(&facts.system_identifier);
    let now = Utc::now();
    let want = match opts.time {
        TargetTime::At(t) if t > now => {
            return Err(Error::Refused(format!(
                "{} is in the future: choose a moment before now, or `--time latest`",
                local(t)
            )))
        }
        TargetTime::At(t) => t,
        TargetTime::Latest => now,
    };
    let window = RecoveryWindow::compute(
        backup_dir,
        &opts.wal_dir,
        &facts.system_identifier,
        Some(&facts),
    )?;
    let base = choose_base(backup_dir, &facts, want, &window)?;
    let switched = flush_to_archive(&client, &facts, sink, cancel).await?;
    let from_server =
        segments_from_server(&client, &facts, &archive, &base, switched, want, &window).await?;
    sink.log(format!(
        "base backup {} (finished {}), WAL from the archive {}{}",
        base.name,
        local(base.manifest.finished_at),
        archive.display(),
        match from_server.len() {
            0 => String::new(),
            n => format!(" and {n} segment(s) not archived yet, read from the server's pg_wal"),
        }
    ));

    let pg_ctl = cluster::server_program("pg_ctl", facts.major, opts.pg_bin.as_deref()).ok_or_else(|| {
        Error::ToolMissing {
            tool: "pg_ctl".into(),
            reason: format!(
                "PostgreSQL {} server programs are needed for the scratch server: install postgresql-{} (or set pg_bin)",
                facts.major, facts.major
            ),
        }
    })?;
    let server = ScratchServer::unpack(&base.path, pg_ctl, sink).await?;
    for seg in &from_server {
        livewal::fetch(&client, seg, &server.live_wal_dir()).await?;
    }
    let target_time = matches!(opts.time, TargetTime::At(_)).then(|| for_server(want));
    server.configure(&RecoverySettings {
        archive: archive.clone(),
        target_time,
        use_live_wal: !from_server.is_empty(),
    })?;
    sink.log(match opts.time {
        TargetTime::At(_) => format!(
            "recovering to {} in a scratch server (port {})",
            local(want),
            server.port
        ),
        TargetTime::Latest => format!(
            "recovering to the newest archived change in a scratch server (port {})",
            server.port
        ),
    });
    let report = server.recover(sink, cancel).await?;
    let server_said = report
        .stopped_before
        .clone()
        .or(report.last_transaction.clone());

    sink.phase(Phase::Dump);
    let scratch = DirectTarget::new(
        ConnParams {
            host: server.socket_dir.display().to_string(),
            port: server.port,
            user: target.user().to_string(),
            password: None,
            dbname: target.database().to_string(),
        },
        opts.pg_bin.clone(),
    );
    let dumps = server.socket_dir.join("dump");
    let label = format!("point-in-time {}", local(want));
    let dumped = backup::backup(
        &scratch,
        &dumps,
        &BackupOptions {
            label: Some(label),
            compression_level: opts.compression_level.min(1),
            lock_wait_timeout: None,
            dir_policy: crate::engine::fsutil::DirPolicy::Private,
        },
        &Sink::none(),
        cancel,
    )
    .await
    .map_err(|e| match e {
        Error::NoSuchDatabase(db) => Error::Refused(format!(
            "database \"{db}\" did not exist at {}: choose a later moment",
            local(want)
        )),
        e => e,
    })?;
    let entry = catalog::scan(&dumps)?
        .into_iter()
        .find(|e| e.path == dumped.path)
        .ok_or_else(|| Error::Other("the recovered dump vanished".into()))?;
    server.stop();
    let restored = restore::restore(
        target,
        backup_dir,
        &entry,
        &RestoreOptions {
            into: opts.into.clone(),
            safety_backup: opts.safety_backup,
            compression_level: opts.compression_level,
            update_roles: false,
            tablespace_default: false,
            jobs: None,
            lock_wait_timeout: None,
            dir_policy: crate::engine::fsutil::DirPolicy::SharedWithServer,
        },
        sink,
        cancel,
    )
    .await?;
    drop(server);
    Ok(PitrOutcome {
        restore: restored,
        base: base.name,
        target: want,
        server_said,
    })
}

/// The newest base backup of this cluster that finished before `want`; else a refusal
/// naming the window.
fn choose_base(
    backup_dir: &Path,
    facts: &ClusterFacts,
    want: DateTime<Utc>,
    window: &RecoveryWindow,
) -> Result<BaseBackup> {
    let bases: Vec<BaseBackup> = base_catalog::scan(backup_dir)?
        .into_iter()
        .filter(|b| b.manifest.system_identifier == facts.system_identifier)
        .collect();
    let summary = window.summary(Utc::now());
    match bases.iter().rev().find(|b| b.manifest.finished_at < want) {
        Some(base) => Ok(base.clone()),
        None => Err(Error::Refused(match bases.first() {
            Some(b) => format!(
                "{} is before the oldest base backup finished ({}): nothing was changed; {summary}",
                local(want),
                local(b.manifest.finished_at)
            ),
            None => "there is no base backup of this cluster: run `pgkeep basebackup` first; nothing was changed".into(),
        })),
    }
}

/// Every segment from the base backup's start through `switched` must be in the archive or
/// still in the server's pg_wal; returns those to read from the server, or a refusal that
/// names the first lost segment and the window.
#[allow(clippy::too_many_arguments)]
async fn segments_from_server(
    client: &Client,
    facts: &ClusterFacts,
    archive: &Path,
    base: &BaseBackup,
    switched: Segment,
    want: DateTime<Utc>,
    window: &RecoveryWindow,
) -> Result<Vec<String>> {
    let seg_size = facts.wal_segment_size;
    let contents = ArchiveContents::read(archive, seg_size)?;
    let start = base
        .manifest
        .start_segment()
        .ok_or_else(|| Error::Other(format!("the manifest of {} has no start LSN", base.name)))?;
    let missing = contents.missing_through(start, switched);
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let on_server = livewal::server_segments(client).await;
    let mut fetch = Vec::new();
    for seg in missing {
        let name = seg.name(seg_size);
        if !on_server.contains(&name) {
            return Err(Error::Refused(format!(
                "cannot restore to {}: WAL segment {name} is neither in the archive {} nor on the server; nothing was changed; {}",
                local(want),
                archive.display(),
                window.summary(Utc::now())
            )));
        }
        fetch.push(name);
    }
    Ok(fetch)
}

/// Commits a transaction id and switches WAL on the live server, so every change up to now
/// is in a finished segment and a commit follows any target before now (recovery stops at the
/// first commit after the target); then gives the archiver a moment to copy it. Returns the
/// finished segment.
async fn flush_to_archive(
    client: &Client,
    facts: &ClusterFacts,
    sink: &Sink,
    cancel: &CancellationToken,
) -> Result<Segment> {
    if facts.in_recovery {
        return Err(Error::Refused(
            "the server is a standby (in recovery): run the point-in-time restore against the primary".into(),
        ));
    }
    client
        .simple_query("SELECT pg_current_xact_id()")
        .await
        .map_err(sql_error)?;
    let row = client
        .query_one("SELECT pg_walfile_name(pg_switch_wal())", &[])
        .await
        .map_err(sql_error)?;
    let name: String = row.get(0);
    let segment = Segment::parse(&name, facts.wal_segment_size)
        .ok_or_else(|| Error::Other(format!("unexpected WAL file name {name}")))?;
    sink.log(format!("waiting for the archiver to copy {name}"));
    let deadline = tokio::time::Instant::now() + ARCHIVE_WAIT;
    while tokio::time::Instant::now() < deadline {
        let row = client
            .query_one(
                "SELECT coalesce(last_archived_wal, '') >= $1 OR current_setting('archive_mode') = 'off'
                        OR coalesce(last_failed_time > last_archived_time, false)
                 FROM pg_stat_archiver",
                &[&name],
            )
            .await
            .map_err(sql_error)?;
        if row.get::<_, bool>(0) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = cancel.cancelled() => return Err(Error::Cancelled),
        }
    }
    Ok(segment)
}
