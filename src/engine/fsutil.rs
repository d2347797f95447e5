//! File-system helpers for durable, private files: 0711 backup directories, 0600 files, fsync of
//! files and directories, atomic replace, free space.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Mode of a backup directory pgkeep creates: the operator's; others may pass through to
/// `wal/` (the database server's), never list or write it.
pub const BACKUP_DIR_MODE: u32 = 0o711;

/// Who may write into a backup directory besides this user.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DirPolicy {
    /// Nobody: a world-writable directory is refused (dump backups and restores).
    #[default]
    Private,
    /// The database server archives WAL into it, and an operator may have opened it to
    /// everyone for that (`chmod 777`): such a directory, still owned by this user, is
    /// accepted (`doctor` still flags it, with the fix). Every file pgkeep writes is still
    /// created exclusively and never through a symlink. For `basebackup`, `restore --time`
    /// and `recover`.
    SharedWithServer,
}

/// Creates `dir` (and parents) if missing, mode 0711 (others may pass through to `wal/`,
/// which the database server writes, but never list or write the directory; every file in it
/// is 0600), and checks it is writable and safe (see [`unsafe_dir_reason`]).
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    ensure_backup_dir(dir, DirPolicy::Private)
}

/// [`ensure_private_dir`] under `policy`.
pub fn ensure_backup_dir(dir: &Path, policy: DirPolicy) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(BACKUP_DIR_MODE)
            .create(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(BACKUP_DIR_MODE)))
            .map_err(|e| Error::BackupDir {
                path: dir.to_path_buf(),
                reason: format!("cannot create it ({e})"),
            })?;
    }
    let meta = fs::metadata(dir).map_err(|e| Error::BackupDir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(Error::BackupDir {
            path: dir.to_path_buf(),
            reason: "it is not a directory".into(),
        });
    }
    let access = nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    );
    match access {
        Ok(()) => {}
        Err(nix::errno::Errno::EROFS) => {
            return Err(Error::BackupDir {
                path: dir.to_path_buf(),
                reason: "it is on a read-only file system".into(),
            })
        }
        Err(_) => {
            return Err(Error::BackupDir {
                path: dir.to_path_buf(),
                reason: format!(
                    "it is not writable by user {}",
                    crate::target::conn::os_user()
                ),
            })
        }
    }
    if let Some(reason) = unsafe_dir_reason(&meta, policy) {
        return Err(Error::BackupDir {
            path: dir.to_path_buf(),
            reason,
        });
    }
    Ok(())
}

/// Why a backup directory with this metadata is not safe to write into as this user: other
/// users could plant files (symlinks, hard links) in a world-writable directory, or in one
/// they own. None when it is safe under `policy`.
pub fn unsafe_dir_reason(meta: &fs::Metadata, policy: DirPolicy) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != euid {
        return Some(format!(
            "it belongs to uid {}, not to this user (uid {euid}), who could plant files in it",
            meta.uid()
        ));
    }
    if meta.mode() & 0o002 != 0 && policy == DirPolicy::Private {
        return Some(format!(
            "it is world-writable (mode {:o}): any user could plant files in it",
            meta.mode() & 0o7777
        ));
    }
    None
}

/// The one command that gives a backup directory back to its user (`uid`, `gid`, which may be
/// `$(id -u)`-style shell text) and closes it to other writers. Not recursive: `wal/` inside
/// stays the database server's, so WAL archiving keeps working.
pub fn backup_dir_ownership_fix(dir: &Path, uid: &str, gid: &str) -> String {
    let d = dir.display();
    format!("sudo chown {uid}:{gid} {d} && sudo chmod go-w {d}")
}

/// Opens a new file for writing with mode 0600, failing if it exists (a symlink included:
/// nothing is ever written through one).
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)
}

/// Suffix of the temp files [`write_atomic`] writes (`<file>.<pid>-<n>.tmp`).
pub const TMP_SUFFIX: &str = ".tmp";

/// A temp file name beside `path`, unique to this process and call, so concurrent writers
/// (three verifies of one backup) never share one.
fn temp_path_for(path: &Path) -> std::path::PathBuf {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}-{n}{TMP_SUFFIX}", std::process::id()));
    std::path::PathBuf::from(tmp)
}

/// The pid in a temp file name written by [`write_atomic`] (`x.json.123-4.tmp` → 123);
/// None for the older `x.json.tmp`.
pub fn temp_owner(file_name: &str) -> Option<i32> {
    let stem = file_name.strip_suffix(TMP_SUFFIX)?;
    let (_, tail) = stem.rsplit_once('.')?;
    tail.split_once('-')?.0.parse().ok()
}

/// fsyncs a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: temp file (0600), fsync, rename, fsync directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = temp_path_for(path);
    let mut f = create_private(&tmp)?;
    let written = (|| {
        f.write_all(bytes)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fsync_dir(dir)
}

/// Free bytes available to this user on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_writable_dir_is_refused_unless_shared_with_the_server() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("backups");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            BACKUP_DIR_MODE
        );
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let refused = ensure_private_dir(&dir).unwrap_err().to_string();
        assert!(refused.contains("world-writable"), "{refused}");
        ensure_backup_dir(&dir, DirPolicy::SharedWithServer).unwrap();
    }
}
