//! The console's global keys, remappable in pgkeep.toml for non-US layouts and tmux clashes:
//!
//! ```toml
//! [keys]
//! backup = "B"
//! quit = "x"
//! ```
//!
//! Each action takes one character. Movement keys (arrows, j/k, g/G, Enter, Tab, Esc) and the
//! schedule pane's keys stay as they are; a key can do only one thing.

use std::collections::BTreeMap;

/// Something a global key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Take a backup now.
    Backup,
    /// Restore the selected backup.
    Restore,
    /// Restore the database to a moment (point-in-time restore).
    RestoreMoment,
    /// Verify the selected backup.
    Verify,
    /// Delete the selected backup.
    Delete,
    /// Cancel the running job.
    Cancel,
    /// Open the job history.
    Jobs,
    /// Search the log.
    Search,
    /// Next match of the log search.
    NextMatch,
    /// Previous match of the log search.
    PrevMatch,
    /// Follow the log on / off.
    Follow,
    /// Wrap long log lines on / off.
    Wrap,
    /// The help overlay.
    Help,
    /// Quit.
    Quit,
}

/// Every action: its name in `[keys]`, its default key and what it does (for the help).
pub const ACTIONS: &[(Action, &str, char, &str)] = &[
    (Action::Backup, "backup", 'b', "take a backup now"),
    (
        Action::Restore,
        "restore",
        'r',
        "restore the selected backup (type the name)",
    ),
    (
        Action::RestoreMoment,
        "restore_time",
        't',
        "restore the database to a moment (type a time)",
    ),
    (
        Action::Verify,
        "verify",
        'v',
        "verify the selected backup (test restore)",
    ),
    (
        Action::Delete,
        "delete",
        'D',
        "delete the selected backup (asks first)",
    ),
    (
        Action::Cancel,
        "cancel",
        'c',
        "cancel the running job (asks first)",
    ),
    (Action::Jobs, "jobs", 'J', "job history with each job's log"),
    (Action::Search, "search", '/', "search the log"),
    (
        Action::NextMatch,
        "next_match",
        'n',
        "next match of the search",
    ),
    (
        Action::PrevMatch,
        "previous_match",
        'N',
        "previous match of the search",
    ),
    (Action::Follow, "follow", 'f', "follow the log on / off"),
    (Action::Wrap, "wrap", 'w', "wrap long log lines on / off"),
    (Action::Help, "help", '?', "this help"),
    (Action::Quit, "quit", 'q', "quit (asks while a job runs)"),
];

/// Keys the panes use for movement and the schedule; no action may take them.
pub const RESERVED: &str = "jkgGepiu123";

/// The keys in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMap {
    keys: Vec<(Action, char)>,
}

impl Default for KeyMap {
    fn default() -> Self {
        KeyMap {
            keys: ACTIONS.iter().map(|(a, _, k, _)| (*a, *k)).collect(),
        }
    }
}

impl KeyMap {
    /// The defaults with the `[keys]` table of pgkeep.toml applied; an unknown action, a key
    /// that is not one character, a reserved key or a key given to two actions is an error
    /// phrased for the config file.
    pub fn from_config(table: &BTreeMap<String, String>) -> Result<KeyMap, String> {
        let mut map = KeyMap::default();
        for (name, key) in table {
            let Some((action, ..)) = ACTIONS.iter().find(|(_, n, ..)| n == name) else {
                let names: Vec<&str> = ACTIONS.iter().map(|(_, n, ..)| *n).collect();
                return Err(format!(
                    "[keys] {name}: no such action; the actions are {}",
                    names.join(", ")
                ));
            };
            let mut chars = key.chars();
            let (Some(c), None) = (chars.next(), chars.next()) else {
                return Err(format!(
                    "[keys] {name} = \"{key}\": give one character, e.g. {name} = \"x\""
                ));
            };
            if RESERVED.contains(c) || c.is_whitespace() || c.is_control() {
                return Err(format!(
                    "[keys] {name} = \"{key}\": that key moves or edits in a pane ({RESERVED}); choose another"
                ));
            }
            if let Some(slot) = map.keys.iter_mut().find(|(a, _)| a == action) {
                slot.1 = c;
            }
        }
        for (i, (a, k)) in map.keys.iter().enumerate() {
            if let Some((b, _)) = map.keys[i + 1..].iter().find(|(_, k2)| k2 == k) {
                return Err(format!(
                    "[keys]: \"{k}\" is given to both {} and {}; give each its own key",
                    name_of(*a),
                    name_of(*b)
                ));
            }
        }
        Ok(map)
    }

    /// The action of key `c`, if any.
    pub fn action(&self, c: char) -> Option<Action> {
        self.keys.iter().find(|(_, k)| *k == c).map(|(a, _)| *a)
    }

    /// The key of `action`.
    pub fn key(&self, action: Action) -> char {
        self.keys
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, k)| *k)
            .unwrap_or(' ')
    }

    /// The key of `action` as shown in hints: "b", "?".
    pub fn label(&self, action: Action) -> String {
        self.key(action).to_string()
    }
}

fn name_of(a: Action) -> &'static str {
    ACTIONS
        .iter()
        .find(|(x, ..)| *x == a)
        .map(|(_, n, ..)| *n)
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn remaps_and_refuses_clashes() {
        let m = KeyMap::from_config(&table(&[("backup", "B"), ("quit", "x")])).unwrap();
        assert_eq!(m.action('B'), Some(Action::Backup));
        assert_eq!(m.action('b'), None);
        assert_eq!(m.action('x'), Some(Action::Quit));
        assert_eq!(m.key(Action::Verify), 'v');
        let e = KeyMap::from_config(&table(&[("backup", "v")])).unwrap_err();
        assert!(e.contains("both backup and verify"), "{e}");
        let e = KeyMap::from_config(&table(&[("backup", "j")])).unwrap_err();
        assert!(e.contains("moves or edits"), "{e}");
        let e = KeyMap::from_config(&table(&[("bakup", "x")])).unwrap_err();
        assert!(e.contains("no such action"), "{e}");
        let e = KeyMap::from_config(&table(&[("backup", "xy")])).unwrap_err();
        assert!(e.contains("one character"), "{e}");
    }
}
