//! File names derived from database names. A PostgreSQL database may be called
//! `/../../tmp/x/evil` or `.hidden`; a file name built from it must stay inside the backup
//! directory and be visible. The encoding percent-escapes `/`, `%`, control characters and a
//! leading `.`, and leaves every other name unchanged (so backups named by older versions
//! still match). It is reversible: [`decode`] gives the name back; the manifest keeps the
//! original name too.

/// The part of a file name that stands for `database`: never contains `/`, never starts
/// with `.`, never contains a control character; plain names are returned unchanged.
pub fn encode(database: &str) -> String {
    let mut out = String::with_capacity(database.len());
    for (i, c) in database.char_indices() {
        let escape = c == '/' || c == '%' || c.is_control() || (i == 0 && c == '.');
        if escape {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The database name a file name part stands for: `%XX` sequences decoded, anything else
/// (including a `%` not followed by two hex digits, as an old file might hold) kept as is.
pub fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_unchanged() {
        for n in ["shop", "my_shop", "facturatie", "Shop-2026", "日本"] {
            assert_eq!(encode(n), n);
            assert_eq!(decode(n), n);
        }
    }

    #[test]
    fn hostile_names_cannot_leave_the_directory_and_round_trip() {
        for n in [
            "/../../../../tmp/x/evil",
            "..",
            ".hidden",
            "a%2Fb",
            "new\nline",
            "tab\there",
            "%",
            "a/b.c",
        ] {
            let e = encode(n);
            assert!(!e.contains('/'), "{e}");
            assert!(!e.starts_with('.'), "{e}");
            assert!(!e.chars().any(char::is_control), "{e:?}");
            assert_eq!(decode(&e), n, "{e}");
        }
        assert_eq!(encode("/../x"), "%2F..%2Fx");
        assert_eq!(encode(".x"), "%2Ex");
    }

    #[test]
    fn stray_percent_signs_stay() {
        assert_eq!(decode("a%zz"), "a%zz");
        assert_eq!(decode("a%4"), "a%4");
        assert_eq!(decode("a%"), "a%");
    }
}
