//! `pgkeep metrics` and `pgkeep daemon --metrics`: the output is read by a strict parser of
//! the Prometheus text format (below) and its values compared with `pgkeep status --json`, for
//! a real backup and verification of a real database.

mod common;
mod pitr_support;

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{cluster, pgkeep, pgkeep_cmd, stderr, stdout};

/// One sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses label pairs `a="x",b="y\"z"` strictly; returns them and the rest after `}`.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s;
    loop {
        if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let key = &rest[..eq];
        if !valid_name(key) || key.contains(':') {
            return Err(format!("bad label name {key:?}"));
        }
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next().map(|c| c.1) != Some('"') {
            return Err("label value not quoted".into());
        }
        let mut value = String::new();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|c| c.1) {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                '"' => {
                    end = Some(eq + 1 + i + 1);
                    break;
                }
                '\n' => return Err("raw newline in a label value".into()),
                c => value.push(c),
            }
        }
        let end = end.ok_or("unterminated label value")?;
        if labels.insert(key.to_string(), value).is_some() {
            return Err(format!("label {key} twice"));
        }
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// A strict reader of the Prometheus text exposition format (0.0.4): every line is a HELP,
/// a TYPE or a sample; each family has one HELP and one TYPE before its samples; counters
/// end in `_total`; names, labels and values are well-formed; no series twice.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashMap<String, String> = HashMap::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    if !text.ends_with('\n') {
        return Err("output does not end with a newline".into());
    }
    for (n, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest
                .split_once(' ')
                .ok_or_else(|| err("HELP without text"))?;
            if !valid_name(name) || helps.insert(name.into(), help.into()).is_some() {
                return Err(err("bad or repeated HELP"));
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| err("TYPE without type"))?;
            if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                return Err(err("unknown type"));
            }
            if kind == "counter" && !name.ends_with("_total") {
                return Err(err("counter not named _total"));
            }
            if !valid_name(name) || types.insert(name.into(), kind.into()).is_some() {
                return Err(err("bad or repeated TYPE"));
            }
            if samples.iter().any(|s| s.name == name) {
                return Err(err("TYPE after samples"));
            }
        } else if line.starts_with('#') || line.trim().is_empty() {
            return Err(err("unexpected line"));
        } else {
            let name_end = line
                .find(['{', ' '])
                .ok_or_else(|| err("sample without value"))?;
            let name = &line[..name_end];
            let (labels, rest) = if line[name_end..].starts_with('{') {
                parse_labels(&line[name_end + 1..]).map_err(|e| err(&e))?
            } else {
                (BTreeMap::new(), &line[name_end..])
            };
            let v = rest
                .strip_prefix(' ')
                .ok_or_else(|| err("no space before value"))?;
            let value = match v {
                "NaN" => f64::NAN,
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse::<f64>().map_err(|_| err("value is not a number"))?,
            };
            if !valid_name(name) || !types.contains_key(name) || !helps.contains_key(name) {
                return Err(err("sample without a valid name, HELP and TYPE"));
            }
            if !name.starts_with("pgkeep_") {
                return Err(err("metric not prefixed pgkeep_"));
            }
            if !seen.insert(format!("{name}{labels:?}")) {
                return Err(err("series repeated"));
            }
            samples.push(Sample {
                name: name.into(),
                labels,
                value,
            });
        }
    }
    Ok(samples)
}

fn get<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> &'a Sample {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .unwrap_or_else(|| panic!("no sample {name} {labels:?} in {samples:#?}"))
}

fn check_against_status(samples: &[Sample], status: &serde_json::Value, db: &str, file: &Path) {
    let last: chrono::DateTime<chrono::Utc> =
        status["last_backup_at"].as_str().unwrap().parse().unwrap();
    let ts = get(
        samples,
        "pgkeep_last_backup_timestamp_seconds",
        &[("database", db), ("kind", "logical")],
    )
    .value;
    assert!(
        (ts - last.timestamp_millis() as f64 / 1000.0).abs() < 0.002,
        "timestamp {ts} vs status {last}"
    );
    assert_eq!(
        get(
            samples,
            "pgkeep_last_backup_size_bytes",
            &[("database", db)]
        )
        .value,
        std::fs::metadata(file).unwrap().len() as f64
    );
    assert_eq!(
        get(samples, "pgkeep_last_backup_success", &[("database", db)]).value,
        1.0
    );
    assert_eq!(
        get(
            samples,
            "pgkeep_last_verification_success",
            &[("database", db)]
        )
        .value,
        1.0
    );
    assert_eq!(
        get(samples, "pgkeep_backups", &[("location", "local")]).value,
        1.0
    );
    assert_eq!(get(samples, "pgkeep_server_up", &[]).value, 1.0);
    let archiver = &status["server"]["archiver"];
    assert_eq!(
        get(samples, "pgkeep_wal_archived_segments_total", &[]).value,
        archiver["archived_count"].as_i64().unwrap() as f64
    );
    assert_eq!(
        get(samples, "pgkeep_wal_archive_failures_total", &[]).value,
        archiver["failed_count"].as_i64().unwrap() as f64
    );
    // no base backup here: no window bounds, and no gap
    assert!(status["recovery_window"]["from"].is_null());
    assert!(!samples
        .iter()
        .any(|s| s.name.starts_with("pgkeep_recovery_window_")));
    assert_eq!(get(samples, "pgkeep_wal_archive_gap", &[]).value, 0.0);
    // free space moves as other tests write: the same file system, within 2 %
    let free = get(samples, "pgkeep_backup_dir_free_bytes", &[]).value;
    let want = status["free_bytes"].as_u64().unwrap() as f64;
    assert!(
        (free - want).abs() <= want * 0.02,
        "free {free} vs status {want}"
    );
}

