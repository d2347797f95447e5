//! Proof that the installed job works under cron: the job's own command, with `status`
//! instead of `backup`, run under cron's bare environment (`env -i`, `PATH=/usr/bin:/bin`,
//! HOME, LOGNAME, SHELL=/bin/sh) from `/`. What works here works at 02:00.

use std::process::{Command, Stdio};

use super::crontab::{cron_env, job_command};
use super::JobPaths;

/// cron's PATH on Debian/Ubuntu (and the default of most crons).
pub const CRON_PATH: &str = "/usr/bin:/bin";

/// Runs `pgkeep status` the way the job would run under cron. Ok with a sentence saying what
/// was proved, Err with what failed (the first error line of the run).
pub fn prove(paths: &JobPaths) -> std::result::Result<String, String> {
    let command = job_command(
        &paths.project,
        &paths.exe,
        paths.config.as_deref(),
        &paths.backup_dir,
        &cron_env(),
        "status --json",
    );
    let mut cmd = Command::new("env");
    cmd.arg("-i");
    for k in ["HOME", "LOGNAME", "USER"] {
        if let Ok(v) = std::env::var(k) {
            cmd.arg(format!("{k}={v}"));
        }
    }
    let out = cmd
        .args([
            &format!("PATH={CRON_PATH}"),
            "SHELL=/bin/sh",
            "/bin/sh",
            "-c",
        ])
        .arg(&command)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run the check ({e})"))?;
    if out.status.success() {
        return Ok(format!(
            "checked under cron's environment (env -i, PATH={CRON_PATH} plus the settings on the job line): the database answers"
        ));
    }
    let json: Option<serde_json::Value> = serde_json::from_slice(&out.stdout).ok();
    let problem = json
        .as_ref()
        .and_then(|v| v["problem"].as_str().map(str::to_string))
        .or_else(|| {
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim_start_matches("pgkeep: error: ").to_string())
        })
        .unwrap_or_else(|| format!("it exited with {}", out.status));
    Err(problem)
}
