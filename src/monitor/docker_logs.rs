//! The compose container's log: `docker logs -f --tail N --timestamps <container>` (the same
//! lines as `docker compose logs db`). When the container stops, the follower waits for it to
//! run again and reconnects from the last line it saw, so nothing is shown twice.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::logs::{LogEvent, LogSource};
use crate::error::{Error, Result};
use crate::target::docker;

/// How often a stopped container is checked for a restart.
const RESTART_POLL: Duration = Duration::from_secs(1);

/// Follows a container's log through the docker CLI.
#[derive(Debug, Clone)]
pub struct DockerLogSource {
    /// The container's name or id.
    pub container: String,
}

/// The docker log source for a compose target, None for a target without a container (for
/// the log pane's source selection).
pub fn for_target(target: &dyn crate::target::Target) -> Option<DockerLogSource> {
    target.container().map(DockerLogSource::new)
}

impl DockerLogSource {
    /// A source for `container` (name or id).
    pub fn new(container: impl Into<String>) -> DockerLogSource {
        DockerLogSource {
            container: container.into(),
        }
    }

    /// The last `tail` lines of the log (stdout and stderr in order), without docker's
    /// timestamps.
    pub async fn tail(&self, tail: usize) -> Result<Vec<String>> {
        let (mut child, pipe) = self.spawn(false, &tail_args(tail, None))?;
        let mut lines = Vec::new();
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        while read_line(&mut reader, &mut buf).await {
            lines.push(
                split_timestamp(&String::from_utf8_lossy(&buf))
                    .1
                    .to_string(),
            );
        }
        let status = child
            .wait()
            .await
            .map_err(|e| Error::Docker(e.to_string()))?;
        if !status.success() {
            let why = lines.last().cloned().unwrap_or_default();
            return Err(Error::Docker(format!(
                "docker logs {} failed: {why}",
                self.container
            )));
        }
        Ok(lines)
    }

    /// Starts `docker logs` with stdout and stderr into one pipe, so lines keep their order.
    fn spawn(
        &self,
        follow: bool,
        extra: &[String],
    ) -> Result<(tokio::process::Child, tokio::net::unix::pipe::Receiver)> {
        let (read, write) = nix::unistd::pipe().map_err(|e| Error::Docker(e.to_string()))?;
        let write2: OwnedFd = write
            .try_clone()
            .map_err(|e| Error::Docker(e.to_string()))?;
        let mut cmd = tokio::process::Command::new("docker");
        cmd.arg("logs").arg("--timestamps");
        if follow {
            cmd.arg("--follow");
        }
        cmd.args(extra)
            .arg(&self.container)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| {
            Error::Docker(format!(
                "cannot run docker logs ({e}): is docker installed?"
            ))
        })?;
        drop(cmd);
        let rx = tokio::net::unix::pipe::Receiver::from_owned_fd(read)
            .map_err(|e| Error::Docker(e.to_string()))?;
        Ok((child, rx))
    }
}

impl LogSource for DockerLogSource {
    fn describe(&self) -> String {
        format!("docker logs {}", self.container)
    }

    fn follow(&self, tail: usize, tx: UnboundedSender<LogEvent>) -> JoinHandle<()> {
        let source = self.clone();
        tokio::spawn(async move { source.follow_loop(tail, tx).await })
    }
}

impl DockerLogSource {
    async fn follow_loop(self, tail: usize, tx: UnboundedSender<LogEvent>) {
        let mut last: Option<(DateTime<FixedOffset>, String)> = None;
        loop {
            let since = last.as_ref().map(|l| l.1.as_str());
            match self.spawn(true, &tail_args(tail, since)) {
                Ok((mut child, rx)) => {
                    let mut reader = BufReader::new(rx);
                    let mut buf = Vec::new();
                    while read_line(&mut reader, &mut buf).await {
                        let text = String::from_utf8_lossy(&buf);
                        let (ts, line) = split_timestamp(&text);
                        if let Some((t, raw)) = ts {
                            if last.as_ref().is_some_and(|l| t <= l.0) {
                                continue;
                            }
                            last = Some((t, raw.to_string()));
                        }
                        if tx.send(LogEvent::Line(line.to_string())).is_err() {
                            return;
                        }
                    }
                    let _ = child.wait().await;
                }
                Err(e) => {
                    if tx.send(LogEvent::Notice(e.to_string())).is_err() {
                        return;
                    }
                }
            }
            if !self.wait_until_running(&tx).await {
                return;
            }
        }
    }

