//! Reads a plain SQL dump as it streams by: counts the rows of every `COPY ... FROM stdin;`
//! block, remembers the current table, and keeps the tail to check pg_dump's completion
//! trailer. Works on arbitrary chunk boundaries; memory is bounded.

/// pg_dump's completion trailer: a plain dump is complete only when this is near its end.
pub const TRAILER: &str = "-- PostgreSQL database dump complete";

/// How many trailing bytes are kept to look for the trailer (pg_dump 15.14+ adds an
/// `\unrestrict` line after it).
const TAIL_KEEP: usize = 4096;
/// Longest statement line start we keep to recognise `COPY` headers (the table name comes
/// first; the column list of a wide table may run far past it).
const LINE_KEEP: usize = 4096;
/// The end of a `COPY` header line, checked on the line's last bytes whatever its length.
const COPY_END: &[u8] = b" FROM stdin;";

/// Per-table row counts and trailer detection over a dump stream.
#[derive(Debug, Default, Clone)]
pub struct DumpScanner {
    tail: Vec<u8>,
    line: Vec<u8>,
    /// The last `COPY_END.len()` bytes of the current line, kept however long the line is.
    line_end: Vec<u8>,
    /// Whether the current line holds an odd number of `"` (over all of it, not only the kept start).
    line_open_quote: bool,
    in_copy: bool,
    /// A `COPY` header cut by a newline inside a quoted identifier (a column named "a\nb"),
    /// waiting for its next line: its start and whether a quote is still open.
    header: Option<(Vec<u8>, bool)>,
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

    /// Appends part of a line, keeping at most `LINE_KEEP` bytes of its start and its last
    /// bytes; outside COPY data it also tracks the quote parity of the whole line.
    fn push_partial(&mut self, part: &[u8]) {
        if self.in_copy {
            // Only `\.` matters in data: a short line start is enough.
            let room = 3usize.saturating_sub(self.line.len());
            self.line.extend_from_slice(&part[..part.len().min(room)]);
            return;
        }
        let room = LINE_KEEP.saturating_sub(self.line.len());
        self.line.extend_from_slice(&part[..part.len().min(room)]);
        let quotes = memchr::memchr_iter(b'"', part).count();
        self.line_open_quote ^= quotes % 2 == 1;
        self.line_end.extend_from_slice(part);
        if self.line_end.len() > COPY_END.len() {
            let cut = self.line_end.len() - COPY_END.len();
            self.line_end.drain(..cut);
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
        let mut line = std::mem::take(&mut self.line);
        if self.in_copy {
            if line == b"\\." {
                self.in_copy = false;
            } else if let Some(t) = self.tables.last_mut() {
                t.1 += 1;
            }
            line.clear();
            self.line = line;
            return;
        }
        let line_open = std::mem::take(&mut self.line_open_quote);
        let (head, open_quote) = match self.header.take() {
            Some((mut head, open)) => {
                if head.len() < LINE_KEEP {
                    head.push(b'\n');
                    let room = LINE_KEEP - head.len();
                    head.extend_from_slice(&line[..line.len().min(room)]);
                }
                (head, open ^ line_open)
            }
            None => (line.clone(), line_open),
        };
        if head.starts_with(b"COPY ") {
            if open_quote {
                self.header = Some((head, true));
            } else if self.line_end == COPY_END {
                if let Some(name) = copy_table_name(&head) {
                    self.tables.push((name, 0));
                    self.in_copy = true;
                }
            }
        }
        self.line_end.clear();
        line.clear();
        self.line = line;
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

/// The qualified name in `COPY <name> (<cols>) FROM stdin;` or `COPY <name> FROM stdin;`,
/// from the start of that line (the end of a long column list may be cut off).
fn copy_table_name(line: &[u8]) -> Option<String> {
    let s = crate::engine::namebytes::decode(line);
    let rest = s.as_str().strip_prefix("COPY ")?;
    // The name ends at the first space outside double quotes.
    let mut in_quotes = false;
    for (i, c) in rest.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ' ' if !in_quotes => return Some(rest[..i].to_string()),
            _ => {}
        }
    }
    None
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
    fn a_copy_header_longer_than_the_kept_start_still_counts() {
        let cols: Vec<String> = (0..1600).map(|i| format!("c{i}")).collect();
        let dump = format!(
            "COPY public.wide (\"a\nb\", {}) FROM stdin;\n1\tx\n\\.\nCOPY public.t (id) FROM stdin;\n7\n\\.\n",
            cols.join(", ")
        );
        assert!(dump.len() > 2 * LINE_KEEP);
        for step in [1, 13, 4096, dump.len()] {
            let mut s = DumpScanner::new();
            for c in dump.as_bytes().chunks(step) {
                s.feed(c);
            }
            let want = vec![("public.wide".to_string(), 1), ("public.t".to_string(), 1)];
            assert_eq!(s.tables, want, "step {step}");
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
