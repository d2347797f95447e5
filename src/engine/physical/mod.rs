//! Physical recovery units: base backups, the WAL archive (one folder per cluster), WAL
//! continuity, the recoverable window, and point-in-time restore through a scratch server.

pub mod abandoned;
pub mod archive_cmd;
pub mod base_catalog;
pub mod base_leftovers;
pub mod base_workspace;
pub mod basebackup;
pub mod cluster;
pub mod continuity;
pub mod livewal;
pub mod pitr;
pub mod pitr_checks;
pub mod pitr_compose;
pub mod pitr_compose_target;
pub mod prune;
pub mod recover;
pub mod recover_compose;
pub mod recovery_log;
pub mod scratch_server;
pub mod target_time;
pub mod walseg;
pub mod window;
