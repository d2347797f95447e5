//! The schedule editor's state: the cron expression being typed, its cursor, and a preview
//! (the expression in words and the next runs, or the parser's error) recomputed on every
//! change, and the keys of the schedule pane. Pure: the clock comes from the console state,
//! nothing is read or written here; saving and crontab changes are effects.

use chrono::{DateTime, Local, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::msg::{Dangerous, Effect, Msg};
use super::state::{Dialog, State};
use super::update::update;

use crate::schedule::{cron::CronExpr, describe, next, SUMMARY_RUNS};

/// The presets: (name, expression).
pub const PRESETS: [(&str, &str); 3] = [
    ("daily 02:00", "0 2 * * *"),
    ("every 6 hours", "0 */6 * * *"),
    ("weekly Sunday 03:00", "0 3 * * 0"),
];

/// What the typed expression means.
#[derive(Debug, Clone, PartialEq)]
pub enum Preview {
    /// It parses: in words, and the next runs in local time (empty when it never fires).
    Valid {
        /// "every day at 02:00, Europe/Amsterdam".
        description: String,
        /// The next runs.
        next_runs: Vec<DateTime<Local>>,
    },
    /// It does not: the parser's one-line message.
    Invalid(String),
}

/// An edit in progress.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleEditor {
    /// The expression before editing (Esc goes back to it).
    pub original: String,
    /// What is typed.
    pub input: String,
    /// Cursor position, in characters.
    pub cursor: usize,
    /// The time zone the expression is meant in (IANA name; empty: the system's).
    pub timezone: String,
    /// The preset last chosen with Tab, if any.
    pub preset: Option<usize>,
    /// The preview of `input`.
    pub preview: Preview,
}

impl ScheduleEditor {
    /// Starts editing `expression`, meant in `timezone`, previewed from `now`.
    pub fn new(expression: &str, timezone: &str, now: DateTime<Utc>) -> ScheduleEditor {
        let mut e = ScheduleEditor {
            original: expression.to_string(),
            input: expression.to_string(),
            cursor: expression.chars().count(),
            timezone: timezone.to_string(),
            preset: None,
            preview: Preview::Invalid(String::new()),
        };
        e.refresh(now);
        e
    }

    /// True when the typed expression parses and fires.
    pub fn is_valid(&self) -> bool {
        matches!(&self.preview, Preview::Valid { next_runs, .. } if !next_runs.is_empty())
    }

    /// Why the expression cannot be accepted, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match &self.preview {
            Preview::Invalid(e) => Some(e.clone()),
            Preview::Valid { next_runs, .. } if next_runs.is_empty() => Some(format!(
                "`{}` never runs (no such date): check day and month",
                self.input.trim()
            )),
            Preview::Valid { .. } => None,
        }
    }

    /// Inserts a character at the cursor.
    pub fn insert(&mut self, c: char, now: DateTime<Utc>) {
        let at = self.byte_at(self.cursor);
        self.input.insert(at, c);
        self.cursor += 1;
        self.refresh(now);
    }

    /// Deletes the character before the cursor (Backspace).
    pub fn backspace(&mut self, now: DateTime<Utc>) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        let at = self.byte_at(self.cursor);
        self.input.remove(at);
        self.refresh(now);
    }

    /// Deletes the character under the cursor (Delete).
    pub fn delete(&mut self, now: DateTime<Utc>) {
        if self.cursor < self.input.chars().count() {
            let at = self.byte_at(self.cursor);
            self.input.remove(at);
            self.refresh(now);
        }
    }

    /// Moves the cursor by `delta` characters, within the text.
    pub fn move_cursor(&mut self, delta: isize) {
        let len = self.input.chars().count() as isize;
        self.cursor = (self.cursor as isize + delta).clamp(0, len) as usize;
    }

    /// Moves the cursor to the start (`false`) or the end (`true`).
    pub fn cursor_to(&mut self, end: bool) {
        self.cursor = if end { self.input.chars().count() } else { 0 };
    }

    /// Replaces the text with the next preset (the first when none was chosen yet).
    pub fn next_preset(&mut self, now: DateTime<Utc>) {
        let i = self.preset.map(|i| (i + 1) % PRESETS.len()).unwrap_or(0);
        self.set_preset(i, now);
    }

    /// Replaces the text with preset `i`.
    pub fn set_preset(&mut self, i: usize, now: DateTime<Utc>) {
        let i = i % PRESETS.len();
        self.preset = Some(i);
        self.input = PRESETS[i].1.to_string();
        self.cursor_to(true);
        self.refresh(now);
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.input
            .char_indices()
            .nth(chars)
            .map(|(b, _)| b)
            .unwrap_or(self.input.len())
    }

    fn refresh(&mut self, now: DateTime<Utc>) {
        self.preview = preview(&self.input, &self.timezone, now);
    }
}

