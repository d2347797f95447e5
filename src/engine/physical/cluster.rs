//! Facts about the live cluster that physical backups need, and the small parsers for what
//! pg_basebackup writes (backup_label, backup_manifest).

use std::path::{Path, PathBuf};

use tokio_postgres::Client;

use super::walseg::{format_lsn, parse_lsn};
use crate::error::Result;
use crate::target::sql_error;

/// What the server says about its cluster.
#[derive(Debug, Clone)]
pub struct ClusterFacts {
    /// `pg_control_system().system_identifier`, as text.
    pub system_identifier: String,
    /// `server_version`.
    pub version: String,
    /// Major version (`server_version_num / 10000`).
    pub major: u32,
    /// `wal_segment_size` in bytes.
    pub wal_segment_size: u64,
    /// The timeline the server writes on.
    pub timeline: u32,
    /// The segment the server writes into now (`pg_walfile_name(pg_current_wal_lsn())`).
    pub current_segment: String,
    /// Whether the server is a standby (then it has no current write segment of its own).
    pub in_recovery: bool,
}

impl ClusterFacts {
    /// Reads the facts with one query.
    pub async fn read(client: &Client) -> Result<ClusterFacts> {
        let row = client
            .query_one(
                "SELECT (SELECT system_identifier::text FROM pg_control_system()),
                        current_setting('server_version'),
                        current_setting('server_version_num')::int / 10000,
                        (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'),
                        (SELECT timeline_id FROM pg_control_checkpoint()),
                        pg_is_in_recovery(),
                        CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_walfile_name(pg_current_wal_lsn()) END",
                &[],
            )
            .await
            .map_err(sql_error)?;
        let in_recovery: bool = row.get(5);
        let current_segment: String = row.get(6);
        // The checkpoint's timeline lags a promotion until the next checkpoint; the segment
        // name of the write position carries the current one.
        let timeline = u32::from_str_radix(current_segment.get(0..8).unwrap_or(""), 16)
            .unwrap_or(row.get::<_, i32>(4) as u32);
        Ok(ClusterFacts {
            system_identifier: row.get(0),
            version: row.get(1),
            major: row.get::<_, i32>(2) as u32,
            wal_segment_size: row.get::<_, i64>(3) as u64,
            timeline,
            current_segment,
            in_recovery,
        })
    }
}

/// Connects to the target's database, or to `postgres` when it does not exist (yet): the
/// cluster's facts are the same in every database.
pub async fn connect_any(target: &dyn crate::target::Target) -> Result<Client> {
    match crate::target::connect(target, target.database()).await {
        Err(crate::Error::NoSuchDatabase(_)) => crate::target::connect(target, "postgres").await,
        other => other,
    }
}

/// (start LSN, timeline) from a backup_label.
pub fn parse_backup_label(text: &str) -> Option<(String, u32)> {
    let mut lsn = None;
    let mut tl = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("START WAL LOCATION: ") {
            lsn = rest.split_whitespace().next().and_then(parse_lsn);
        } else if let Some(rest) = line.strip_prefix("START TIMELINE: ") {
            tl = rest.trim().parse().ok();
        }
    }
    Some((format_lsn(lsn?), tl?))
}

/// The end LSN of the last WAL range in PostgreSQL's backup_manifest.
pub fn manifest_end_lsn(manifest: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(manifest).ok()?;
    let ranges = v.get("WAL-Ranges")?.as_array()?;
    let end = ranges.last()?.get("End-LSN")?.as_str()?;
    parse_lsn(end).map(format_lsn)
}

/// A PostgreSQL server program (pg_ctl, pg_verifybackup, postgres) of major version `major`:
/// in `pg_bin`, else `/usr/lib/postgresql/<major>/bin`, else on PATH.
pub fn server_program(name: &str, major: u32, pg_bin: Option<&Path>) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(dir) = pg_bin {
        candidates.push(dir.join(name));
    }
    candidates.push(PathBuf::from(format!(
        "/usr/lib/postgresql/{major}/bin/{name}"
    )));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_label_and_manifest() {
        let label = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nSTART TIMELINE: 1\n";
        assert_eq!(parse_backup_label(label), Some(("0/2000028".into(), 1)));
        let m = br#"{"PostgreSQL-Backup-Manifest-Version": 1, "WAL-Ranges": [{"Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000138"}]}"#;
        assert_eq!(manifest_end_lsn(m).as_deref(), Some("0/2000138"));
        assert_eq!(parse_backup_label("nothing"), None);
    }
}
