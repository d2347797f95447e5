//! Colours: the 16 basic ones only, and none at all when `NO_COLOR` is set. Meaning never
//! rests on colour alone: failures also say so in words.

use ratatui::style::{Color, Modifier, Style};

use crate::monitor::status::Level;

/// The console's palette.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// False when `NO_COLOR` is set: only bold/reverse are used.
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` environment variable is set and non-empty.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::default()
    }

    /// Something healthy.
    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    /// Something to look at soon.
    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow)
    }

    /// A failure: red (bold without colour).
    pub fn fail(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::BOLD)
        }
    }

    /// Secondary text.
    pub fn dim(&self) -> Style {
        self.fg(Color::DarkGray)
    }

    /// Labels in front of values.
    pub fn label(&self) -> Style {
        self.fg(Color::Cyan)
    }

    /// The style for a [`Level`].
    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Ok => self.ok(),
            Level::Warn => self.warn(),
            Level::Fail => self.fail(),
        }
    }

    /// A pane's border: bright when focused.
    pub fn border(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::default()
                .fg(Color::LightCyan)
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            (false, _) => self.dim(),
        }
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED)
    }

    /// A search match in the log.
    pub fn highlight(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Yellow)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    /// A key in the hint bar.
    pub fn key(&self) -> Style {
        self.fg(Color::LightCyan).add_modifier(Modifier::BOLD)
    }

    /// A log line by severity: ERROR/FATAL/PANIC red, WARNING yellow; lines pgkeep's own
    /// jobs caused (labelled by [`super::own_noise`]) dim.
    pub fn log_line(&self, line: &str) -> Style {
        if line.starts_with(super::own_noise::LABEL) {
            self.dim()
        } else if ["ERROR:", "FATAL:", "PANIC:"]
            .iter()
            .any(|k| line.contains(k))
        {
            self.fail()
        } else if line.contains("WARNING:") {
            self.warn()
        } else {
            self.text()
        }
    }

    /// Whether a log line is an alarm (ERROR/FATAL/PANIC/WARNING, not pgkeep's own).
    pub fn is_alarm(line: &str) -> bool {
        !line.starts_with(super::own_noise::LABEL)
            && ["ERROR:", "FATAL:", "PANIC:", "WARNING:"]
                .iter()
                .any(|k| line.contains(k))
    }
}
