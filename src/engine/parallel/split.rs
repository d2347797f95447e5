//! Splits a plain pg_dump stream into what psql would see: SQL statements (with dollar
//! quoting and tags, `'…'` and `E'…'` strings, `"…"` identifiers, `--` and nested `/* */`
//! comments, parentheses and `BEGIN ATOMIC … END` bodies respected, as psql's lexer does),
//! psql meta-commands on their own line, `COPY … FROM stdin;` data blocks up to `\.`, and
//! pg_dump's `-- Name: …; Type: …` entry headers. Works on arbitrary chunk boundaries;
//! memory is bounded by the longest statement (COPY data is passed through, never kept).

/// What the splitter found, in stream order.
#[derive(Debug, PartialEq)]
pub enum Piece<'a> {
    /// A pg_dump entry header (`-- Name: x; Type: INDEX; Schema: s; Owner: o`).
    Header(EntryHeader),
    /// One complete SQL statement, with its `;`.
    Statement(&'a str),
    /// A `COPY … FROM stdin;` statement: data pieces and [`Piece::CopyEnd`] follow.
    CopyStart(&'a str),
    /// Rows of the current COPY block (whole or partial lines; never the `\.` line).
    CopyData(&'a [u8]),
    /// The `\.` line that ends a COPY block.
    CopyEnd,
    /// A psql meta-command line on its own (`\connect db`, `\restrict key`).
    Meta(&'a str),
    /// Something the splitter cannot hand on faithfully (a reason for the serial loader).
    Unsupported(String),
}

/// The fields of a pg_dump entry header comment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryHeader {
    /// The entry's tag (`accounts accounts_pkey` for a constraint).
    pub name: String,
    /// The entry's type (`TABLE`, `TABLE DATA`, `INDEX`, `FK CONSTRAINT`, `ACL`, …).
    pub kind: String,
    /// The schema, `-` when none.
    pub schema: String,
}

impl EntryHeader {
    /// Parses the text of a `--` comment line (without the `--`), if it is an entry header.
    pub fn parse(comment: &str) -> Option<EntryHeader> {
        let s = comment.trim_start();
        let s = s.strip_prefix("Data for ").unwrap_or(s);
        let s = s.strip_prefix("Name: ")?;
        let t = s.find("; Type: ")?;
        let name = &s[..t];
        let rest = &s[t + "; Type: ".len()..];
        let (kind, rest) = rest.split_once("; ").unwrap_or((rest, ""));
        let schema = rest
            .strip_prefix("Schema: ")
            .map(|r| r.split_once("; ").map_or(r, |x| x.0))
            .unwrap_or("-");
        Some(EntryHeader {
            name: name.to_string(),
            kind: kind.trim().to_string(),
            schema: schema.trim().to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Normal,
    LineComment,
    BlockComment(u32),
    Single {
        escapes: bool,
        backslash: bool,
    },
    /// After the `'` that ends a string or starts a doubled `''`.
    SingleEnd {
        escapes: bool,
    },
    Double,
    /// After a `$` that may open a dollar quote; the tag so far.
    DollarOpen(Vec<u8>),
    /// Inside `$tag$ … $tag$`; `close` counts bytes of `tag$` matched after a `$`.
    Dollar {
        tag: Vec<u8>,
        close: Option<usize>,
    },
    Meta,
    /// After a COPY statement, up to the end of its line.
    CopyLineEnd,
    Copy,
}

/// The streaming splitter.
#[derive(Debug)]
pub struct Splitter {
    state: State,
    stmt: Vec<u8>,
    comment: Vec<u8>,
    word: Vec<u8>,
    words: Vec<u8>,
    word_count: usize,
    paren: i32,
    begin: i32,
    at_line_start: bool,
    held: Vec<u8>,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            state: State::Normal,
            stmt: Vec::new(),
            comment: Vec::new(),
            word: Vec::new(),
            words: Vec::new(),
            word_count: 0,
            paren: 0,
            begin: 0,
            at_line_start: true,
            held: Vec::new(),
        }
    }
}

fn ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

fn ident_char(b: u8) -> bool {
    ident_start(b) || b.is_ascii_digit() || b == b'$'
}

/// True for `COPY … FROM stdin;` (what psql answers with its copy-in mode).
fn is_copy_from_stdin(stmt: &str) -> bool {
    let s = stmt.trim_end().trim_end_matches(';').trim_end().as_bytes();
    s.len() > 15
        && s[..5].eq_ignore_ascii_case(b"copy ")
        && s[s.len() - 10..].eq_ignore_ascii_case(b"from stdin")
        && s[s.len() - 11].is_ascii_whitespace()
}

impl Splitter {
    /// A splitter at the start of a stream.
    pub fn new() -> Splitter {
        Splitter::default()
    }

    /// Feeds the next chunk; `out` gets every piece found.
    pub fn feed<E>(
        &mut self,
        chunk: &[u8],
        out: &mut dyn FnMut(Piece) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.held.is_empty() {
            let mut joined = std::mem::take(&mut self.held);
            joined.extend_from_slice(chunk);
            return self.feed_inner(&joined, out);
        }
        self.feed_inner(chunk, out)
    }

    /// Ends the stream: a statement without its `;` is still handed on (as psql would).
    pub fn finish<E>(&mut self, out: &mut dyn FnMut(Piece) -> Result<(), E>) -> Result<(), E> {
        let held = std::mem::take(&mut self.held);
        match self.state {
            State::Copy => {
                if held.as_slice() == b"\\." || held.as_slice() == b"\\.\r" {
                    out(Piece::CopyEnd)?;
                } else {
                    if !held.is_empty() {
                        out(Piece::CopyData(&held))?;
                    }
                    out(Piece::Unsupported(
                        "a COPY block does not end with \\.".into(),
                    ))?;
                }
            }
            State::Meta => self.end_meta(out)?,
            _ => {
                if !self.stmt.iter().all(u8::is_ascii_whitespace) {
                    self.emit_statement(out)?;
                }
            }
        }
        Ok(())
    }

    fn feed_inner<E>(
        &mut self,
        buf: &[u8],
        out: &mut dyn FnMut(Piece) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut i = 0;
        while i < buf.len() {
            if self.state == State::Copy {
                i = self.copy_data(buf, i, out)?;
                continue;
            }
            let b = buf[i];
            i += 1;
            self.step(b, out)?;
        }
        Ok(())
    }

    /// Passes COPY data through from `buf[i..]` up to the `\.` line; returns where it stopped.
    fn copy_data<E>(
        &mut self,
        buf: &[u8],
        mut i: usize,
        out: &mut dyn FnMut(Piece) -> Result<(), E>,
    ) -> Result<usize, E> {
        let start = i;
        while i < buf.len() {
            if self.at_line_start && buf[i] == b'\\' {
                let rest = &buf[i..];
                let end = if rest.starts_with(b"\\.\n") {
                    Some(3)
                } else if rest.starts_with(b"\\.\r\n") {
                    Some(4)
                } else {
                    None
                };
                if let Some(n) = end {
                    if i > start {
                        out(Piece::CopyData(&buf[start..i]))?;
                    }
                    out(Piece::CopyEnd)?;
                    self.state = State::Normal;
                    self.at_line_start = true;
                    return Ok(i + n);
                }
                if b"\\.\r".starts_with(rest) {
                    // Maybe the end marker, cut by the chunk boundary: decide with the next chunk.
                    if i > start {
                        out(Piece::CopyData(&buf[start..i]))?;
                    }
                    self.held = rest.to_vec();
                    return Ok(buf.len());
                }
            }
            match memchr::memchr(b'\n', &buf[i..]) {
                Some(j) => {
                    i += j + 1;
                    self.at_line_start = true;
                }
                None => {
                    i = buf.len();
                    self.at_line_start = false;
                }
            }
        }
        if i > start {
            out(Piece::CopyData(&buf[start..i]))?;
        }
        Ok(i)
    }

    fn step<E>(&mut self, b: u8, out: &mut dyn FnMut(Piece) -> Result<(), E>) -> Result<(), E> {
        self.at_line_start = b == b'\n';
        match &mut self.state {
            State::Normal => self.normal(b, out)?,
            State::LineComment => {
                if b == b'\n' {
                    self.state = State::Normal;
                    if self.stmt.is_empty() {
                        let text = String::from_utf8_lossy(&self.comment).into_owned();
                        self.comment.clear();
                        if let Some(h) = EntryHeader::parse(&text) {
                            out(Piece::Header(h))?;
                        }
                    } else {
                        self.stmt.push(b);
                    }
                } else if self.stmt.is_empty() {
                    if self.comment.len() < 4096 {
                        self.comment.push(b);
                    }
                } else {
                    self.stmt.push(b);
                }
            }
            State::BlockComment(depth) => {
                let prev = self.stmt.last().copied();
                self.stmt.push(b);
                if prev == Some(b'*') && b == b'/' {
                    *depth -= 1;
                    if *depth == 0 {
                        self.state = State::Normal;
                        // `*/` must not start a new `/*`: keep the bytes, break the pair.
                        self.stmt.push(b' ');
                    }
                } else if prev == Some(b'/') && b == b'*' {
                    *depth += 1;
                    self.stmt.push(b' ');
                }
            }
            State::Single { escapes, backslash } => {
                self.stmt.push(b);
                if *backslash {
                    *backslash = false;
                } else if *escapes && b == b'\\' {
                    *backslash = true;
                } else if b == b'\'' {
                    let escapes = *escapes;
                    self.state = State::SingleEnd { escapes };
                }
            }
            State::SingleEnd { escapes } => {
                if b == b'\'' {
                    let escapes = *escapes;
                    self.stmt.push(b);
                    self.state = State::Single {
                        escapes,
                        backslash: false,
                    };
                } else {
                    self.state = State::Normal;
                    self.normal(b, out)?;
                }
            }
            State::Double => {
                self.stmt.push(b);
                if b == b'"' {
                    self.state = State::Normal;
                }
            }
            State::DollarOpen(tag) => {
                if b == b'$' {
                    let tag = std::mem::take(tag);
                    self.stmt.push(b);
                    self.state = State::Dollar { tag, close: None };
                } else if (tag.is_empty() && ident_start(b))
                    || (!tag.is_empty() && ident_char(b) && b != b'$')
                {
                    tag.push(b);
                    self.stmt.push(b);
                } else {
                    // `$1` or a `$` inside an operator: not a quote.
                    self.state = State::Normal;
                    self.normal(b, out)?;
                }
            }
            State::Dollar { tag, close } => {
                self.stmt.push(b);
                match close {
                    None => {
                        if b == b'$' {
                            *close = Some(0);
                        }
                    }
                    Some(n) => {
                        if *n == tag.len() && b == b'$' {
                            self.state = State::Normal;
                        } else if *n < tag.len() && tag[*n] == b {
                            *n += 1;
                        } else if b == b'$' {
                            *close = Some(0);
                        } else {
                            *close = None;
                        }
                    }
                }
            }
            State::Meta => {
                if b == b'\n' {
                    self.end_meta(out)?;
                } else {
                    self.stmt.push(b);
                }
            }
            State::CopyLineEnd => {
                if b == b'\n' {
                    self.state = State::Copy;
                    self.at_line_start = true;
                } else if !b.is_ascii_whitespace() {
                    out(Piece::Unsupported(
                        "text follows a COPY … FROM stdin; statement on its line".into(),
                    ))?;
                }
            }
            State::Copy => unreachable!("copy data is handled in feed"),
        }
        Ok(())
    }

    fn normal<E>(&mut self, b: u8, out: &mut dyn FnMut(Piece) -> Result<(), E>) -> Result<(), E> {
        let empty = self.stmt.is_empty();
        if ident_char(b) && (b != b'$' || !self.word.is_empty()) {
            if self.word.is_empty() && !ident_start(b) {
                // A number: not a word.
                self.stmt.push(b);
                return Ok(());
            }
            self.word.push(b);
            self.stmt.push(b);
            return Ok(());
        }
        let word = std::mem::take(&mut self.word);
        if !word.is_empty() {
            self.end_word(&word);
        }
        match b {
            b'-' if self.stmt.last() == Some(&b'-') => {
                self.stmt.pop();
                self.state = State::LineComment;
                if !self.stmt.iter().all(u8::is_ascii_whitespace) {
                    self.stmt.extend_from_slice(b"--");
                } else {
                    self.stmt.clear();
                    self.comment.clear();
                }
            }
            b'*' if self.stmt.last() == Some(&b'/') => {
                self.stmt.push(b);
                self.state = State::BlockComment(1);
            }
            b'\'' => {
                let escapes = word.len() == 1 && word[0].eq_ignore_ascii_case(&b'e');
                self.stmt.push(b);
                self.state = State::Single {
                    escapes,
                    backslash: false,
                };
            }
            b'"' => {
                self.stmt.push(b);
                self.state = State::Double;
            }
            b'$' => {
                self.stmt.push(b);
                self.state = State::DollarOpen(Vec::new());
            }
            b'(' => {
                self.paren += 1;
                self.stmt.push(b);
            }
            b')' => {
                self.paren = (self.paren - 1).max(0);
                self.stmt.push(b);
            }
            b';' if self.paren == 0 && self.begin == 0 => {
                self.stmt.push(b);
                self.emit_statement(out)?;
            }
            b'\\' if empty => {
                self.stmt.clear();
                self.stmt.push(b);
                self.state = State::Meta;
            }
            b'\\' => {
                self.stmt.push(b);
                out(Piece::Unsupported(
                    "a psql meta-command inside a statement".into(),
                ))?;
            }
            _ if empty && b.is_ascii_whitespace() => {}
            _ => self.stmt.push(b),
        }
        Ok(())
    }

    /// psql's heuristic for `CREATE [OR REPLACE] FUNCTION|PROCEDURE … BEGIN ATOMIC … END`.
    fn end_word(&mut self, word: &[u8]) {
        let lower = word.to_ascii_lowercase();
        if self.word_count == 0 {
            self.words.clear();
        }
        if matches!(
            lower.as_slice(),
            b"create" | b"function" | b"procedure" | b"or" | b"replace"
        ) && self.words.len() == self.word_count
            && self.words.len() < 8
        {
            self.words.push(lower[0]);
        }
        self.word_count += 1;
        let w = &self.words;
        let routine = w.first() == Some(&b'c')
            && (matches!(w.get(1), Some(b'f' | b'p'))
                || (w.get(1) == Some(&b'o')
                    && w.get(2) == Some(&b'r')
                    && matches!(w.get(3), Some(b'f' | b'p'))));
        if routine && self.paren == 0 {
            match lower.as_slice() {
                b"begin" => self.begin += 1,
                b"case" if self.begin >= 1 => self.begin += 1,
                b"end" if self.begin > 0 => self.begin -= 1,
                _ => {}
            }
        }
    }

    fn emit_statement<E>(&mut self, out: &mut dyn FnMut(Piece) -> Result<(), E>) -> Result<(), E> {
        let word = std::mem::take(&mut self.word);
        if !word.is_empty() {
            self.end_word(&word);
        }
        let bytes = std::mem::take(&mut self.stmt);
        self.word_count = 0;
        self.words.clear();
        self.paren = 0;
        self.begin = 0;
        match std::str::from_utf8(&bytes) {
            Ok(s) if is_copy_from_stdin(s) => {
                self.state = State::CopyLineEnd;
                out(Piece::CopyStart(s))?;
            }
            Ok(s) => out(Piece::Statement(s))?,
            Err(_) => out(Piece::Unsupported(
                "a statement that is not UTF-8 text".into(),
            ))?,
        }
        self.stmt = bytes;
        self.stmt.clear();
        Ok(())
    }

    fn end_meta<E>(&mut self, out: &mut dyn FnMut(Piece) -> Result<(), E>) -> Result<(), E> {
        self.state = State::Normal;
        let line = std::mem::take(&mut self.stmt);
        match std::str::from_utf8(&line) {
            Ok(s) => out(Piece::Meta(s.trim_end()))?,
            Err(_) => out(Piece::Unsupported(
                "a psql meta-command that is not UTF-8 text".into(),
            ))?,
        }
        self.stmt = line;
        self.stmt.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits `text` fed in chunks of `step` bytes into readable tokens.
    fn split(text: &str, step: usize) -> Vec<String> {
        let mut s = Splitter::new();
        let mut v: Vec<String> = Vec::new();
        let mut f = |p: Piece| -> Result<(), ()> {
            match p {
                Piece::Header(h) => v.push(format!("H {} | {}", h.kind, h.name)),
                Piece::Statement(x) => v.push(format!("S {x}")),
                Piece::CopyStart(x) => v.push(format!("C {x}")),
                Piece::CopyData(d) => match v.last_mut() {
                    Some(l) if l.starts_with("D ") => l.push_str(std::str::from_utf8(d).unwrap()),
                    _ => v.push(format!("D {}", std::str::from_utf8(d).unwrap())),
                },
                Piece::CopyEnd => v.push("E".into()),
                Piece::Meta(m) => v.push(format!("M {m}")),
                Piece::Unsupported(r) => v.push(format!("U {r}")),
            }
            Ok(())
        };
        for c in text.as_bytes().chunks(step) {
            s.feed(c, &mut f).unwrap();
        }
        s.finish(&mut f).unwrap();
        v
    }

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: f(); Type: FUNCTION; Schema: public; Owner: me\n--\n\nCREATE FUNCTION public.f() RETURNS text\n    LANGUAGE plpgsql\n    AS $_$ BEGIN RETURN 'a;b' || $x$;$x$; END $_$;\n\nCREATE FUNCTION public.g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN true THEN 2 END;\nEND;\n\nCOMMENT ON TABLE public.\"a;b\" IS E'it\\'s; ok''; still';\n/* a /* nested; */ comment; */ SELECT 1 -- c;\n;\nCREATE TABLE t (a int CHECK (a > 0 /* ; */));\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: me\n--\n\nCOPY public.t (a) FROM stdin;\n1\n\\\\.\n2\n\\.\n\nSELECT $1 + 2;\n\\unrestrict abc\n";

    fn expected() -> Vec<String> {
        vec![
            "M \\restrict abc".to_string(),
            "S SET statement_timeout = 0;".into(),
            "S SELECT pg_catalog.set_config('search_path', '', false);".into(),
            "H FUNCTION | f()".into(),
            "S CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE plpgsql\n    AS $_$ BEGIN RETURN 'a;b' || $x$;$x$; END $_$;".into(),
            "S CREATE FUNCTION public.g() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n SELECT 1;\n SELECT CASE WHEN true THEN 2 END;\nEND;".into(),
            "S COMMENT ON TABLE public.\"a;b\" IS E'it\\'s; ok''; still';".into(),
            "S /* a /*  nested; */ comment; */  SELECT 1 -- c;\n;".into(),
            "S CREATE TABLE t (a int CHECK (a > 0 /* ; */ ));".into(),
            "H TABLE DATA | t".into(),
            "C COPY public.t (a) FROM stdin;".into(),
            "D 1\n\\\\.\n2\n".into(),
            "E".into(),
            "S SELECT $1 + 2;".into(),
            "M \\unrestrict abc".into(),
        ]
    }

    #[test]
    fn splits_like_psql_on_every_chunk_boundary() {
        for step in [1, 2, 3, 5, 7, 13, 64, DUMP.len()] {
            assert_eq!(split(DUMP, step), expected(), "step {step}");
        }
    }

    #[test]
    fn headers_parse() {
        let h = EntryHeader::parse(" Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: me")
            .unwrap();
        assert_eq!(
            (h.name.as_str(), h.kind.as_str()),
            ("t t_pkey", "CONSTRAINT")
        );
        assert_eq!(h.schema, "public");
        assert!(EntryHeader::parse(" PostgreSQL database dump").is_none());
    }

    #[test]
    fn meta_inside_a_statement_and_unended_copy_are_unsupported() {
        let v = split("SELECT 1 \\gset\n;", 4);
        assert!(v[0].starts_with("U "), "{v:?}");
        let v = split("COPY t FROM stdin;\n1\n", 3);
        assert!(v.last().unwrap().starts_with("U "), "{v:?}");
    }
}
