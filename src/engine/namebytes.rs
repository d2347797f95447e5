//! Names that are not valid UTF-8 (a `SQL_ASCII` database stores whatever bytes it was given)
//! kept losslessly in Rust strings and manifests: each byte that is not part of valid UTF-8
//! becomes the private-use character U+F700 + byte (U+F780..=U+F7FF), and back.

/// First private-use code point of the escaped bytes (0x80..=0xFF map above it).
const BASE: u32 = 0xF700;

/// Bytes as a string: valid UTF-8 as is, every other byte escaped.
pub fn decode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        s.push_str(chunk.valid());
        for &b in chunk.invalid() {
            s.push(char::from_u32(BASE + b as u32).expect("a private-use code point"));
        }
    }
    s
}

/// The original bytes of a [`decode`]d string.
pub fn encode(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chars() {
        match c as u32 {
            n if (BASE + 0x80..=BASE + 0xFF).contains(&n) => v.push((n - BASE) as u8),
            _ => {
                let mut buf = [0u8; 4];
                v.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    v
}

/// True when `s` holds escaped bytes (its name is not valid UTF-8 on the server).
pub fn has_escapes(s: &str) -> bool {
    s.chars()
        .any(|c| (BASE + 0x80..=BASE + 0xFF).contains(&(c as u32)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_any_bytes() {
        for b in [
            &b"public.plain"[..],
            b"public.\"caf\xe9\"",
            "public.\"café\"".as_bytes(),
            b"\xff\xfe\x80",
        ] {
            let s = decode(b);
            assert_eq!(encode(&s), b, "{s:?}");
        }
        assert!(!has_escapes(&decode("café".as_bytes())));
        assert!(has_escapes(&decode(b"caf\xe9")));
    }
}
