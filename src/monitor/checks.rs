//! The result of one troubleshooting check (`pgkeep doctor`, the status pane).

use serde::Serialize;

/// One check and, when it fails, the exact command that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked ("backup dir writable").
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// The command to run to fix it, when it failed.
    pub fix: Option<String>,
}
