//! Watches the backup directory: scans the catalog (and the base backups) again whenever a
//! cheap fingerprint of the directory changes, which also catches backups made by cron.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::msg::Msg;
use crate::engine::catalog;
use crate::engine::physical::base_catalog;

/// How often the backup directory is checked for changes.
pub const CATALOG_EVERY: Duration = Duration::from_secs(2);

/// A cheap fingerprint of the directory: names, sizes and modification times.
fn fingerprint(dir: &Path) -> Vec<(String, u64, i128)> {
    let mut v: Vec<(String, u64, i128)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    let t = m
                        .modified()
                        .ok()?
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as i128)
                        .unwrap_or(0);
                    Some((e.file_name().to_string_lossy().into_owned(), m.len(), t))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Scans the backup directory now and again whenever its fingerprint changes (also
/// catching backups made by cron).
pub async fn run(dir: PathBuf, tx: UnboundedSender<Msg>) {
    let mut last: Option<Vec<(String, u64, i128)>> = None;
    loop {
        let d = dir.clone();
        let prev = last.clone();
        let Ok((fp, scan)) = tokio::task::spawn_blocking(move || {
            let fp = fingerprint(&d);
            let scan = (prev.as_ref() != Some(&fp)).then(|| {
                (
                    catalog::scan(&d).map_err(|e| e.to_string()),
                    base_catalog::scan(&d).unwrap_or_default(),
                )
            });
            (fp, scan)
        })
        .await
        else {
            return;
        };
        last = Some(fp);
        if let Some((scan, bases)) = scan {
            if tx.send(Msg::Catalog(scan)).is_err() || tx.send(Msg::Bases(bases)).is_err() {
                return;
            }
        }
        tokio::time::sleep(CATALOG_EVERY).await;
    }
}
