//! The log pane's model: a bounded buffer of lines, follow mode, scroll position and search.

use std::collections::VecDeque;

/// Lines of the server's log as the pane sees them.
#[derive(Debug, Clone)]
pub struct LogView {
    /// The lines, oldest first; never more than `capacity`.
    pub lines: VecDeque<String>,
    /// Maximum lines kept.
    pub capacity: usize,
    /// Stick to the newest line.
    pub follow: bool,
    /// Index of the line at the bottom of the pane when not following.
    pub bottom: usize,
    /// The active search, when any.
    pub query: Option<String>,
    /// Where the lines come from.
    pub source: String,
    /// The source's latest notice ("no log source: ...").
    pub notice: Option<String>,
    /// Long lines wrap onto more rows (`w`); else each line is one row ending in "…".
    pub wrap: bool,
    /// Lines matching the query, kept current by [`LogView::push`] and [`LogView::set_query`].
    matches: usize,
}

impl LogView {
    /// An empty view keeping at most `capacity` lines.
    pub fn new(capacity: usize) -> LogView {
        LogView {
            lines: VecDeque::new(),
            capacity: capacity.max(1),
            follow: true,
            bottom: 0,
            query: None,
            source: String::new(),
            notice: None,
            wrap: false,
            matches: 0,
        }
    }

    /// Appends a line, dropping the oldest beyond capacity.
    pub fn push(&mut self, line: String) {
        if self.lines.len() == self.capacity {
            if let Some(old) = self.lines.pop_front() {
                if self.is_match(&old) {
                    self.matches -= 1;
                }
            }
            self.bottom = self.bottom.saturating_sub(1);
        }
        if self.is_match(&line) {
            self.matches += 1;
        }
        self.lines.push_back(line);
    }

    /// Index of the line shown at the bottom of the pane.
    pub fn bottom_line(&self) -> usize {
        let last = self.lines.len().saturating_sub(1);
        if self.follow {
            last
        } else {
            self.bottom.min(last)
        }
    }

    /// Scrolls up (negative) or down by `n` lines; scrolling up leaves follow mode,
    /// reaching the end re-enters it.
    pub fn scroll(&mut self, n: isize) {
        let last = self.lines.len().saturating_sub(1);
        let cur = self.bottom_line() as isize;
        let next = (cur + n).clamp(0, last as isize) as usize;
        self.bottom = next;
        self.follow = next >= last;
    }

    /// Jumps to the oldest line.
    pub fn top(&mut self) {
        self.bottom = 0;
        self.follow = self.lines.len() <= 1;
    }

    /// Jumps to the newest line and follows.
    pub fn end(&mut self) {
        self.follow = true;
    }

    /// Which match the pane shows at its bottom, counted from the oldest ("3" of "3/4"),
    /// when the bottom line matches the query.
    pub fn match_position(&self) -> Option<usize> {
        let bottom = self.bottom_line();
        let line = self.lines.get(bottom)?;
        if !self.is_match(line) {
            return None;
        }
        Some(
            self.lines
                .range(..=bottom)
                .filter(|l| self.is_match(l))
                .count(),
        )
    }

    /// Toggles follow mode.
    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.bottom = self.bottom_line();
            self.follow = false;
        } else {
            self.follow = true;
        }
    }

    /// Moves to the next (forward) or previous match of the query; false when none.
    pub fn find(&mut self, forward: bool) -> bool {
        let Some(q) = self.query.as_ref().map(|q| q.to_lowercase()) else {
            return false;
        };
        if q.is_empty() || self.lines.is_empty() {
            return false;
        }
        let n = self.lines.len();
        let cur = self.bottom_line();
        for step in 1..=n {
            let i = if forward {
                (cur + step) % n
            } else {
                (cur + n - step % n) % n
            };
            if self.lines[i].to_lowercase().contains(&q) {
                self.bottom = i;
                self.follow = false;
                return true;
            }
        }
        false
    }

    /// Sets (or clears, with None or "") the search and counts its matches.
    pub fn set_query(&mut self, query: Option<String>) {
        self.query = query.filter(|q| !q.is_empty());
        self.matches = 0;
        self.matches = self.lines.iter().filter(|l| self.is_match(l)).count();
    }

    fn is_match(&self, line: &str) -> bool {
        match &self.query {
            Some(q) => line.to_lowercase().contains(&q.to_lowercase()),
            None => false,
        }
    }

    /// Number of lines matching the query (for the title).
    pub fn match_count(&self) -> usize {
        self.matches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(n: usize, cap: usize) -> LogView {
        let mut v = LogView::new(cap);
        for i in 0..n {
            v.push(format!("line {i}"));
        }
        v
    }

    #[test]
    fn bounded_and_follows() {
        let v = view(25, 10);
        assert_eq!(v.lines.len(), 10);
        assert_eq!(v.lines[0], "line 15");
        assert_eq!(v.bottom_line(), 9);
    }

    #[test]
    fn scroll_leaves_and_reenters_follow() {
        let mut v = view(20, 100);
        v.scroll(-5);
        assert!(!v.follow);
        assert_eq!(v.bottom_line(), 14);
        v.push("new".into());
        assert_eq!(v.bottom_line(), 14);
        v.scroll(100);
        assert!(v.follow);
    }

    #[test]
    fn search_wraps_both_ways() {
        let mut v = view(20, 100);
        v.set_query(Some("LINE 1".into()));
        assert_eq!(v.match_count(), 11);
        v.top();
        assert!(v.find(true));
        assert_eq!(v.bottom_line(), 1);
        assert!(v.find(true));
        assert_eq!(v.bottom_line(), 10);
        assert!(v.find(false));
        assert_eq!(v.bottom_line(), 1);
        assert!(v.find(false));
        assert_eq!(v.bottom_line(), 19);
        v.set_query(Some("absent".into()));
        assert!(!v.find(true));
    }
}
