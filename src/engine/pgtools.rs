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
    cmd.arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let out = cmd.output().await.map_err(|e| Error::ToolMissing {
        tool: tool.program().into(),
        reason: format!("cannot run {program}: {e}"),
    })?;
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

/// Checks that a client program of major version `tool_major` can work with a server of
/// major version `server_major` (pg_dump refuses servers newer than itself).
pub fn check_tool_version(
    tool_major: u32,
    tool_version: &str,
    server_major: u32,
    server_version: &str,
) -> Result<()> {
    if tool_major < server_major {
        return Err(Error::ToolTooOld {
            tool_version: tool_version.to_string(),
            server_version: server_version.to_string(),
            server_major,
        });
    }
    Ok(())
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

/// The gist of a client program's stderr: its `error:` lines and the server's message, without
/// the `pg_dump: ` prefixes and the echoed command; else its last two lines. One line.
pub fn summarize_stderr(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for line in text.lines().map(str::trim) {
        let body = line.split_once(": ").map_or(line, |(prog, rest)| {
            if prog.starts_with("pg_") || prog == "psql" || prog.starts_with("psql:") {
                rest
            } else {
                line
            }
        });
        let kept = if let Some(e) = body.strip_prefix("error: ") {
            Some(e)
        } else {
            body.strip_prefix("detail: Error message from server: ")
        };
        if let Some(k) = kept {
            let k = k.split_whitespace().collect::<Vec<_>>().join(" ");
            if !parts.contains(&k) {
                parts.push(k);
            }
        }
    }
    let summary = if parts.is_empty() {
        last_lines(text, 2)
    } else {
        parts.join(" — ")
    };
    explain(summary)
}

/// Adds what a terse server message means and what to do.
fn explain(summary: String) -> String {
    let lower = summary.to_lowercase();
    let note = if lower.contains("connection to server was lost")
        || lower.contains("server closed the connection unexpectedly")
    {
        "the server closed the connection (it was stopped, restarted or crashed): check `pgkeep status` and the server log, then run it again"
    } else if lower.contains("out of shared memory") {
        "the server's lock table is full: every table (and index) touched in one transaction holds a lock, and pg_dump locks all tables at once; raise max_locks_per_transaction: ALTER SYSTEM SET max_locks_per_transaction = 256, then restart the server"
    } else if lower.contains("terminating connection due to administrator command") {
        "the server ended the session: the database was dropped (DROP DATABASE ... WITH (FORCE)), an administrator ran pg_terminate_backend, or the server is shutting down; check the database still exists, then run it again"
    } else {
        return summary;
    };
    format!("{summary} ({note})")
}

/// The last `n` non-empty lines of `text`, joined with " / ".
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_lock_table_says_what_to_raise() {
        let text = "pg_dump: error: query failed: ERROR:  out of shared memory\n\
                    HINT:  You might need to increase max_locks_per_transaction.\n\
                    pg_dump: detail: Query was: LOCK TABLE public.t1 IN ACCESS SHARE MODE\n";
        let s = summarize_stderr(text);
        assert!(
            s.starts_with("query failed: ERROR: out of shared memory ("),
            "{s}"
        );
        assert!(s.contains("raise max_locks_per_transaction"), "{s}");
    }

    #[test]
    fn versions_parse() {
        assert_eq!(
            parse_version("pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n"),
            Some((15, "15.18".to_string()))
        );
        assert_eq!(
            parse_version("psql (PostgreSQL) 17devel"),
            Some((17, "17devel".to_string()))
        );
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn older_pg_dump_is_refused_with_both_versions_and_the_fix() {
        let err = check_tool_version(14, "14.11", 15, "15.18").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("pg_dump 14.11"), "{msg}");
        assert!(msg.contains("server 15.18"), "{msg}");
        assert!(msg.contains("postgresql-client-15"), "{msg}");
        assert!(!msg.contains('\n'));
        assert!(check_tool_version(15, "15.2", 15, "15.18").is_ok());
        assert!(check_tool_version(16, "16.1", 15, "15.18").is_ok());
    }

    #[test]
    fn stderr_summary_keeps_the_error_and_the_server_message() {
        let text = "pg_dump: error: Dumping the contents of table \"t\" failed: PQgetResult() failed.\n\
                    pg_dump: detail: Error message from server: FATAL:  terminating connection due to administrator command\n\
                    pg_dump: detail: Command was: COPY public.t (a) TO stdout;\n";
        let s = summarize_stderr(text);
        assert!(
            s.starts_with("Dumping the contents of table \"t\" failed: PQgetResult() failed. — FATAL: terminating connection due to administrator command"),
            "{s}"
        );
        assert!(s.contains("DROP DATABASE"), "{s}");
        assert_eq!(
            summarize_stderr("something odd\nreally odd\n"),
            "something odd / really odd"
        );
    }

    #[test]
    fn psqls_connection_lost_is_one_clean_line() {
        let text = "psql:<stdin>:1234: server closed the connection unexpectedly\n\
                    \tThis probably means the server terminated abnormally\n\
                    \tbefore or while processing the request.\n\
                    psql:<stdin>:1234: error: connection to server was lost\n";
        let s = summarize_stderr(text);
        assert!(s.starts_with("connection to server was lost ("), "{s}");
        assert!(!s.contains("before or while"), "{s}");
        assert!(s.contains("pgkeep status"), "{s}");
    }

    #[test]
    fn last_lines_skips_blanks() {
        assert_eq!(last_lines("a\n\nb\nc\n\n", 2), "b / c");
    }
}
