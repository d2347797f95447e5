//! The `archive_command` pgkeep hands to the server: a plain shell line a person can read.
//!
//! Each cluster archives into its own folder, `<wal dir>/<system identifier>/`, so a recreated
//! volume (a new cluster with a new identifier, whose first segment has the same name as the
//! old cluster's) archives again at once and the old cluster's archive stays beside it. A file
//! that is already there with the same content counts as archived (a retry after a crash between
//! copy and acknowledgement); one with different content is never overwritten. The copy goes
//! to `<name>.tmp`, is flushed to disk and renamed, so a half-written segment never carries a
//! segment's name. `*.history` files are archived the same way and kept.

use std::path::Path;

use crate::error::{Error, Result};

/// The shell expression that yields the cluster's system identifier inside the server's
/// environment: the server runs archive commands in its data directory, so `pg_controldata .`
/// reads its own control file (same version as the server, always).
pub const SYSID_FROM_CONTROLDATA: &str =
    "$(LC_ALL=C pg_controldata . | sed -n 's/^Database system identifier: *//p')";

/// The archive command for a server whose system identifier is known now (a server outside
/// docker: the identifier is written into the line). `wal_root` is the WAL folder as the
/// server sees it.
pub fn for_known_cluster(wal_root: &Path, system_identifier: &str) -> Result<String> {
    if !system_identifier.bytes().all(|b| b.is_ascii_digit()) || system_identifier.is_empty() {
        return Err(Error::Other(format!(
            "unexpected system identifier {system_identifier:?}"
        )));
    }
    Ok(line(&quote(wal_root)?, system_identifier))
}

/// The archive command for a server whose identifier is read at archive time (the compose
/// file, which is written once for every cluster the volume will ever hold).
pub fn for_any_cluster(wal_root: &Path) -> Result<String> {
    Ok(format!(
        "s={SYSID_FROM_CONTROLDATA} && test -n \"$s\" && {}",
        line(&quote(wal_root)?, "$s")
    ))
}

fn line(root: &str, sysid: &str) -> String {
    format!(
        "d={root}/{sysid} && mkdir -p \"$d\" && if test -f \"$d/%f\"; then cmp -s %p \"$d/%f\"; \
         else cp %p \"$d/%f.tmp\" && sync \"$d/%f.tmp\" && mv \"$d/%f.tmp\" \"$d/%f\"; fi"
    )
}

/// Single-quotes a path for the shell; refuses paths the server could not use anyway.
fn quote(path: &Path) -> Result<String> {
    let s = path.to_string_lossy();
    if !path.is_absolute() {
        return Err(Error::Other(format!(
            "the WAL folder {s} must be an absolute path for the server's archive_command"
        )));
    }
    if s.contains(['\'', '%', '\n']) {
        return Err(Error::Other(format!(
            "the WAL folder {s} contains a quote, % or newline, which archive_command cannot carry: choose another `wal_dir` in pgkeep.toml"
        )));
    }
    Ok(format!("'{s}'"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the command as the server would (in the data directory, %p and %f replaced).
    fn archive(cmd: &str, data: &Path, seg: &str) -> bool {
        let cmd = cmd
            .replace("%p", &format!("pg_wal/{seg}"))
            .replace("%f", seg);
        Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(data)
            .status()
            .unwrap()
            .success()
    }

    #[test]
    fn same_content_is_accepted_and_different_content_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir_all(data.join("pg_wal")).unwrap();
        let seg = "000000010000000000000001";
        std::fs::write(data.join("pg_wal").join(seg), "one").unwrap();
        let wal = tmp.path().join("wal");
        let cmd = for_known_cluster(&wal, "7301").unwrap();
        assert!(archive(&cmd, &data, seg));
        assert_eq!(
            std::fs::read_to_string(wal.join("7301").join(seg)).unwrap(),
            "one"
        );
        assert!(
            archive(&cmd, &data, seg),
            "a retry of the same segment succeeds"
        );
        std::fs::write(data.join("pg_wal").join(seg), "two").unwrap();
        assert!(!archive(&cmd, &data, seg), "different content is refused");
        assert_eq!(
            std::fs::read_to_string(wal.join("7301").join(seg)).unwrap(),
            "one"
        );
        // Another cluster's segment of the same name goes beside it.
        let other = for_known_cluster(&wal, "7302").unwrap();
        assert!(archive(&other, &data, seg));
        assert_eq!(
            std::fs::read_to_string(wal.join("7302").join(seg)).unwrap(),
            "two"
        );
        assert!(!wal.join("7301").join(format!("{seg}.tmp")).exists());
    }

    #[test]
    fn the_compose_file_runs_what_archive_command_prints() {
        let compose = include_str!("../../../docker-compose.yml");
        let line = for_any_cluster(Path::new("/backups/wal")).unwrap();
        let want = format!("archive_command={}", line.replace('$', "$$"));
        assert!(
            compose.lines().any(|l| l.trim() == want),
            "docker-compose.yml should carry:\n{want}"
        );
        assert!(compose.contains("archive_timeout="));
    }

    #[test]
    fn odd_paths_are_refused() {
        assert!(for_known_cluster(Path::new("relative/wal"), "1").is_err());
        assert!(for_known_cluster(Path::new("/it's"), "1").is_err());
        assert!(for_known_cluster(Path::new("/wal"), "1; rm").is_err());
        let any = for_any_cluster(Path::new("/backups/wal")).unwrap();
        assert!(any.starts_with("s=$(LC_ALL=C pg_controldata ."), "{any}");
        assert!(any.contains("d='/backups/wal'/$s"), "{any}");
    }
}