/// The preview of `text` meant in `timezone` (empty: the system's), from `now`.
pub fn preview(text: &str, timezone: &str, now: DateTime<Utc>) -> Preview {
    let zone = (!timezone.is_empty()).then_some(timezone);
    let tz = match next::configured_zone(zone) {
        Ok(tz) => tz,
        Err(e) => return Preview::Invalid(e),
    };
    match CronExpr::parse(text) {
        Ok(expr) => Preview::Valid {
            description: format!("{}, {}", describe::describe(&expr), tz.name()),
            next_runs: next::next_runs(&expr, tz, now, SUMMARY_RUNS)
                .iter()
                .map(|t| t.with_timezone(&Local))
                .collect(),
        },
        Err(e) => Preview::Invalid(e.to_string()),
    }
}

/// Keys while editing: text, cursor, Tab (next preset), Esc (cancel), Enter (accept a valid
/// expression: produces [`Effect::SaveSchedule`]; an invalid one is refused).
pub fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    let now = state.now;
    let Some(ed) = state.editor.as_mut() else {
        return Vec::new();
    };
    match key.code {
        KeyCode::Esc => {
            state.editor = None;
            state.flash = Some("edit cancelled: the schedule is unchanged".into());
        }
        KeyCode::Enter => match ed.problem() {
            Some(p) => state.flash = Some(format!("not saved: {p}")),
            None => {
                let cron = ed.input.split_whitespace().collect::<Vec<_>>().join(" ");
                let unchanged = cron == ed.original.trim();
                state.editor = None;
                if unchanged {
                    state.flash = Some("the schedule is unchanged".into());
                } else {
                    state.flash = Some(format!("saving `{cron}`…"));
                    return vec![Effect::SaveSchedule { cron }];
                }
            }
        },
        KeyCode::Backspace => ed.backspace(now),
        KeyCode::Delete => ed.delete(now),
        KeyCode::Left => ed.move_cursor(-1),
        KeyCode::Right => ed.move_cursor(1),
        KeyCode::Home => ed.cursor_to(false),
        KeyCode::End => ed.cursor_to(true),
        KeyCode::Tab => ed.next_preset(now),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => ed.insert(c, now),
        _ => state.dirty = false,
    }
    Vec::new()
}

/// Keys of the focused schedule pane (not editing): `e` edit, `1`–`3` or `p` a preset (opens
/// the editor with it), `i` install / `u` remove the crontab block (both ask first).
/// Returns false for keys it does not handle.
pub fn pane_key(state: &mut State, key: KeyEvent) -> bool {
    let (expression, timezone) = match &state.schedule {
        Some(s) => (s.expression.clone(), s.timezone.clone()),
        None => (String::new(), String::new()),
    };
    let start = |state: &mut State| {
        if state.schedule.is_none() {
            state.flash = Some("the schedule is still being read: try again in a moment".into());
            return None;
        }
        state.flash = None;
        Some(ScheduleEditor::new(&expression, &timezone, state.now))
    };
    match key.code {
        KeyCode::Char('e') | KeyCode::Enter => state.editor = start(state),
        KeyCode::Char(c @ '1'..='3') => {
            state.editor = start(state).map(|mut e| {
                e.set_preset(c as usize - '1' as usize, state.now);
                e
            })
        }
        KeyCode::Char('p') => {
            state.editor = start(state).map(|mut e| {
                e.next_preset(state.now);
                e
            })
        }
        KeyCode::Char('i') if state.schedule.is_some() => {
            update(
                state,
                Msg::Request(Dangerous::InstallSchedule { expression }),
            );
        }
        KeyCode::Char('u') => {
            update(state, Msg::Request(Dangerous::RemoveSchedule));
        }
        _ => return false,
    }
    true
}

/// The config file was written (Ok: the expression) or not (Err: an error dialog).
pub fn saved(state: &mut State, result: Result<String, String>) {
    match result {
        Ok(cron) => {
            state.config.schedule.cron = cron.clone();
            state.refresh_health();
            state.flash = Some(format!(
                "schedule `{cron}` saved to the config; press i to install it in the crontab"
            ));
        }
        Err(message) => {
            state.dialog = Some(Dialog::Error {
                title: "schedule not saved".into(),
                message,
            })
        }
    }
}

/// The crontab was changed (Ok: what happened, flashed) or not (Err: an error dialog).
pub fn crontab_changed(state: &mut State, result: Result<String, String>) {
    match result {
        Ok(what) => state.flash = Some(what),
        Err(message) => {
            state.dialog = Some(Dialog::Error {
                title: "crontab not changed".into(),
                message,
            })
        }
    }
}
