//! Base backups in `pgkeep list`: a section of their own in the text, items of kind "base"
//! in the JSON.

use chrono::{DateTime, Local, Utc};
use humansize::{format_size, BINARY};

use super::list::age;
use crate::engine::physical::base_catalog::BaseBackup;

/// One base backup as a JSON item of `list --json`.
pub fn json(b: &BaseBackup) -> serde_json::Value {
    serde_json::json!({
        "kind": "base",
        "name": b.name,
        "path": b.path,
        "time": b.manifest.started_at,
        "finished_at": b.manifest.finished_at,
        "size": b.manifest.compressed_bytes,
        "system_identifier": b.manifest.system_identifier,
        "timeline": b.manifest.timeline,
        "start_lsn": b.manifest.start_lsn,
        "stop_lsn": b.manifest.stop_lsn,
        "sha256": b.manifest.sha256,
        "verified_by_pg_verifybackup": b.manifest.verified_by_pg_verifybackup,
        "status": {"state": "complete"},
    })
}

/// The base backups, newest first, under their own heading (nothing when there are none).
pub fn print(bases: &[BaseBackup], now: DateTime<Utc>) {
    if bases.is_empty() {
        return;
    }
    println!("base backups (the whole cluster, for `restore --time` and `recover`):");
    for b in bases.iter().rev() {
        let m = &b.manifest;
        println!(
            "{:<19}  {:>8}  {:>10}  {:<14}  {:<16}  {:<24}  base/{}",
            m.finished_at
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S"),
            age(now, m.finished_at),
            format_size(m.compressed_bytes, BINARY),
            "(cluster)",
            format!("timeline {}", m.timeline),
            if m.verified_by_pg_verifybackup {
                "pg_verifybackup ok"
            } else {
                "complete"
            },
            b.name
        );
    }
    println!();
}
