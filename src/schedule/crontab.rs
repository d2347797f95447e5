//! The invoking user's crontab, through `crontab -l` and `crontab -`: pgkeep owns one marked
//! block (`# BEGIN pgkeep` … `# END pgkeep`) and leaves every other line byte-for-byte alone.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// First line of pgkeep's block.
pub const BEGIN_MARK: &str = "# BEGIN pgkeep";
/// Last line of pgkeep's block.
pub const END_MARK: &str = "# END pgkeep";

/// What `install` or `remove` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The crontab was written.
    Written,
    /// The crontab already was as wanted; nothing was written.
    Unchanged,
}

/// Reads the user's crontab; "no crontab for <user>" is an empty one.
pub fn read() -> Result<String> {
    let out = Command::new("crontab")
        .arg("-l")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Other(format!("cannot run crontab ({e}): install cron (`sudo apt-get install cron`) or use `pgkeep daemon`")))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("no crontab for") {
        return Ok(String::new());
    }
    Err(Error::Other(format!(
        "crontab -l failed: {}",
        err.trim().replace('\n', " ")
    )))
}

/// Replaces the user's crontab with `text`.
pub fn write(text: &str) -> Result<()> {
    let mut child = Command::new("crontab")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            Error::Other(format!(
                "cannot run crontab ({e}): install cron or use `pgkeep daemon`"
            ))
        })?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .map_err(|e| Error::Other(format!("writing to crontab failed: {e}")))?;
    let out = child
        .wait_with_output()
        .map_err(|e| Error::Other(format!("crontab - failed: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Other(format!(
            "crontab refused the new table ({}); your crontab is unchanged",
            err.trim().replace('\n', " ")
        )));
    }
    Ok(())
}

/// The pgkeep block inside `crontab`, as (start byte, end byte) covering whole lines.
fn block_span(crontab: &str) -> Option<(usize, usize)> {
    let mut pos = 0;
    let mut start = None;
    for line in crontab.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if start.is_none() && trimmed.starts_with(BEGIN_MARK) {
            start = Some(pos);
        } else if start.is_some() && trimmed == END_MARK {
            return Some((start.unwrap(), pos + line.len()));
        }
        pos += line.len();
    }
    None
}

/// The crontab text with pgkeep's block removed (everything else untouched).
pub fn without_block(crontab: &str) -> String {
    match block_span(crontab) {
        Some((a, b)) => format!("{}{}", &crontab[..a], &crontab[b..]),
        None => crontab.to_string(),
    }
}

/// The crontab text with pgkeep's block set to `block` (replaced in place, or appended).
pub fn with_block(crontab: &str, block: &str) -> String {
    match block_span(crontab) {
        Some((a, b)) => format!("{}{}{}", &crontab[..a], block, &crontab[b..]),
        None if crontab.is_empty() || crontab.ends_with('\n') => format!("{crontab}{block}"),
        None => format!("{crontab}\n{block}"),
    }
}

