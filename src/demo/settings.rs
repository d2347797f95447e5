//! What the demo writes: the server settings appended to its postgresql.conf, the archive
//! command switched on after the load, and the pgkeep config that points at it.

use std::path::Path;

use super::{Layout, DATABASE};
use crate::engine::fsutil;
use crate::error::{Error, Result};

/// Settings appended to the demo cluster's postgresql.conf: local only, fast (the data can
/// always be generated again), WAL archiving like the compose deployment, a useful log.
pub fn server_settings(layout: &Layout) -> String {
    format!(
        "\n# pgkeep demo\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '{run}'\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n\
         wal_level = logical\n\
         archive_mode = on\n\
         archive_command = 'true' # the load's WAL is not kept; wal/ from then on\n\
         log_line_prefix = '%m [%p] %q%u@%d '\n\
         log_checkpoints = on\n\
         log_min_duration_statement = 2000\n\
         log_lock_waits = on\n\
         min_wal_size = '32MB'\n\
         max_wal_size = '512MB'\n\
         checkpoint_warning = 0\n",
        run = layout.run().display(),
    )
}

/// The archive command once the data is loaded: what `pgkeep wal archive-command` prints
/// for the demo cluster (each segment into `wal/<system identifier>/`, never overwriting a
/// different file).
pub fn archive_command(layout: &Layout, system_identifier: &str) -> Result<String> {
    crate::engine::physical::archive_cmd::for_known_cluster(&layout.wal(), system_identifier)
}

/// The demo's pgkeep.toml: the direct target (a compose file in the folder must not win),
/// its own backup dir, the server's log for the log pane.
pub fn config_text(layout: &Layout, bin: &Path, port: u16) -> String {
    let q = |p: &Path| toml::Value::String(p.display().to_string()).to_string();
    format!(
        "# Written by `pgkeep demo` on every start: the private demo cluster in {root}.\n\
         # Open the console on it with: pgkeep --config {config}\n\
         target = \"direct\"\n\
         url = \"postgresql://postgres@127.0.0.1:{port}/{DATABASE}\"\n\
         pg_bin = {bin}\n\
         backup_dir = {backups}\n\
         wal_dir = {wal}\n\
         \n\
         [log]\n\
         file = {log}\n",
        root = layout.root.display(),
        config = layout.config_file().display(),
        bin = q(bin),
        backups = q(&layout.backups()),
        wal = q(&layout.wal()),
        log = q(&layout.log_file()),
    )
}

/// Writes the demo's pgkeep.toml (0600, atomically).
pub fn write_config(layout: &Layout, bin: &Path, port: u16) -> Result<()> {
    let path = layout.config_file();
    fsutil::write_atomic(&path, config_text(layout, bin, port).as_bytes())
        .map_err(|e| Error::io("cannot write the demo config", e, &path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, TargetKind};
    use std::path::PathBuf;

    #[test]
    fn demo_config_forces_the_direct_target_and_its_own_paths() {
        let layout = Layout::new(Path::new("/srv/app/.pgkeep-demo")).unwrap();
        let text = config_text(&layout, Path::new("/usr/lib/postgresql/15/bin"), 54321);
        let cfg = Config::parse(&text).unwrap();
        assert_eq!(cfg.target, TargetKind::Direct);
        assert_eq!(
            cfg.url.as_deref(),
            Some("postgresql://postgres@127.0.0.1:54321/facturatie")
        );
        assert_eq!(
            cfg.backup_dir,
            PathBuf::from("/srv/app/.pgkeep-demo/backups")
        );
        assert_eq!(
            cfg.log.file,
            Some(PathBuf::from("/srv/app/.pgkeep-demo/run/server.log"))
        );
        assert_eq!(
            cfg.pg_bin,
            Some(PathBuf::from("/usr/lib/postgresql/15/bin"))
        );
    }

    #[test]
    fn relative_layout_is_made_absolute() {
        let layout = Layout::new(Path::new(super::super::DEMO_DIR)).unwrap();
        assert!(layout.root.is_absolute());
        assert!(layout.log_file().starts_with(layout.run()));
    }
}
