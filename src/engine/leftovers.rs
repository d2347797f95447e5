//! Stale files a killed run leaves in the backup directory: `*.partial` backups (a killed
//! backup or `pre-restore` safety backup) and `*.tmp` files of a manifest write. Any command
//! that writes into the directory removes them first, never one that is being written now:
//! a `.partial` only when its database's backup lock and pull lock are free (every backup
//! holds the first while it writes, every `offsite pull` the second); a `.tmp` only when the
//! process named in it is gone.

use std::path::Path;

use crate::engine::catalog;
use crate::engine::fsutil::{self, TMP_SUFFIX};
use crate::engine::lock::DbLock;

/// The lock an `offsite pull` of a backup of `database` holds while it writes its `.partial`.
pub fn pull_lock_name(database: &str) -> String {
    format!("{database}.pull")
}

/// Removes stale `.partial` and `.tmp` files from `dir`; returns their names.
pub fn remove_stale(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for ent in rd.flatten() {
        let name = ent.file_name().to_string_lossy().into_owned();
        let Ok(meta) = ent.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let stale = if catalog::is_partial_name(&name) {
            catalog::parse_name(&name).is_some_and(|(db, _)| {
                // Both held at once, so neither can start writing while we look.
                let backup = DbLock::acquire(dir, &db);
                let pull = DbLock::acquire(dir, &pull_lock_name(&db));
                backup.is_ok() && pull.is_ok()
            })
        } else if name.ends_with(TMP_SUFFIX) && name.contains(".json.") {
            fsutil::temp_owner(&name).is_none_or(|pid| !pid_alive(pid))
        } else {
            false
        };
        if stale && std::fs::remove_file(ent.path()).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    removed
}

/// A job-log line naming what [`remove_stale`] removed, if anything.
pub fn removed_line(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| {
        format!(
            "removed stale leftovers of killed runs: {}",
            names.join(", ")
        )
    })
}

/// Whether a process with this pid exists on this host.
pub fn pid_alive(pid: i32) -> bool {
    pid > 0
        && match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
            Ok(()) => true,
            Err(e) => e == nix::errno::Errno::EPERM,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn killed_runs_leftovers_go_running_ones_stay() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        let old_partial = p("shop_2026-01-01T00-00-00Z.sql.gz.partial");
        let pulling_partial = p("pulled_2026-01-02T00-00-00Z.sql.gz.partial");
        let locked_partial = p("busy_2026-01-01T00-00-00Z.sql.gz.partial");
        let dead_tmp = p("shop_2026-01-01T00-00-00Z.sql.gz.json.999999999-0.tmp");
        let old_tmp = p("shop_2026-01-01T00-00-00Z.sql.gz.json.tmp");
        let live_tmp = p(&format!(
            "shop_2026-01-01T00-00-00Z.sql.gz.json.{}-7.tmp",
            std::process::id()
        ));
        for f in [
            &old_partial,
            &pulling_partial,
            &locked_partial,
            &dead_tmp,
            &old_tmp,
            &live_tmp,
        ] {
            std::fs::write(f, b"x").unwrap();
        }
        let _held = DbLock::acquire(d.path(), "busy").unwrap();
        let _pulling = DbLock::acquire(d.path(), &pull_lock_name("pulled")).unwrap();
        let removed = remove_stale(d.path());
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(!old_partial.exists() && !dead_tmp.exists() && !old_tmp.exists());
        assert!(pulling_partial.exists() && locked_partial.exists() && live_tmp.exists());
    }
}
