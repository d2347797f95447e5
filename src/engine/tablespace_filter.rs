//! `restore --tablespace-default`: the dump's `SET default_tablespace = <name>;` lines (how
//! pg_dump places objects in tablespaces) become `SET default_tablespace = '';` on their way to
//! psql, so everything lands in the database's default tablespace. COPY data is passed through
//! untouched (a row may read like a statement).

use std::io::{self, Write};

const SET: &[u8] = b"SET default_tablespace = ";
const DEFAULT: &[u8] = b"SET default_tablespace = '';\n";

/// A writer that rewrites tablespace selections, line by line.
pub struct TablespaceDefault<W: Write> {
    inner: W,
    line: Vec<u8>,
    in_copy: bool,
}

impl<W: Write> TablespaceDefault<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        TablespaceDefault {
            inner,
            line: Vec::new(),
            in_copy: false,
        }
    }

    /// The wrapped writer, after writing any unfinished last line.
    pub fn into_inner(mut self) -> io::Result<W> {
        let rest = std::mem::take(&mut self.line);
        self.inner.write_all(&rest)?;
        Ok(self.inner)
    }

    fn end_line(&mut self) -> io::Result<()> {
        let line = std::mem::take(&mut self.line);
        if self.in_copy {
            if line == b"\\.\n" {
                self.in_copy = false;
            }
        } else if line.starts_with(b"COPY ") && line.ends_with(b" FROM stdin;\n") {
            self.in_copy = true;
        } else if line.starts_with(SET) {
            self.inner.write_all(DEFAULT)?;
            self.line = line;
            self.line.clear();
            return Ok(());
        }
        self.inner.write_all(&line)?;
        self.line = line;
        self.line.clear();
        Ok(())
    }
}

impl<W: Write> Write for TablespaceDefault<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..=i]);
            self.end_line()?;
            rest = &rest[i + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tablespaces_become_the_default_but_copy_data_does_not_change() {
        let dump = "SET default_tablespace = space1;\nCREATE TABLE t (x text);\nCOPY public.t (x) FROM stdin;\nSET default_tablespace = space1;\n\\.\nSET default_tablespace = '';\n";
        for step in [1, 4, dump.len()] {
            let mut f = TablespaceDefault::new(Vec::new());
            for c in dump.as_bytes().chunks(step) {
                f.write_all(c).unwrap();
            }
            let out = String::from_utf8(f.into_inner().unwrap()).unwrap();
            assert_eq!(
                out,
                "SET default_tablespace = '';\nCREATE TABLE t (x text);\nCOPY public.t (x) FROM stdin;\nSET default_tablespace = space1;\n\\.\nSET default_tablespace = '';\n",
                "step {step}"
            );
        }
    }
}
