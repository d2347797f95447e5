//! Pruning the physical recovery units: keep the newest N base backups of each cluster, and
//! delete only WAL that no kept base backup needs (segments before the oldest kept base
//! backup's start on its timeline or an earlier one). History files are always kept, and a
//! cluster folder without any base backup is never touched.

use std::path::{Path, PathBuf};

use super::base_catalog::{self, BaseBackup};
use super::walseg::Segment;
use crate::error::{Error, Result};

/// What a prune removes (or would remove).
#[derive(Debug, Clone, Default)]
pub struct PhysicalPrune {
    /// Base backups to delete (with their manifests).
    pub bases: Vec<PathBuf>,
    /// Archived WAL files to delete.
    pub wal_files: Vec<PathBuf>,
    /// Bytes freed.
    pub bytes: u64,
}

/// Plans the prune: `keep` newest base backups per cluster (at least 1).
pub fn plan(backup_dir: &Path, wal_dir: &Path, keep: usize) -> Result<PhysicalPrune> {
    let keep = keep.max(1);
    let all = base_catalog::scan(backup_dir)?;
    let mut ids: Vec<&str> = all
        .iter()
        .map(|b| b.manifest.system_identifier.as_str())
        .collect();
    ids.sort();
    ids.dedup();
    let mut out = PhysicalPrune::default();
    for id in ids {
        let mut bases: Vec<&BaseBackup> = all
            .iter()
            .filter(|b| b.manifest.system_identifier == id)
            .collect();
        bases.sort_by_key(|b| std::cmp::Reverse(b.manifest.finished_at));
        let (kept, old) = bases.split_at(keep.min(bases.len()));
        for b in old {
            out.bytes += b.manifest.compressed_bytes;
            out.bases.push(b.path.clone());
        }
        let Some(oldest) = kept.last() else { continue };
        let Some(start) = oldest.manifest.start_segment() else {
            continue;
        };
        let seg_size = oldest.manifest.wal_segment_size;
        let Ok(rd) = std::fs::read_dir(wal_dir.join(id)) else {
            continue;
        };
        for f in rd.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            // Segments and `<segment>.<offset>.backup` labels; never `*.history`.
            let seg = Segment::parse(name.get(..24).unwrap_or(""), seg_size);
            let is_wal = name.len() == 24 || name.ends_with(".backup");
            if let (Some(seg), true) = (seg, is_wal) {
                if seg.timeline <= start.timeline && seg.number < start.number {
                    out.bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
                    out.wal_files.push(f.path());
                }
            }
        }
    }
    out.wal_files.sort();
    Ok(out)
}

/// Deletes what `plan` lists.
pub fn apply(plan: &PhysicalPrune) -> Result<()> {
    for b in &plan.bases {
        let name = b
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        for side in [".json", ".backup_manifest"] {
            let _ = std::fs::remove_file(b.with_file_name(format!("{name}{side}")));
        }
        remove(b)?;
    }
    for w in &plan.wal_files {
        remove(w)?;
    }
    Ok(())
}

fn remove(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("deleting", e, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::physical::base_catalog::{write_manifest, BaseManifest};
    use chrono::{Duration, Utc};

    fn base(dir: &Path, id: &str, age_h: i64, start_lsn: &str) {
        let t = Utc::now() - Duration::hours(age_h);
        let name = format!("{id}_{}.tar.gz", t.format("%Y-%m-%dT%H-%M-%SZ"));
        let path = base_catalog::base_dir(dir).join(&name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"x").unwrap();
        let m = BaseManifest {
            kind: "base".into(),
            system_identifier: id.into(),
            server_version: "15.1".into(),
            timeline: 1,
            start_lsn: start_lsn.into(),
            stop_lsn: start_lsn.into(),
            wal_segment_size: 16 * 1024 * 1024,
            started_at: t,
            finished_at: t,
            compressed_bytes: 1,
            raw_bytes: 1,
            sha256: String::new(),
            verified_by_pg_verifybackup: true,
            target: "direct".into(),
            pgkeep_version: "0".into(),
        };
        write_manifest(&path, &m).unwrap();
    }

    #[test]
    fn keeps_the_wal_the_oldest_kept_base_backup_needs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let wal = dir.join("wal");
        base(dir, "71", 30, "0/2000028");
        base(dir, "71", 20, "0/5000028");
        base(dir, "71", 10, "0/8000028");
        let arch = wal.join("71");
        std::fs::create_dir_all(&arch).unwrap();
        for n in 1..=9 {
            std::fs::write(arch.join(format!("0000000100000000000000{n:02X}")), b"w").unwrap();
        }
        std::fs::write(arch.join("000000010000000000000002.00000028.backup"), b"b").unwrap();
        std::fs::write(arch.join("00000002.history"), b"h").unwrap();
        // Another cluster's archive without base backups is never touched.
        std::fs::create_dir_all(wal.join("99")).unwrap();
        std::fs::write(wal.join("99").join("000000010000000000000001"), b"w").unwrap();

        let p = plan(dir, &wal, 2).unwrap();
        assert_eq!(p.bases.len(), 1, "{p:?}");
        let names: Vec<String> = p
            .wal_files
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "000000010000000000000001",
                "000000010000000000000002",
                "000000010000000000000002.00000028.backup",
                "000000010000000000000003",
                "000000010000000000000004"
            ]
        );
        apply(&p).unwrap();
        assert_eq!(base_catalog::scan(dir).unwrap().len(), 2);
        assert!(arch.join("000000010000000000000005").exists());
        assert!(arch.join("00000002.history").exists());
        assert!(wal.join("99").join("000000010000000000000001").exists());
    }
}
