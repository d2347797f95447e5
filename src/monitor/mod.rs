//! Server and container status, troubleshooting checks, log sources. UI-free: the console's
//! panes and the `status`, `doctor` and `logs` subcommands read these.

pub mod checks;
pub mod container;
pub mod cron_health;
pub mod docker_logs;
pub mod doctor;
pub mod doctor_checks;
pub mod file_log;
pub mod logs;
pub mod metrics;
pub mod pitr_check;
pub mod pitr_timeline;
pub mod recovery_window;
pub mod status;
pub mod vanished;
pub mod wal_perms;