/// The archiving test writes WAL segments to the file system whose free space the other
/// test compares within 2 %: they take turns.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn metrics_parse_and_match_status_once_and_over_http() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let c = cluster();
    let db = c.new_db("metrics");
    c.psql(
        &db,
        "CREATE TABLE invoice(id int); INSERT INTO invoice SELECT generate_series(1, 100)",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let made = pgkeep(&db, &dir, &["backup", "--quiet"]);
    assert!(made.status.success(), "{}", stderr(&made));
    let file = std::path::PathBuf::from(stdout(&made).trim());
    let verified = pgkeep(&db, &dir, &["verify", "latest", "--quiet"]);
    assert!(verified.status.success(), "{}", stderr(&verified));

    let out = pgkeep(&db, &dir, &["metrics"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let status: serde_json::Value =
        serde_json::from_str(&stdout(&pgkeep(&db, &dir, &["status", "--json"]))).unwrap();
    check_against_status(&samples, &status, &db, &file);

    // the daemon serves the same over HTTP
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut daemon = pgkeep_cmd(&db, &dir, &["daemon", "--metrics", &addr])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get_path = |path: &str| -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    let start = Instant::now();
    let response = loop {
        if let Some(r) = get_path("/metrics") {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "daemon did not listen"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let missing = get_path("/nope").unwrap_or_default();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let samples = parse_exposition(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    check_against_status(&samples, &status, &db, &file);
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

fn timestamp(v: &serde_json::Value) -> f64 {
    let t: chrono::DateTime<chrono::Utc> = v.as_str().unwrap().parse().unwrap();
    t.timestamp_millis() as f64 / 1000.0
}

/// Waits until the archiver copied segment `seg` into `archive`.
fn wait_archived(archive: &Path, seg: &str) {
    for _ in 0..100 {
        if archive.join(seg).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{seg} was not archived");
}

#[test]
fn recovery_window_metrics_match_status_and_flag_a_gap() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let c = pitr_support::ArchivingCluster::start();
    c.psql("postgres", "CREATE DATABASE shop");
    c.psql("shop", "CREATE TABLE t(id int)");
    let base = c.pgkeep("shop", &["basebackup"]);
    assert!(base.status.success(), "{}", stderr(&base));
    c.psql("shop", "INSERT INTO t VALUES (1)");
    let seg = c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())");
    let archive = c.archive();
    wait_archived(&archive, &seg);

    let read = || {
        let out = c.pgkeep("shop", &["metrics"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let samples = parse_exposition(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let st = c.pgkeep("shop", &["status", "--json"]);
        let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
        (samples, st["recovery_window"].clone())
    };
    let (samples, w) = read();
    assert!(!w["from"].is_null(), "a window after the base backup: {w}");
    let start = get(
        &samples,
        "pgkeep_recovery_window_start_timestamp_seconds",
        &[],
    )
    .value;
    let end = get(
        &samples,
        "pgkeep_recovery_window_end_timestamp_seconds",
        &[],
    )
    .value;
    assert!(
        (start - timestamp(&w["from"])).abs() < 0.002,
        "{start} vs {w}"
    );
    assert!((end - timestamp(&w["to"])).abs() < 0.002, "{end} vs {w}");
    assert!(start <= end);
    assert_eq!(get(&samples, "pgkeep_wal_archive_gap", &[]).value, 0.0);

    // Lose an archived segment the server no longer has: the gap shows in both.
    let mut switched = Vec::new();
    for i in 0..3 {
        c.psql("shop", &format!("INSERT INTO t VALUES ({})", 100 + i));
        switched.push(c.psql("postgres", "SELECT pg_walfile_name(pg_switch_wal())"));
    }
    wait_archived(&archive, switched.last().unwrap());
    c.psql("postgres", "CHECKPOINT");
    c.psql("postgres", "CHECKPOINT");
    std::fs::remove_file(archive.join(&switched[1])).unwrap();
    let (samples, w) = read();
    assert!(
        w["gap"].as_str().unwrap_or("").contains(&switched[1]),
        "{w}"
    );
    assert_eq!(get(&samples, "pgkeep_wal_archive_gap", &[]).value, 1.0);
    // Lost WAL after the only base backup: no window, in status and in the metrics alike.
    assert!(w["to"].is_null(), "{w}");
    assert!(
        !samples
            .iter()
            .any(|s| s.name == "pgkeep_recovery_window_end_timestamp_seconds"),
        "no window end without a window"
    );
}

#[test]
fn parser_rejects_what_prometheus_rejects() {
    let ok = "# HELP pgkeep_a A.\n# TYPE pgkeep_a gauge\npgkeep_a{x=\"q\\\"\\n\"} 1\n";
    let s = parse_exposition(ok).unwrap();
    assert_eq!(s[0].labels["x"], "q\"\n");
    for bad in [
        "# TYPE pgkeep_a gauge\npgkeep_a 1\n", // no HELP
        "# HELP pgkeep_a A.\n# TYPE pgkeep_a counter\npgkeep_a 1\n", // counter name
        "# HELP pgkeep_a A.\n# TYPE pgkeep_a gauge\npgkeep_a{x=q} 1\n",
        "# HELP pgkeep_a A.\n# TYPE pgkeep_a gauge\npgkeep_a one\n",
        "# HELP pgkeep_a A.\n# TYPE pgkeep_a gauge\npgkeep_a 1\npgkeep_a 2\n",
    ] {
        assert!(parse_exposition(bad).is_err(), "{bad}");
    }
}
