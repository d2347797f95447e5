//! Connection parameters from a URL or the standard libpq environment variables (PGHOST,
//! PGPORT, PGUSER, PGPASSWORD, PGDATABASE, PGPASSFILE), with ~/.pgpass lookup.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// Where and as whom to connect. `password` is a secret: never print it.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnParams {
    /// Host name, IP address, or a unix socket directory (starts with `/`).
    pub host: String,
    /// TCP port (also names the unix socket file).
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password, if known (URL, PGPASSWORD or passfile).
    pub password: Option<String>,
    /// Database name.
    pub dbname: String,
}

impl std::fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("dbname", &self.dbname)
            .finish()
    }
}

/// A source of environment variables (the process environment, or a map in tests).
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, ignoring empty values.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl ConnParams {
    /// From a `postgresql://` URL (or a libpq key=value string); missing parts come from the
    /// environment like libpq does.
    pub fn from_url(url: &str, env: EnvLookup) -> Result<ConnParams> {
        let cfg = tokio_postgres::Config::from_str(url).map_err(|e| {
            Error::Config(format!(
                "cannot parse the database URL ({e}): expected postgresql://user@host:port/database (the password goes in PGPASSWORD or ~/.pgpass)"
            ))
        })?;
        let mut p = ConnParams::from_env(env);
        if let Some(h) = cfg.get_hosts().first() {
            p.host = match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
        }
        if let Some(port) = cfg.get_ports().first() {
            p.port = *port;
        }
        if let Some(u) = cfg.get_user() {
            p.user = u.to_string();
        }
        if let Some(pw) = cfg.get_password() {
            p.password = Some(String::from_utf8_lossy(pw).into_owned());
        }
        if let Some(db) = cfg.get_dbname() {
            p.dbname = db.to_string();
        } else if cfg.get_user().is_some() && env("PGDATABASE").is_none() {
            p.dbname = p.user.clone();
        }
        p.fill_password_from_passfile(env);
        Ok(p)
    }

    /// From PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (defaults as libpq: the local
    /// socket, port 5432, the OS user, a database named like the user), then the passfile.
    pub fn from_env(env: EnvLookup) -> ConnParams {
        let user = env("PGUSER").unwrap_or_else(os_user);
        let mut p = ConnParams {
            host: env("PGHOST").unwrap_or_else(|| "/var/run/postgresql".into()),
            port: env("PGPORT").and_then(|s| s.parse().ok()).unwrap_or(5432),
            dbname: env("PGDATABASE").unwrap_or_else(|| user.clone()),
            user,
            password: env("PGPASSWORD"),
        };
        p.fill_password_from_passfile(env);
        p
    }

    /// True when `host` names a unix socket directory.
    pub fn is_socket(&self) -> bool {
        self.host.starts_with('/')
    }

    /// `user@host:port/db`, without the password.
    pub fn describe(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.dbname)
    }

    /// tokio-postgres settings for `database` on this server.
    pub fn pg_config(&self, database: &str, app_name: &str) -> tokio_postgres::Config {
        let mut c = tokio_postgres::Config::new();
        if self.is_socket() {
            c.host_path(&self.host);
        } else {
            c.host(&self.host);
        }
        c.port(self.port)
            .user(&self.user)
            .dbname(database)
            .application_name(app_name);
        if let Some(pw) = &self.password {
            c.password(pw.as_bytes());
        }
        c
    }

    /// Environment variables for a libpq child program (pg_dump, psql) against `database`.
    pub fn child_env(&self, database: &str, app_name: &str) -> Vec<(&'static str, String)> {
        let mut v = vec![
            ("PGHOST", self.host.clone()),
            ("PGPORT", self.port.to_string()),
            ("PGUSER", self.user.clone()),
            ("PGDATABASE", database.to_string()),
            ("PGAPPNAME", app_name.to_string()),
            ("PGCONNECT_TIMEOUT", "10".to_string()),
        ];
        if let Some(pw) = &self.password {
            v.push(("PGPASSWORD", pw.clone()));
        }
        v
    }

    fn fill_password_from_passfile(&mut self, env: EnvLookup) {
        if self.password.is_some() {
            return;
        }
        let file = env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
        if let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) {
            self.password = passfile_lookup(&text, self);
        }
    }
}

/// The OS user name, libpq's default user.
pub fn os_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "postgres".into())
}

/// Finds the password for `p` in passfile text (`host:port:db:user:password`, `*` wildcards,
/// `\:` and `\\` escapes). A socket host matches `localhost` as in libpq.
pub fn passfile_lookup(text: &str, p: &ConnParams) -> Option<String> {
    let host = if p.is_socket() {
        "localhost"
    } else {
        p.host.as_str()
    };
    let port = p.port.to_string();
    for line in text.lines() {
        if line.trim_start().starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_passfile_line(line);
        if fields.len() < 5 {
            continue;
        }
        let m = |pat: &str, v: &str| pat == "*" || pat == v;
        if m(&fields[0], host)
            && m(&fields[1], &port)
            && m(&fields[2], &p.dbname)
            && m(&fields[3], &p.user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_passfile_line(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().unwrap().push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            _ => out.last_mut().unwrap().push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn url_with_everything() {
        let env = env_of(&[]);
        let p =
            ConnParams::from_url("postgresql://bob:s%40cret@db.example:6543/shop", &env).unwrap();
        assert_eq!(p.host, "db.example");
        assert_eq!(p.port, 6543);
        assert_eq!(p.user, "bob");
        assert_eq!(p.password.as_deref(), Some("s@cret"));
        assert_eq!(p.dbname, "shop");
        assert!(!format!("{p:?}").contains("s@cret"));
        assert!(!p.describe().contains("s@cret"));
    }

    #[test]
    fn env_with_socket_dir() {
        let env = env_of(&[
            ("PGHOST", "/tmp/sock"),
            ("PGPORT", "5999"),
            ("PGUSER", "u"),
            ("PGDATABASE", "d"),
        ]);
        let p = ConnParams::from_env(&env);
        assert!(p.is_socket());
        assert_eq!(
            (p.port, p.user.as_str(), p.dbname.as_str()),
            (5999, "u", "d")
        );
    }

    #[test]
    fn passfile_matches_with_wildcards_and_escapes() {
        let p = ConnParams {
            host: "127.0.0.1".into(),
            port: 5432,
            user: "app".into(),
            password: None,
            dbname: "shop".into(),
        };
        let text = "# comment\nother:5432:*:*:no\n127.0.0.1:*:shop:app:pa\\:ss\n";
        assert_eq!(passfile_lookup(text, &p).as_deref(), Some("pa:ss"));
    }

    #[test]
    fn bad_url_is_a_config_error() {
        let env = env_of(&[]);
        assert!(ConnParams::from_url("postgresql://x:y@h:notaport/db", &env).is_err());
    }
}