    /// After `docker logs -f` ended: says so, waits until the container runs again, says
    /// that too. False when the receiver is gone.
    async fn wait_until_running(&self, tx: &UnboundedSender<LogEvent>) -> bool {
        let stopped = format!(
            "container {} stopped; waiting for it to restart",
            self.container
        );
        if tx.send(LogEvent::Notice(stopped)).is_err() {
            return false;
        }
        loop {
            tokio::time::sleep(RESTART_POLL).await;
            if tx.is_closed() {
                return false;
            }
            let running = docker::inspect(&self.container)
                .await
                .is_ok_and(|v| v["State"]["Running"].as_bool() == Some(true));
            if running {
                let msg = format!("container {} restarted, reconnecting", self.container);
                return tx.send(LogEvent::Notice(msg)).is_ok();
            }
        }
    }
}

/// `--tail N`, or `--since <timestamp>` to resume after a reconnect.
fn tail_args(tail: usize, since: Option<&str>) -> Vec<String> {
    match since {
        Some(t) => vec!["--since".into(), t.into()],
        None => vec!["--tail".into(), tail.to_string()],
    }
}

/// Reads one line (without its newline) into `buf`; false at the end.
async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R, buf: &mut Vec<u8>) -> bool {
    buf.clear();
    match r.read_until(b'\n', buf).await {
        Ok(0) | Err(_) => false,
        Ok(_) => {
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            true
        }
    }
}

/// Splits docker's `--timestamps` prefix off a line: ((time, raw text), rest). Lines without
/// one (docker's own error messages) come back whole.
pub fn split_timestamp(line: &str) -> (Option<(DateTime<FixedOffset>, &str)>, &str) {
    if let Some((head, rest)) = line.split_once(' ') {
        if let Ok(t) = DateTime::parse_from_rfc3339(head) {
            return (Some((t, head)), rest);
        }
    }
    (None, line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOGS: &str = include_str!("../../tests/fixtures/docker/logs-timestamps.txt");

    #[test]
    fn timestamps_are_split_off_real_lines() {
        let line = LOGS
            .lines()
            .find(|l| l.contains("ready to accept connections"))
            .unwrap();
        let (ts, rest) = split_timestamp(line);
        let (t, raw) = ts.unwrap();
        assert!(raw.starts_with("2026-11-24T11:17:51."), "{raw}");
        assert_eq!(t.timestamp(), 1_795_519_071);
        assert!(
            rest.ends_with("LOG:  database system is ready to accept connections"),
            "{rest}"
        );
        assert!(LOGS.lines().all(|l| split_timestamp(l).0.is_some()));
    }

    #[test]
    fn variable_length_fractions_order_by_time() {
        let (a, _) = split_timestamp("2026-11-24T11:17:51.1Z x");
        let (b, _) = split_timestamp("2026-11-24T11:17:51.15Z y");
        assert!(a.unwrap().0 < b.unwrap().0);
    }

    #[test]
    fn lines_without_timestamp_stay_whole() {
        assert_eq!(
            split_timestamp("Error: No such container: x"),
            (None, "Error: No such container: x")
        );
    }

    #[test]
    fn resume_uses_since() {
        assert_eq!(tail_args(50, None), ["--tail", "50"]);
        assert_eq!(
            tail_args(50, Some("2026-01-01T00:00:00Z")),
            ["--since", "2026-01-01T00:00:00Z"]
        );
    }
}
