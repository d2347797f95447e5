//! The one fix for a backup directory the database server cannot archive WAL into. The
//! server (uid of the image's postgres user) writes `db_backups/wal/`; pgkeep (the operator)
//! writes the dumps beside it. Both work when the backup directory belongs to the operator
//! with mode 0711 (others may pass through to `wal/`, never list or write the directory; every
//! dump is 0600) and `wal/` belongs to the server. A recursive chown of the backup directory
//! breaks archiving again, so no fix here is recursive. Used by `doctor`, the console (through
//! the doctor's checks) and the README's troubleshooting section.

use std::path::Path;

/// The command that lets the server in `container` write `<backup_dir>/wal` (mounted at
/// `/backups` inside it) while the operator keeps the directory.
pub fn fix(backup_dir: &Path, container: &str) -> String {
    format!(
        "chmod 711 {} && docker exec {container} sh -c 'mkdir -p /backups/wal && chown postgres:postgres /backups/wal'",
        backup_dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fix_is_not_recursive_and_gives_wal_to_the_server() {
        let f = fix(Path::new("/srv/app/db_backups"), "app-db-1");
        assert!(f.starts_with("chmod 711 /srv/app/db_backups && "), "{f}");
        assert!(f.contains("chown postgres:postgres /backups/wal"), "{f}");
        assert!(!f.contains("-R"), "{f}");
    }
}
