//! The database container's state from `docker inspect`. (The compose issue fills this in.)

use chrono::{DateTime, Utc};
use serde::Serialize;

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
    /// How often docker restarted it.
    pub restart_count: u64,
    /// Image reference.
    pub image: String,
    /// The volume mounted at the data directory.
    pub data_volume: Option<String>,
    /// A loud warning about the data volume (anonymous, or not facturatie_postgres_data).
    pub volume_warning: Option<String>,
}
