//! Reads a plain SQL dump as it streams by: counts the rows of every `COPY ... FROM stdin;`
//! block, remembers the current table, and keeps the tail to check pg_dump's completion
//! trailer. Works on arbitrary chunk boundaries; memory is bounded.

/// pg_dump's completion trailer: a plain dump is complete only when this is near its end.
pub const TRAILER: &str = "-- PostgreSQL database dump complete";

/// How many trailing bytes are kept to look for the trailer (pg_dump 15.14+ adds an
/// `\unrestrict` line after it).
const TAIL_KEEP: usize = 4096;
/// Longest statement line start we keep to recognise `COPY` headers.
const LINE_KEEP: usize = 4096;

/// Per-table row counts and trailer detection over a dump stream.
#[derive(Debug, Default, Clone)]
pub struct DumpScanner {
    tail: Vec<u8>,
    line: Vec<u8>,
    line_truncated: bool,
    in_copy: bool,
    /// A `COPY` header cut by a newline inside a quoted identifier (a column named "a\nb"),
    /// waiting for its next line.
    header: Option<Vec<u8>>,
    /// Tables in dump order with their row counts.
    pub tables: Vec<(String, u64)>,
    /// Total bytes seen.
    pub bytes: u64,
}

impl DumpScanner {
    /// A fresh scanner.
    pub fn new() -> DumpScanner {
        DumpScanner::default()
    }

    /// Feeds the next chunk of the dump.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.bytes += chunk.len() as u64;
        self.keep_tail(chunk);
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.push_partial(&rest[..i]);
            self.end_line();
            rest = &rest[i + 1..];
        }
        self.push_partial(rest);
    }

    /// Appends part of a line, keeping at most `LINE_KEEP` bytes of it.
    fn push_partial(&mut self, part: &[u8]) {
        let room = LINE_KEEP.saturating_sub(self.line.len());
        if part.len() > room {
            self.line.extend_from_slice(&part[..room]);
            self.line_truncated = true;
        } else {
            self.line.extend_from_slice(part);
        }
    }

    fn keep_tail(&mut self, chunk: &[u8]) {
        if chunk.len() >= TAIL_KEEP {
            self.tail.clear();
            self.tail
                .extend_from_slice(&chunk[chunk.len() - TAIL_KEEP..]);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > TAIL_KEEP {
                let cut = self.tail.len() - TAIL_KEEP;
                self.tail.drain(..cut);
            }
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let truncated = std::mem::replace(&mut self.line_truncated, false);
        if self.in_copy {
            if line == b"\\." {
                self.in_copy = false;
            } else if let Some(t) = self.tables.last_mut() {
                t.1 += 1;
            }
            self.line = line;
            self.line.clear();
            return;
        }
        let line = match self.header.take() {
            Some(mut head) if !truncated && head.len() + line.len() < LINE_KEEP => {
                head.push(b'\n');
                head.extend_from_slice(&line);
                head
            }
            _ => line,
        };
        let open_quote = line.iter().filter(|&&b| b == b'"').count() % 2 == 1;
        if !truncated && line.starts_with(b"COPY ") && open_quote {
            self.header = Some(line);
            return;
        }
        if !truncated && line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;") {
            if let Some(name) = copy_table_name(&line) {
                self.tables.push((name, 0));
                self.in_copy = true;
            }
        }
        self.line = line;
        self.line.clear();
    }

    /// The table whose rows are streaming now, if any.
    pub fn current_table(&self) -> Option<&str> {
        if self.in_copy {
            self.tables.last().map(|t| t.0.as_str())
        } else {
            None
        }
    }

    /// Rows counted so far in all tables.
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|t| t.1).sum()
    }

    /// True when the stream seen so far ends with pg_dump's completion trailer.
    pub fn complete(&self) -> bool {
        let text = String::from_utf8_lossy(&self.tail);
        match text.rfind(TRAILER) {
            // Only comments, blank lines and psql meta-commands (\unrestrict) may follow it.
            Some(i) => text[i + TRAILER.len()..]
                .lines()
                .all(|l| l.trim().is_empty() || l.starts_with("--") || l.starts_with('\\')),
            None => false,
        }
    }
}

/// The qualified name in `COPY <name> (<cols>) FROM stdin;` or `COPY <name> FROM stdin;`.
fn copy_table_name(line: &[u8]) -> Option<String> {
    let s = crate::engine::namebytes::decode(line);
    let s = s.as_str();
    let rest = s.strip_prefix("COPY ")?.strip_suffix(" FROM stdin;")?;
    // The name ends at the first space outside double quotes.
    let mut in_quotes = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' if !in_quotes => return Some(rest[..i].to_string()),
            _ => {}
        }
    }
    Some(rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "SET x = 1;\nCOPY public.\"Invoice Lines\" (id, \"Note\") FROM stdin;\n1\ta b\n2\t\\N\n\\.\n\nCOPY s.t FROM stdin;\n\\.\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";

    #[test]
    fn counts_rows_per_table_on_any_boundary() {
        for step in [1, 2, 3, 7, 64, DUMP.len()] {
            let mut s = DumpScanner::new();
            for c in DUMP.as_bytes().chunks(step) {
                s.feed(c);
            }
            assert_eq!(
                s.tables,
                vec![
                    ("public.\"Invoice Lines\"".to_string(), 2),
                    ("s.t".to_string(), 0)
                ],
                "step {step}"
            );
            assert!(s.complete(), "step {step}");
            assert_eq!(s.bytes, DUMP.len() as u64);
        }
    }

    #[test]
    fn a_newline_in_a_column_name_does_not_hide_the_table() {
        let dump = "COPY public.t (id, \"a\nb\") FROM stdin;\n1\tx\n2\ty\n\\.\n";
        for step in [1, 5, dump.len()] {
            let mut s = DumpScanner::new();
            for c in dump.as_bytes().chunks(step) {
                s.feed(c);
            }
            assert_eq!(s.tables, vec![("public.t".to_string(), 2)], "step {step}");
        }
    }

    #[test]
    fn truncated_dump_is_not_complete() {
        let mut s = DumpScanner::new();
        s.feed(&DUMP.as_bytes()[..DUMP.find("2\t").unwrap()]);
        assert!(!s.complete());
        assert_eq!(s.current_table(), Some("public.\"Invoice Lines\""));
    }

    #[test]
    fn data_after_trailer_is_not_complete() {
        let mut s = DumpScanner::new();
        s.feed(format!("{TRAILER}\n--\nDROP TABLE x;\n").as_bytes());
        assert!(!s.complete());
    }
}
