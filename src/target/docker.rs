//! Talking to docker: running the CLI, reading `docker inspect` output (environment,
//! published ports), compose's `.env` file and `ps -q` output.

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::Value;

use crate::error::{Error, Result};

/// The port PostgreSQL listens on inside the container.
pub const CONTAINER_PORT: &str = "5432/tcp";

/// Runs `cmd`, returning its stdout, or an error with its last stderr line.
pub async fn output_of(mut cmd: tokio::process::Command, what: &str) -> Result<String> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let out = cmd.output().await.map_err(|e| {
        Error::Docker(format!(
            "cannot run {what} ({e}): is docker installed? (`sudo apt-get install docker.io`)"
        ))
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = crate::engine::pgtools::last_lines(&err, 1);
        return Err(Error::Docker(format!("{what} failed: {last}")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `docker inspect <container>` as JSON (the first object of the array).
pub async fn inspect(container: &str) -> Result<Value> {
    let mut cmd = tokio::process::Command::new("docker");
    cmd.args(["inspect", "--type", "container", container])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let text = output_of(cmd, "docker inspect").await?;
    first_object(&text)
}

/// The first object of `docker inspect`'s JSON array.
pub fn first_object(text: &str) -> Result<Value> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| Error::Docker(format!("cannot parse docker inspect output: {e}")))?;
    match v {
        Value::Array(mut a) if !a.is_empty() => Ok(a.swap_remove(0)),
        Value::Object(_) => Ok(v),
        _ => Err(Error::Docker("docker inspect returned no container".into())),
    }
}

/// The container's environment (`Config.Env`) as a map.
pub fn container_env(inspect: &Value) -> HashMap<String, String> {
    inspect["Config"]["Env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            e.as_str()?
                .split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

/// The host port published for the container's 5432 (running ports first, then bindings).
pub fn published_port(inspect: &Value) -> Option<u16> {
    [
        &inspect["NetworkSettings"]["Ports"],
        &inspect["HostConfig"]["PortBindings"],
    ]
    .into_iter()
    .filter_map(|ports| ports[CONTAINER_PORT].as_array())
    .flatten()
    .filter_map(|b| b["HostPort"].as_str()?.parse::<u16>().ok())
    .find(|p| *p != 0)
}

/// Parses a compose `.env` file (KEY=VALUE lines, `#` comments, optional quotes).
pub fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
                .unwrap_or(v);
            out.insert(k.trim().to_string(), v.to_string());
        }
    }
    out
}

/// The container's id for `service`, from `<compose> -f <file> ps -q <service>` output.
pub fn container_id_from_ps(output: &str) -> Option<String> {
    output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}
