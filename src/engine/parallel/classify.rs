//! What a statement of a plain dump is, for the parallel loader: session state every
//! connection needs (`SET`, `set_config`), per-table post-data work that may run as soon as
//! the table's data is in (indexes, primary/unique/check constraints, foreign keys,
//! extended statistics and statistics targets, which ANALYZE must follow), or anything else
//! (run in dump order). Only pg_dump's own statement shapes are recognised;
//! anything unusual is "other", which is always safe.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a statement is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Session state named `name` (`SET name …`, `set_config('name', …, false)`).
    Setting {
        /// The setting's name, lower case.
        name: String,
        /// Its value as written (quotes stripped), for the checks on encoding and strings.
        value: String,
    },
    /// `CREATE [UNIQUE] INDEX … ON <table>` (not `ON ONLY`).
    Index {
        /// The table, as pg_dump writes it (`public."Orders"`).
        table: String,
    },
    /// `ALTER TABLE ONLY <table> ADD CONSTRAINT …` other than a foreign key.
    Constraint {
        /// The table.
        table: String,
    },
    /// `ALTER TABLE ONLY <table> ADD CONSTRAINT … FOREIGN KEY … REFERENCES <other>`.
    ForeignKey {
        /// The referencing table.
        table: String,
        /// The referenced table.
        references: String,
    },
    /// `CREATE STATISTICS … FROM <table>` (extended statistics, which ANALYZE fills).
    Statistics {
        /// The table.
        table: String,
    },
    /// `ALTER INDEX … ALTER COLUMN n SET STATISTICS m` or `ALTER STATISTICS … SET
    /// STATISTICS m`: the statistics target of the object its entry just created, which
    /// the table's ANALYZE must see.
    StatisticsTarget,
    /// Anything else.
    Other,
}

/// Classifies `sql`, a statement of the entry of type `kind` (from its header).
pub fn classify(kind: Option<&str>, sql: &str) -> Class {
    if let Some(c) = setting(sql) {
        return c;
    }
    match kind {
        Some("INDEX") if statistics_target(sql, "ALTER INDEX ") => Class::StatisticsTarget,
        Some("INDEX") => index(sql).map_or(Class::Other, |table| Class::Index { table }),
        Some("STATISTICS") if statistics_target(sql, "ALTER STATISTICS ") => {
            Class::StatisticsTarget
        }
        Some("STATISTICS") => {
            statistics(sql).map_or(Class::Other, |table| Class::Statistics { table })
        }
        Some("CONSTRAINT") => match constraint(sql) {
            Some((table, None)) => Class::Constraint { table },
            _ => Class::Other,
        },
        Some("FK CONSTRAINT") => match constraint(sql) {
            Some((table, Some(references))) => Class::ForeignKey { table, references },
            _ => Class::Other,
        },
        _ => Class::Other,
    }
}

/// True for entry types of pg_dump's data section (their statements run as they come).
pub fn is_data_kind(kind: &str) -> bool {
    matches!(
        kind,
        "TABLE DATA" | "SEQUENCE SET" | "BLOBS" | "BLOB DATA" | "LARGE OBJECTS" | "BLOB"
    )
}

fn setting(sql: &str) -> Option<Class> {
    let s = sql.trim().strip_suffix(';')?.trim_end();
    if s.contains(['\n', ';']) {
        return None;
    }
    if let Some(rest) = strip_word(s, "SET ") {
        if strip_word(rest, "LOCAL ").is_some() {
            return None;
        }
        let rest = strip_word(rest, "SESSION ").unwrap_or(rest);
        if let Some(who) = strip_word(rest, "AUTHORIZATION ") {
            return Some(Class::Setting {
                name: "session_authorization".into(),
                value: unquote(who),
            });
        }
        let (name, value) = match rest.split_once(" = ") {
            Some(x) => x,
            None => rest.split_once(" TO ")?,
        };
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        {
            return None;
        }
        return Some(Class::Setting {
            name: name.to_ascii_lowercase(),
            value: unquote(value),
        });
    }
    let args = s
        .strip_prefix("SELECT pg_catalog.set_config(")?
        .strip_suffix(", false)")?;
    let (name, value) = args.split_once(", ")?;
    if !(name.starts_with('\'') && name.ends_with('\'') && name.len() > 2) {
        return None;
    }
    Some(Class::Setting {
        name: unquote(name).to_ascii_lowercase(),
        value: unquote(value),
    })
}

