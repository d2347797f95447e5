//! The UI-free engine: backup, restore, verify, catalog, retention, progress. Nothing here
//! imports ratatui or crossterm; the CLI and the console both drive these functions.

pub mod backup;
pub mod backupinfo;
pub mod catalog;
pub mod dbprops;
pub mod dumpscan;
pub mod dumpstream;
pub mod filename;
pub mod fsutil;
pub mod globals;
pub mod globals_apply;
pub mod globals_file;
pub mod globals_sql;
pub mod leftovers;
pub mod load;
pub mod loader;
pub mod local_server;
pub mod lock;
pub mod lockwait;
pub mod manifest;
pub mod namebytes;
pub mod parallel;
pub mod pgtools;
pub mod physical;
pub mod precheck;
pub mod progress;
pub mod restore;
pub mod retention;
pub mod scratch;
pub mod subscriptions;
pub mod swap;
pub mod tablespace_filter;
pub mod verify;
