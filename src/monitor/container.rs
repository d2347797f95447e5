//! The database container's state from `docker inspect`: state, health, start time, restart
//! count, image, and the volume holding the data directory (with a loud warning when it is
//! not the named volume the deployment declares).

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::error::Result;
use crate::target::docker;

/// The named volume the deployment keeps its data in.
pub const EXPECTED_VOLUME: &str = "facturatie_postgres_data";

/// The official image's data directory.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/postgresql/data";

/// What the status pane shows about the compose service's container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ContainerStatus {
    /// Container name.
    pub name: String,
    /// `running`, `exited`, `restarting`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`, or None without a healthcheck.
    pub health: Option<String>,
    /// When the container started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it last stopped (None if it never did).
    pub finished_at: Option<DateTime<Utc>>,
    /// How often docker restarted it.
    pub restart_count: u64,
    /// Image reference.
    pub image: String,
    /// The volume mounted at the data directory.
    pub data_volume: Option<String>,
    /// A loud warning about the data volume (anonymous, or not facturatie_postgres_data).
    pub volume_warning: Option<String>,
}

impl ContainerStatus {
    /// Parses `docker inspect <container>` output (the JSON array or one object).
    pub fn from_inspect_json(text: &str) -> Result<ContainerStatus> {
        Ok(Self::from_inspect(&docker::first_object(text)?))
    }

    /// Reads the status out of one inspected container.
    pub fn from_inspect(v: &Value) -> ContainerStatus {
        let state = &v["State"];
        let time = |key: &str| {
            state[key]
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
                .filter(|t| t.timestamp() > 0)
        };
        let started_at = time("StartedAt");
        let finished_at = time("FinishedAt");
        let data_dir = docker::container_env(v)
            .get("PGDATA")
            .cloned()
            .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string());
        let (data_volume, volume_warning) = data_volume(v, &data_dir);
        ContainerStatus {
            name: v["Name"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('/')
                .to_string(),
            state: state["Status"].as_str().unwrap_or("unknown").to_string(),
            health: state["Health"]["Status"].as_str().map(str::to_string),
            started_at,
            finished_at,
            restart_count: v["RestartCount"].as_u64().unwrap_or(0),
            image: v["Config"]["Image"].as_str().unwrap_or("").to_string(),
            data_volume,
            volume_warning,
        }
    }

    /// True when the container runs and its healthcheck (if any) passes.
    pub fn is_healthy(&self) -> bool {
        self.state == "running" && matches!(self.health.as_deref(), None | Some("healthy"))
    }

    /// "running (healthy)", "exited", "restarting (unhealthy)". A stopped container keeps
    /// the verdict of its last healthcheck in `docker inspect`; that is not shown.
    pub fn state_text(&self) -> String {
        match &self.health {
            Some(h) if matches!(self.state.as_str(), "running" | "restarting") => {
                format!("{} ({h})", self.state)
            }
            _ => self.state.clone(),
        }
    }
}

/// The mount holding `data_dir` (at it or above it) and a warning when it is not the named
/// volume [`EXPECTED_VOLUME`].
fn data_volume(v: &Value, data_dir: &str) -> (Option<String>, Option<String>) {
    let mounts = v["Mounts"].as_array().cloned().unwrap_or_default();
    let holds = |dest: &str| {
        let dest = dest.trim_end_matches('/');
        data_dir == dest || data_dir.starts_with(&format!("{dest}/"))
    };
    let Some(m) = mounts
        .iter()
        .filter(|m| m["Destination"].as_str().is_some_and(holds))
        .max_by_key(|m| m["Destination"].as_str().map_or(0, str::len))
    else {
        return (
            None,
            Some(format!(
                "NO VOLUME at {data_dir}: the database lives inside the container and is lost when it is removed; mount the named volume {EXPECTED_VOLUME} there"
            )),
        );
    };
    if m["Type"].as_str() == Some("bind") {
        let src = m["Source"].as_str().unwrap_or("?").to_string();
        let warn = format!(
            "the data directory is a bind mount of {src}, not the named volume {EXPECTED_VOLUME}"
        );
        return (Some(src), Some(warn));
    }
    let name = m["Name"].as_str().unwrap_or("").to_string();
    let warning = if is_anonymous(&name) {
        Some(format!(
            "ANONYMOUS VOLUME {}…: `docker compose down -v` or a new container loses the database; declare the named volume {EXPECTED_VOLUME}",
            &name[..12]
        ))
    } else if name != EXPECTED_VOLUME {
        Some(format!(
            "the data volume is {name}, not {EXPECTED_VOLUME}: check that this is the database you mean to protect"
        ))
    } else {
        None
    };
    (Some(name), warning)
}

/// Docker names anonymous volumes with 64 hex digits.
fn is_anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Inspects `container` and returns its status.
pub async fn fetch(container: &str) -> Result<ContainerStatus> {
    Ok(ContainerStatus::from_inspect(
        &docker::inspect(container).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEALTHY: &str = include_str!("../../tests/fixtures/docker/inspect-running-healthy.json");
    const EXITED: &str =
        include_str!("../../tests/fixtures/docker/inspect-exited-anonymous-volume.json");

    #[test]
    fn running_healthy_container_on_the_named_volume() {
        let s = ContainerStatus::from_inspect_json(HEALTHY).unwrap();
        assert_eq!(s.name, "pgktest_db_1");
        assert_eq!(s.state, "running");
        assert_eq!(s.health.as_deref(), Some("healthy"));
        assert_eq!(s.restart_count, 0);
        assert_eq!(s.image, "pgkeep-test-postgres:local");
        assert_eq!(s.data_volume.as_deref(), Some(EXPECTED_VOLUME));
        assert_eq!(s.volume_warning, None);
        assert_eq!(
            s.started_at.unwrap().to_rfc3339(),
            "2026-11-24T11:17:49.193626877+00:00"
        );
        assert!(s.is_healthy());
        assert_eq!(s.finished_at, None, "0001-01-01 means never");
        assert_eq!(s.state_text(), "running (healthy)");
    }

    #[test]
    fn exited_container_with_an_anonymous_volume_warns() {
        let s = ContainerStatus::from_inspect_json(EXITED).unwrap();
        assert_eq!(s.state, "exited");
        assert_eq!(s.health, None);
        assert_eq!(
            s.finished_at.unwrap().to_rfc3339(),
            "2026-11-24T11:18:14.821289538+00:00"
        );
        assert!(!s.is_healthy());
        let stale = ContainerStatus {
            health: Some("unhealthy".into()),
            ..s.clone()
        };
        assert_eq!(stale.state_text(), "exited", "no stale health verdict");
        let w = s.volume_warning.unwrap();
        assert!(w.starts_with("ANONYMOUS VOLUME 894a8b353543"), "{w}");
    }

    #[test]
    fn other_volume_names_and_missing_volumes_warn() {
        let mut v = docker::first_object(HEALTHY).unwrap();
        v["Mounts"][0]["Name"] = "old_pgdata".into();
        let s = ContainerStatus::from_inspect(&v);
        assert!(s
            .volume_warning
            .unwrap()
            .contains("old_pgdata, not facturatie_postgres_data"));
        v["Mounts"] = serde_json::json!([]);
        let s = ContainerStatus::from_inspect(&v);
        assert_eq!(s.data_volume, None);
        assert!(s
            .volume_warning
            .unwrap()
            .starts_with("NO VOLUME at /var/lib/postgresql/data"));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ContainerStatus::from_inspect_json("[]").is_err());
        assert!(ContainerStatus::from_inspect_json("not json").is_err());
    }
}