fn strip_word<'a>(s: &'a str, word: &str) -> Option<&'a str> {
    let head = s.get(..word.len())?;
    head.eq_ignore_ascii_case(word).then(|| &s[word.len()..])
}

fn unquote(v: &str) -> String {
    let v = v.trim();
    v.strip_prefix('\'')
        .and_then(|x| x.strip_suffix('\''))
        .unwrap_or(v)
        .to_string()
}

/// The length of one identifier at the start of `s` (plain lower case or double-quoted).
fn ident_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.first() == Some(&b'"') {
        let mut i = 1;
        while i < b.len() {
            if b[i] == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                return (i > 1).then_some(i + 1);
            }
            i += 1;
        }
        return None;
    }
    let n = b
        .iter()
        .position(|c| {
            !(c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || *c == b'_'
                || *c == b'$'
                || *c >= 0x80)
        })
        .unwrap_or(b.len());
    (n > 0 && !b[0].is_ascii_digit() && b[0] != b'$').then_some(n)
}

/// `schema.name` at the start of `s`: the name and what follows it.
fn qualified(s: &str) -> Option<(&str, &str)> {
    let a = ident_len(s)?;
    let rest = s[a..].strip_prefix('.')?;
    let b = ident_len(rest)?;
    let n = a + 1 + b;
    Some((&s[..n], &s[n..]))
}

/// The table of a `COPY <table> [(<columns>)] FROM stdin;` statement.
pub fn copy_table(sql: &str) -> Option<String> {
    let (table, rest) = qualified(sql.strip_prefix("COPY ")?)?;
    rest.starts_with(' ').then(|| table.to_string())
}

fn index(sql: &str) -> Option<String> {
    let s = sql.strip_prefix("CREATE ")?;
    let s = s.strip_prefix("UNIQUE ").unwrap_or(s);
    let s = s.strip_prefix("INDEX ")?;
    let n = ident_len(s)?;
    let s = s[n..].strip_prefix(" ON ")?;
    if s.starts_with("ONLY ") {
        return None;
    }
    let (table, rest) = qualified(s)?;
    rest.starts_with(' ').then(|| table.to_string())
}

/// The table of `CREATE STATISTICS <name> [(<kinds>)] ON <columns> FROM <table>;`.
fn statistics(sql: &str) -> Option<String> {
    let s = sql.strip_prefix("CREATE STATISTICS ")?;
    let at = s.rfind(" FROM ")?;
    let (table, rest) = qualified(&s[at + " FROM ".len()..])?;
    (rest.trim_end() == ";").then(|| table.to_string())
}

/// `<alter><qualified name> … SET STATISTICS <n>;`.
fn statistics_target(sql: &str, alter: &str) -> bool {
    let Some(s) = sql.strip_prefix(alter) else {
        return false;
    };
    let Some((_, rest)) = qualified(s) else {
        return false;
    };
    let Some(n) = rest.trim_end().strip_suffix(';') else {
        return false;
    };
    let Some((head, n)) = n.rsplit_once(" SET STATISTICS ") else {
        return false;
    };
    let n = n.trim().trim_start_matches('-');
    !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
        && (head.is_empty() || head.starts_with(" ALTER COLUMN "))
}

/// `(table, Some(referenced))` for a foreign key, `(table, None)` for another constraint.
fn constraint(sql: &str) -> Option<(String, Option<String>)> {
    let s = sql.strip_prefix("ALTER TABLE ONLY ")?;
    let (table, rest) = qualified(s)?;
    let rest = rest.trim_start().strip_prefix("ADD CONSTRAINT ")?;
    let n = ident_len(rest)?;
    let body = &rest[n..];
    if !body.starts_with(' ') {
        return None;
    }
    let body = body.trim_start();
    if body.starts_with("FOREIGN KEY (") {
        let at = body.find(") REFERENCES ")?;
        let (referenced, _) = qualified(&body[at + ") REFERENCES ".len()..])?;
        return Some((table.to_string(), Some(referenced.to_string())));
    }
    if ["PRIMARY KEY", "UNIQUE", "EXCLUDE", "CHECK"]
        .iter()
        .any(|k| body.starts_with(k))
    {
        return Some((table.to_string(), None));
    }
    None
}

/// The session settings in effect at a point of the dump, to replay on every connection.
#[derive(Debug, Clone, Default)]
pub struct SessionState {
    /// Distinguishes states: a connection that applied this version needs nothing.
    pub version: u64,
    /// `(name, statement)` in the order first set; a later statement replaces its name's.
    pub settings: Vec<(String, String)>,
}

static VERSIONS: AtomicU64 = AtomicU64::new(1);

