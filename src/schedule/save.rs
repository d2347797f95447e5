//! Saving an edited schedule into the config file, and installing or removing the crontab
//! block: the code both `pgkeep schedule install|remove` and the console's schedule editor run.

use std::path::{Path, PathBuf};

use chrono::Utc;

use super::{crontab, JobPaths};
use crate::config::{ScheduleConfig, CONFIG_FILE_NAME};
use crate::engine::fsutil;
use crate::error::{Error, Result};

/// The config file an edit is written to: the one given with `--config`, else `./pgkeep.toml`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(CONFIG_FILE_NAME))
}

/// `text` with `[schedule] cron` set to `cron`; every other key, comment and blank line is kept.
pub fn with_cron(text: &str, cron: &str) -> std::result::Result<String, String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        e.to_string().lines().next().unwrap_or("").to_string()
    })?;
    let table = doc
        .entry("schedule")
        .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
    let Some(table) = table.as_table_like_mut() else {
        return Err("`schedule` is not a table".into());
    };
    match table.get_mut("cron") {
        Some(item) if item.is_value() => {
            // keep the comment after the value and the spacing before it
            let decor = item.as_value().map(|v| v.decor().clone());
            *item = toml_edit::value(cron);
            if let (Some(d), Some(v)) = (decor, item.as_value_mut()) {
                *v.decor_mut() = d;
            }
        }
        _ => {
            table.insert("cron", toml_edit::value(cron));
        }
    }
    Ok(doc.to_string())
}

/// Writes `cron` as `[schedule] cron` into the config file at `path` (created when missing),
/// leaving the rest of the file as it was. Written to a temporary file and renamed.
pub fn save_cron(path: &Path, cron: &str) -> Result<()> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => {
            return Err(Error::Config(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let new = with_cron(&text, cron)
        .map_err(|e| Error::Config(format!("cannot edit {}: {e}", path.display())))?;
    let tmp = path.with_extension("toml.pgkeep-tmp");
    let write = || -> std::io::Result<()> {
        std::fs::write(&tmp, &new)?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::Config(format!("cannot write {}: {e}", path.display()))
    })
}

/// Installs the configured schedule into the invoking user's crontab; returns what changed
/// and the block. `config_file` is the explicit `--config` file, if any.
/// `with_base` adds the base backup line (see [`super::crontab_block`]).
pub fn install(
    config: &ScheduleConfig,
    backup_dir: &Path,
    config_file: Option<&Path>,
    with_base: bool,
) -> Result<(crontab::Change, String)> {
    let paths = JobPaths::current(backup_dir, config_file)?;
    let block = super::crontab_block(config, &paths, Utc::now(), with_base)?;
    fsutil::ensure_private_dir(&paths.backup_dir)?;
    Ok((crontab::install(&block)?, block))
}

/// Removes pgkeep's block from the invoking user's crontab.
pub fn remove() -> Result<crontab::Change> {
    crontab::remove()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_cron_key_changes() {
        let text = "# my settings\nbackup_dir = \"db\"\n\n[schedule]\ncron = \"0 2 * * *\"  # nightly\ntimezone = \"UTC\"\n\n[alerts]\ngrace_hours = 4\n";
        let out = with_cron(text, "0 */6 * * *").unwrap();
        assert_eq!(out, text.replace("0 2 * * *", "0 */6 * * *"));
    }

    #[test]
    fn a_missing_table_or_file_is_created() {
        assert_eq!(
            with_cron("", "0 3 * * 0").unwrap(),
            "[schedule]\ncron = \"0 3 * * 0\"\n"
        );
        let out = with_cron("backup_dir = \"db\"\n", "0 3 * * 0").unwrap();
        assert!(out.starts_with("backup_dir = \"db\"\n"), "{out}");
        assert!(out.contains("[schedule]\ncron = \"0 3 * * 0\""), "{out}");
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pgkeep.toml");
        save_cron(&p, "5 4 * * *").unwrap();
        let cfg = crate::config::Config::parse(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(cfg.schedule.cron, "5 4 * * *");
    }

    #[test]
    fn a_broken_file_is_refused_and_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pgkeep.toml");
        std::fs::write(&p, "[schedule\ncron = 1").unwrap();
        let e = save_cron(&p, "0 2 * * *").unwrap_err().to_string();
        assert!(e.contains("pgkeep.toml"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "[schedule\ncron = 1");
    }
}
