//! A per-database lock file in the backup directory. Held with `flock`, so the kernel drops it
//! when the holder dies (even by SIGKILL) and the next run takes it over; the holder's pid is
//! written inside for the message a second run prints. The file is opened without following
//! a symlink and must be a plain file of this user with one link, so a file planted by another
//! user is never truncated; its name is derived from the database name by
//! [`crate::engine::filename::encode`], so it stays inside the directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, IoContext, Result};

/// A held lock; released on drop.
#[derive(Debug)]
pub struct DbLock {
    _file: Flock<File>,
    path: PathBuf,
}

impl DbLock {
    /// Path of the lock file for `database` in `dir`.
    pub fn path(dir: &Path, database: &str) -> PathBuf {
        dir.join(format!(
            ".{}.lock",
            crate::engine::filename::encode(database)
        ))
    }

    /// Takes the lock or fails at once with [`Error::Locked`] naming the holder's pid.
    pub fn acquire(dir: &Path, database: &str) -> Result<DbLock> {
        let path = DbLock::path(dir, database);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK)
            .open(&path)
            .map_err(|e| refuse_planted(&path, e))?;
        check_own_plain_file(&file, &path)?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut locked) => {
                locked
                    .set_len(0)
                    .ctx(|| "truncating lock file".into(), &path)?;
                locked.rewind().ctx(|| "writing lock file".into(), &path)?;
                write!(locked, "{}", std::process::id())
                    .ctx(|| "writing lock file".into(), &path)?;
                Ok(DbLock {
                    _file: locked,
                    path,
                })
            }
            Err((mut file, _)) => Err(Error::Locked {
                database: database.to_string(),
                pid: holder_pid(&mut file),
            }),
        }
    }

    /// The lock file's path.
    pub fn file(&self) -> &Path {
        &self.path
    }
}

/// The pid the holder wrote; the holder writes it just after taking the lock, so an empty
/// file is read again for a moment before giving up.
fn holder_pid(file: &mut File) -> String {
    for _ in 0..20 {
        let mut pid = String::new();
        let _ = file.rewind();
        let _ = file.read_to_string(&mut pid);
        if !pid.trim().is_empty() {
            return pid.trim().to_string();
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    "of another pgkeep run, which has not written its pid yet".into()
}

/// The error for a lock file that could not be opened: a symlink (ELOOP) is refused as a
/// file planted by someone else.
fn refuse_planted(path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(nix::libc::ELOOP) {
        return Error::Refused(format!(
            "{} is a symbolic link, not a lock file: someone else may have planted it; remove it (`rm {}`) and make sure only you can write to the backup directory",
            path.display(),
            path.display()
        ));
    }
    Error::io(format!("opening lock file {}", path.display()), e, path)
}

/// Refuses a lock file that is not a plain file of this user with a single link (a hard
/// link planted by another user would otherwise be truncated).
fn check_own_plain_file(file: &File, path: &Path) -> Result<()> {
    let meta = file
        .metadata()
        .ctx(|| format!("reading lock file {}", path.display()), path)?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.file_type().is_file() || meta.nlink() != 1 || meta.uid() != euid {
        return Err(Error::Refused(format!(
            "{} is not a lock file of this user (owner uid {}, {} links): someone else may have planted it; remove it (`rm {}`) and make sure only you can write to the backup directory",
            path.display(),
            meta.uid(),
            meta.nlink(),
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_names_the_holder_and_drop_releases() {
        let d = tempfile::tempdir().unwrap();
        let l = DbLock::acquire(d.path(), "shop").unwrap();
        match DbLock::acquire(d.path(), "shop") {
            Err(Error::Locked { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert!(DbLock::acquire(d.path(), "other").is_ok());
        drop(l);
        assert!(DbLock::acquire(d.path(), "shop").is_ok());
    }

    #[test]
    fn a_planted_symlink_is_refused_and_its_target_untouched() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::os::unix::fs::symlink(&victim, DbLock::path(d.path(), "shop")).unwrap();
        match DbLock::acquire(d.path(), "shop") {
            Err(Error::Refused(m)) => assert!(m.contains("symbolic link"), "{m}"),
            other => panic!("expected Refused, got {other:?}"),
        }
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_hard_link_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let victim = d.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        std::fs::hard_link(&victim, DbLock::path(d.path(), "shop")).unwrap();
        assert!(matches!(
            DbLock::acquire(d.path(), "shop"),
            Err(Error::Refused(_))
        ));
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_name_with_slashes_locks_inside_the_directory() {
        let d = tempfile::tempdir().unwrap();
        let l = DbLock::acquire(d.path(), "/../../../../tmp/x/evil").unwrap();
        assert_eq!(l.file().parent().unwrap(), d.path());
        assert!(l.file().exists());
    }
}
