//! The UI-free engine: backup, restore, verify, catalog, retention, progress. Nothing here
//! imports ratatui or crossterm; the CLI and the console both drive these functions.

pub mod backup;
pub mod backupinfo;
pub mod catalog;
pub mod dbprops;
pub mod dumpscan;
pub mod dumpstream;
pub mod fsutil;
pub mod load;
pub mod loader;
pub mod lock;
pub mod manifest;
pub mod parallel;
pub mod pgtools;
pub mod precheck;
pub mod progress;
pub mod restore;
pub mod retention;
pub mod scratch;
pub mod swap;
pub mod verify;
