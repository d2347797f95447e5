//! The checks of a point-in-time restore, made before anything is changed: the base backup
//! to start from, every WAL segment up to the target in the archive (or still on the live
//! server), and everything up to now pushed to the archive.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;
use tokio_util::sync::CancellationToken;

use super::base_catalog::{self, BaseBackup};
use super::cluster::ClusterFacts;
use super::continuity::ArchiveContents;
use super::livewal;
use super::walseg::Segment;
use super::window::{local, RecoveryWindow};
use crate::engine::progress::Sink;
use crate::error::{Error, Result};
use crate::target::sql_error;

/// How long the newest WAL may take to reach the archive.
const ARCHIVE_WAIT: Duration = Duration::from_secs(30);

/// The newest base backup of this cluster that finished before `want`; else a refusal
/// naming the window.
pub(super) fn choose_base(
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
pub(super) async fn segments_from_server(
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
pub(super) async fn flush_to_archive(
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
