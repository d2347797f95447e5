//! Running the PostgreSQL client programs through a target: versions, spawn errors, and
//! collecting what they print on stderr.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStderr;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::target::{PgTool, Target};

/// Major and full version of a client program, from `<tool> --version`.
pub async fn tool_version(target: &dyn Target, tool: PgTool) -> Result<(u32, String)> {
    let mut cmd = target.command(tool, target.database(), "pgkeep-version");
    cmd.arg("--version").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = cmd.output().await.map_err(|e| spawn_error(tool, e))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(Error::ToolMissing {
            tool: tool.program().into(),
            reason: last_lines(&String::from_utf8_lossy(&out.stderr), 1),
        });
    }
    parse_version(&text).ok_or_else(|| Error::ToolFailed {
        tool: tool.program().into(),
        message: format!("unexpected --version output: {}", text.trim()),
    })
}

/// Parses `pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)` into (15, "15.18").
pub fn parse_version(text: &str) -> Option<(u32, String)> {
    let v = text.split_whitespace().nth(2)?;
    let major = v.split(['.', 'b', 'r', 'd']).next()?.parse().ok()?;
    Some((major, v.to_string()))
}

/// Maps a failure to start a program to a clear error.
pub fn spawn_error(tool: PgTool, e: std::io::Error) -> Error {
    Error::ToolMissing {
        tool: tool.program().into(),
        reason: e.to_string(),
    }
}

/// Collects a child's stderr in the background; the handle yields all of it (bounded).
pub fn collect_stderr(stderr: ChildStderr) -> JoinHandle<String> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        let mut kept: Vec<String> = Vec::new();
        while let Ok(Some(l)) = lines.next_line().await {
            kept.push(l);
            if kept.len() > 200 {
                kept.remove(0);
            }
        }
        kept.join("\n")
    })
}

/// The last `n` non-empty lines of `text`, joined with " / ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some((15, "15.18".to_string()))
        );
        assert_eq!(parse_version("psql (PostgreSQL) 17devel"), Some((17, "17devel".to_string())));
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn last_lines_skips_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b / c");
    }
}
