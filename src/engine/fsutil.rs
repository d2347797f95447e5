//! File-system helpers for durable, private files: 0700 directories, 0600 files, fsync of
//! files and directories, atomic replace, free space.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and parents) with mode 0700 if missing and checks it is writable.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
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
    if nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK).is_err() {
        return Err(Error::BackupDir {
            path: dir.to_path_buf(),
            reason: "it is not writable by this user".into(),
        });
    }
    Ok(())
}

/// Opens a new file for writing with mode 0600, failing if it exists.
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// fsyncs a directory so a rename inside it is durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: temp file (0600), fsync, rename, fsync directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let _ = fs::remove_file(&tmp);
    let mut f = create_private(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600))?;
    fs::rename(&tmp, path)?;
    fsync_dir(dir)
}

/// Free bytes available to this user on the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    let st = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(st.blocks_available() as u64 * st.fragment_size() as u64)
}