impl SessionState {
    /// This state with `name` set by `statement`.
    pub fn with(&self, name: &str, statement: &str) -> Arc<SessionState> {
        let mut settings = self.settings.clone();
        match settings.iter_mut().find(|(n, _)| n == name) {
            Some(s) => s.1 = statement.to_string(),
            None => settings.push((name.to_string(), statement.to_string())),
        }
        Arc::new(SessionState {
            version: VERSIONS.fetch_add(1, Ordering::Relaxed),
            settings,
        })
    }

    /// All settings as one batch of statements.
    pub fn script(&self) -> String {
        let mut s = String::new();
        for (_, stmt) in &self.settings {
            s.push_str(stmt);
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_recognised() {
        assert_eq!(
            classify(
                None,
                "SELECT pg_catalog.set_config('search_path', '', false);"
            ),
            Class::Setting {
                name: "search_path".into(),
                value: String::new()
            }
        );
        assert_eq!(
            classify(None, "SET client_encoding = 'UTF8';"),
            Class::Setting {
                name: "client_encoding".into(),
                value: "UTF8".into()
            }
        );
        assert_eq!(
            classify(None, "SET default_tablespace = '';"),
            Class::Setting {
                name: "default_tablespace".into(),
                value: String::new()
            }
        );
        assert_eq!(classify(None, "SET LOCAL x = 1;"), Class::Other);
        assert_eq!(
            classify(None, "SELECT pg_catalog.setval('s', 1, true);"),
            Class::Other
        );
    }

    #[test]
    fn statistics_and_their_targets_are_recognised() {
        assert_eq!(
            classify(
                Some("STATISTICS"),
                "CREATE STATISTICS public.s_ab (ndistinct) ON a, (b + 1) FROM s.\"From t\";"
            ),
            Class::Statistics {
                table: "s.\"From t\"".into()
            }
        );
        for (kind, sql) in [
            (
                "STATISTICS",
                "ALTER STATISTICS public.s_ab SET STATISTICS 500;",
            ),
            (
                "STATISTICS",
                "ALTER STATISTICS public.s_ab SET STATISTICS -1;",
            ),
            (
                "INDEX",
                "ALTER INDEX public.\"Ix\" ALTER COLUMN 2 SET STATISTICS 300;",
            ),
        ] {
            assert_eq!(classify(Some(kind), sql), Class::StatisticsTarget, "{sql}");
        }
        for (kind, sql) in [
            ("STATISTICS", "ALTER STATISTICS public.s_ab OWNER TO alice;"),
            ("INDEX", "ALTER INDEX public.i ATTACH PARTITION public.j;"),
            ("INDEX", "ALTER INDEX public.i SET (fillfactor = 50);"),
            ("TABLE", "ALTER STATISTICS public.s_ab SET STATISTICS 5;"),
        ] {
            assert_eq!(classify(Some(kind), sql), Class::Other, "{sql}");
        }
    }

    #[test]
    fn post_data_shapes_are_recognised() {
        assert_eq!(
            classify(
                Some("INDEX"),
                "CREATE INDEX \"Ix\" ON public.\"Orders\" USING btree (a);"
            ),
            Class::Index {
                table: "public.\"Orders\"".into()
            }
        );
        assert_eq!(
            classify(
                Some("INDEX"),
                "CREATE INDEX p_a ON ONLY public.p USING btree (a);"
            ),
            Class::Other
        );
        assert_eq!(
            classify(
                Some("CONSTRAINT"),
                "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT t_pkey PRIMARY KEY (id);"
            ),
            Class::Constraint {
                table: "public.t".into()
            }
        );
        assert_eq!(
            classify(
                Some("FK CONSTRAINT"),
                "ALTER TABLE ONLY s.\"a b\"\n    ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES public.t(id) ON DELETE CASCADE;"
            ),
            Class::ForeignKey {
                table: "s.\"a b\"".into(),
                references: "public.t".into()
            }
        );
        // A foreign key on a partitioned table recurses (no ONLY): not per table.
        assert_eq!(
            classify(
                Some("FK CONSTRAINT"),
                "ALTER TABLE public.p\n    ADD CONSTRAINT fk FOREIGN KEY (x) REFERENCES public.t(id);"
            ),
            Class::Other
        );
        assert_eq!(
            classify(
                Some("TRIGGER"),
                "CREATE TRIGGER x AFTER INSERT ON public.t FOR EACH ROW EXECUTE FUNCTION f();"
            ),
            Class::Other
        );
    }
}