/// The job line inside pgkeep's block, if installed.
pub fn installed_job(crontab: &str) -> Option<String> {
    let (a, b) = block_span(crontab)?;
    crontab[a..b]
        .lines()
        .find(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
}

/// The job lines inside pgkeep's block (the dump line first, then the base backup line).
pub fn installed_jobs(crontab: &str) -> Vec<String> {
    let Some((a, b)) = block_span(crontab) else {
        return Vec::new();
    };
    crontab[a..b]
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// The block to install: markers, a comment about zones, the dump job line and, when
/// `base_fields` is given, the base backup job line (`basebackup --scheduled`). Both lines
/// carry the settings of [`cron_env`], so cron's bare environment reaches the same target.
pub fn block(
    cron_fields: &str,
    base_fields: Option<&str>,
    zone_note: &str,
    project: &Path,
    exe: &Path,
    config: Option<&Path>,
    backup_dir: &Path,
) -> String {
    let log = quote(&backup_dir.join(super::CRON_LOG_NAME));
    let env = cron_env();
    let line = |fields: &str, args: &str| {
        let command = job_command(project, exe, config, backup_dir, &env, args);
        format!("{fields} {command} >> {log} 2>&1\n")
    };
    let dump = line(cron_fields, "backup --quiet --scheduled");
    let base = base_fields
        .map(|f| line(f, "basebackup --quiet --scheduled"))
        .unwrap_or_default();
    format!(
        "{BEGIN_MARK} (managed by `pgkeep schedule install`, removed by `pgkeep schedule remove`)\n\
         # {zone_note}\n\
         {dump}{base}{END_MARK}\n"
    )
}

/// The shell command of the job: `cd <project> && [VAR=value …] <exe> [--config …]
/// --backup-dir … <args>`.
pub fn job_command(
    project: &Path,
    exe: &Path,
    config: Option<&Path>,
    backup_dir: &Path,
    env: &[(String, String)],
    args: &str,
) -> String {
    let config_arg = config
        .map(|c| format!(" --config {}", quote(c)))
        .unwrap_or_default();
    let vars: String = env
        .iter()
        .map(|(k, v)| format!("{k}={} ", quote(Path::new(v))))
        .collect();
    format!(
        "cd {} && {vars}{}{config_arg} --backup-dir {} {args}",
        quote(project),
        quote(exe),
        quote(backup_dir),
    )
}

/// Settings of this shell a scheduled run needs to reach the same target and that cron's
/// bare environment (`PATH=/usr/bin:/bin`, no DOCKER_HOST) lacks: PATH (docker, docker
/// compose, pg_dump) and the docker and libpq variables that are not secrets. Never a password
/// or a URL (which may hold one): those belong in ~/.pgpass or pgkeep.toml.
pub fn cron_env() -> Vec<(String, String)> {
    const CARRIED: &[&str] = &[
        "PATH",
        "DOCKER_HOST",
        "DOCKER_CONTEXT",
        "DOCKER_CONFIG",
        "DOCKER_CERT_PATH",
        "DOCKER_TLS_VERIFY",
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSFILE",
        "PGKEEP_TARGET",
        "PGKEEP_COMPOSE_FILE",
        "PGKEEP_SERVICE",
        "PGKEEP_PG_BIN",
    ];
    CARRIED
        .iter()
        .filter_map(|k| {
            let v = std::env::var(k).ok().filter(|v| !v.is_empty())?;
            let printable = !v.chars().any(char::is_control);
            printable.then(|| (k.to_string(), v))
        })
        .collect()
}

/// Quotes a path for /bin/sh inside a crontab line (`%` is special to cron and is escaped).
fn quote(p: &Path) -> String {
    let s = p.to_string_lossy();
    let plain = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:,@".contains(c));
    let q = if plain {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    };
    q.replace('%', r"\%")
}

/// Writes `block` into the crontab; nothing is written when it is already there.
pub fn install(block: &str) -> Result<Change> {
    let current = read()?;
    let wanted = with_block(&current, block);
    if wanted == current {
        return Ok(Change::Unchanged);
    }
    write(&wanted)?;
    Ok(Change::Written)
}

/// Removes pgkeep's block from the crontab, if there is one.
pub fn remove() -> Result<Change> {
    let current = read()?;
    let wanted = without_block(&current);
    if wanted == current {
        return Ok(Change::Unchanged);
    }
    write(&wanted)?;
    Ok(Change::Written)
}

/// Whether a cron daemon (`cron`/`crond`) is running: without one an installed crontab never
/// fires (typical in containers).
pub fn daemon_running() -> bool {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return true;
    };
    rd.flatten().any(|e| {
        std::fs::read_to_string(e.path().join("comm"))
            .map(|c| matches!(c.trim(), "cron" | "crond"))
            .unwrap_or(false)
    })
}

/// Connection settings in this shell's environment that a cron job will not see (names only):
/// the secrets [`cron_env`] never writes into the crontab.
pub fn env_cron_will_not_see() -> Vec<String> {
    let carried: Vec<String> = cron_env().into_iter().map(|(k, _)| k).collect();
    let mut names: Vec<String> = std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| {
            (k.starts_with("PGKEEP_")
                || matches!(
                    k.as_str(),
                    "PGHOST" | "PGPORT" | "PGUSER" | "PGPASSWORD" | "PGDATABASE"
                ))
                && !carried.contains(k)
                && k != "PGKEEP_BACKUP_DIR"
                && k != "PGKEEP_CONFIG"
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str =
        "# BEGIN pgkeep (x)\n# note\n0 2 * * * cd /p && /bin/pgkeep backup\n# END pgkeep\n";

    #[test]
    fn block_is_added_replaced_and_removed_leaving_other_lines() {
        let mine = "MAILTO=me\n17 4 * * * /usr/bin/true # mine\n";
        let with = with_block(mine, BLOCK);
        assert_eq!(with, format!("{mine}{BLOCK}"));
        assert_eq!(with_block(&with, BLOCK), with);
        let other = BLOCK.replace("0 2", "0 3");
        let replaced = with_block(&format!("{with}5 5 * * * x\n"), &other);
        assert_eq!(replaced, format!("{mine}{other}5 5 * * * x\n"));
        assert_eq!(without_block(&replaced), format!("{mine}5 5 * * * x\n"));
        assert_eq!(
            installed_job(&replaced).unwrap(),
            "0 3 * * * cd /p && /bin/pgkeep backup"
        );
        // no trailing newline: one is added before the block, the line itself is untouched
        assert_eq!(
            with_block("1 1 * * * a", BLOCK),
            format!("1 1 * * * a\n{BLOCK}")
        );
    }

    #[test]
    fn paths_are_quoted_for_sh_and_cron() {
        assert_eq!(quote(Path::new("/srv/app")), "/srv/app");
        assert_eq!(quote(Path::new("/srv/my app")), "'/srv/my app'");
        assert_eq!(quote(Path::new("/srv/50%")), r"'/srv/50\%'");
        let b = block(
            "0 2 * * *",
            Some("0 3 * * 0"),
            "runs in UTC",
            Path::new("/p"),
            Path::new("/bin/pgkeep"),
            None,
            Path::new("/p/db"),
        );
        let jobs = installed_jobs(&b);
        assert_eq!(jobs.len(), 2, "{b}");
        assert!(
            jobs[0].starts_with("0 2 * * * cd /p && ")
                && jobs[0].contains("/bin/pgkeep --backup-dir /p/db backup --quiet --scheduled >> /p/db/pgkeep-cron.log 2>&1"),
            "{b}"
        );
        assert!(
            jobs[1].starts_with("0 3 * * 0 cd /p && ")
                && jobs[1].contains("/bin/pgkeep --backup-dir /p/db basebackup --quiet --scheduled >> /p/db/pgkeep-cron.log 2>&1"),
            "{b}"
        );
        let dump_only = block(
            "0 2 * * *",
            None,
            "n",
            Path::new("/p"),
            Path::new("/bin/pgkeep"),
            None,
            Path::new("/p/db"),
        );
        assert_eq!(installed_jobs(&dump_only).len(), 1);
    }

    #[test]
    fn the_job_carries_path_and_docker_settings_never_secrets() {
        let env = vec![
            (
                "PATH".to_string(),
                "/usr/local/bin:/usr/bin:/bin".to_string(),
            ),
            (
                "DOCKER_HOST".to_string(),
                "unix:///run/user/1000/docker.sock".to_string(),
            ),
        ];
        let c = job_command(
            Path::new("/p"),
            Path::new("/bin/pgkeep"),
            None,
            Path::new("/p/db"),
            &env,
            "status",
        );
        assert_eq!(
            c,
            "cd /p && PATH=/usr/local/bin:/usr/bin:/bin DOCKER_HOST=unix:///run/user/1000/docker.sock /bin/pgkeep --backup-dir /p/db status"
        );
        for (k, _) in cron_env() {
            assert!(!k.contains("PASSWORD") && k != "PGKEEP_URL", "{k}");
        }
    }
}
