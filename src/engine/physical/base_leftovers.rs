//! What a killed base backup (or a killed pull of one from offsite) leaves in `base/`: the
//! plain copy `.<name>.<pid>.work/`, the packed `<name>.partial`, `*.tmp` files of a manifest
//! write, and manifests whose `.tar.gz` never arrived (the `.tar.gz` is renamed into place last, so
//! a base backup is listed only when it is whole). Every writer of `base/` holds the base lock
//! while it writes; whoever takes that lock removes these first. For the compose target the
//! plain copy lives in the container (`/tmp/pgkeep-base-*`) and is removed there.

use std::path::Path;

use super::base_catalog::{self, BASE_SUFFIX};
use crate::engine::fsutil::TMP_SUFFIX;
use crate::engine::lock::DbLock;
use crate::error::{Error, Result};

/// The name of the lock every writer of `base/` holds.
const BASE_LOCK: &str = "basebackup";

/// Suffix of a base backup being packed or fetched (`<name>.tar.gz.partial`).
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Prefix of the plain copies a compose base backup makes inside the container.
pub const CONTAINER_WORK_PREFIX: &str = "/tmp/pgkeep-base-";

/// Takes the base lock in `base_dir` (created by the caller), or refuses at once naming the
/// process that holds it.
pub fn lock(base_dir: &Path) -> Result<DbLock> {
    DbLock::acquire(base_dir, BASE_LOCK).map_err(|e| match e {
        Error::Locked { pid, .. } => Error::Refused(format!(
            "another base backup (or a pull of one) is running (pid {pid}); wait for it to finish or stop it"
        )),
        e => e,
    })
}

/// Removes the leftovers of killed runs from `base_dir`; the caller holds [`lock`]. Returns
/// the names removed.
pub fn remove_stale(base_dir: &Path, _held: &DbLock) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(base_dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let path = ent.path();
        let gone = if name.starts_with('.') && name.ends_with(".work") {
            // An orphaned pg_basebackup may still be writing into it: try twice.
            std::fs::remove_dir_all(&path).is_ok() || std::fs::remove_dir_all(&path).is_ok()
        } else if name.ends_with(PARTIAL_SUFFIX) || name.ends_with(TMP_SUFFIX) {
            std::fs::remove_file(&path).is_ok()
        } else if let Some(base) = companion_of(&name) {
            !base_dir.join(base).exists() && std::fs::remove_file(&path).is_ok()
        } else {
            false
        };
        if gone {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// The `.tar.gz` a manifest file belongs to (`x.tar.gz.json` → `x.tar.gz`), if it is one.
fn companion_of(name: &str) -> Option<&str> {
    [".json", ".backup_manifest"]
        .iter()
        .filter_map(|s| name.strip_suffix(s))
        .find(|base| base.ends_with(BASE_SUFFIX))
}

/// Removes the plain copies killed compose base backups left in container `id`.
pub fn remove_in_container(id: &str) {
    let _ = std::process::Command::new("docker")
        .args(["exec", id, "sh", "-c"])
        .arg(format!("rm -rf {CONTAINER_WORK_PREFIX}*"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Takes the lock and removes the leftovers; for `pgkeep cleanup` and the next base backup.
/// Nothing (and no error) when there is no `base/` yet or a base backup is running now.
pub fn remove_stale_if_idle(backup_dir: &Path) -> Vec<String> {
    let dir = base_catalog::base_dir(backup_dir);
    if !dir.is_dir() {
        return Vec::new();
    }
    match lock(&dir) {
        Ok(held) => remove_stale(&dir, &held),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_go_whole_base_backups_stay() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = base_catalog::base_dir(tmp.path());
        std::fs::create_dir(&dir).unwrap();
        let p = |n: &str| dir.join(n);
        let whole = "1_2026-01-01T00-00-00Z.tar.gz";
        let killed = "1_2026-01-02T00-00-00Z.tar.gz";
        for f in [
            whole.to_string(),
            format!("{whole}.json"),
            format!("{whole}.backup_manifest"),
            format!("{killed}.partial"),
            format!("{killed}.json"),
            format!("{killed}.backup_manifest"),
            format!("{killed}.backup_manifest.77-0.tmp"),
        ] {
            std::fs::write(p(&f), b"x").unwrap();
        }
        std::fs::create_dir_all(p(&format!(".{killed}.work/data"))).unwrap();
        std::fs::write(p(&format!(".{killed}.work/data/PG_VERSION")), b"15").unwrap();

        let held = lock(&dir).unwrap();
        let removed = remove_stale(&dir, &held);
        assert_eq!(removed.len(), 5, "{removed:?}");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.ends_with(".lock"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                whole.to_string(),
                format!("{whole}.backup_manifest"),
                format!("{whole}.json")
            ]
        );
        // While the lock is held, nobody else cleans (or starts a base backup).
        std::fs::write(p(&format!("{whole}.partial")), b"x").unwrap();
        assert!(lock(&dir).unwrap_err().to_string().contains("running"));
        assert!(remove_stale_if_idle(tmp.path()).is_empty());
        drop(held);
        assert_eq!(
            remove_stale_if_idle(tmp.path()),
            [format!("{whole}.partial")]
        );
    }
}
