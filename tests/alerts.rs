//! Alerts: webhooks received by a real HTTP listener on loopback, called by the real binary's
//! scheduled pipeline; and the health warnings (`backup_health`) over backup lists.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::{cluster, complete_backups, pgkeep, stderr, stdout};
use pgkeep::alerts::backup_health;
use pgkeep::config::Config;
use pgkeep::engine::catalog::{backup_name, BackupEntry, BackupStatus};
use pgkeep::schedule::pipeline::verify_due;

/// A webhook receiver: answers every POST with `status`, sends (path, JSON body) to the channel.
fn receiver(status: &'static str) -> (u16, mpsc::Receiver<(String, serde_json::Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            reader.read_line(&mut first).unwrap();
            let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = conn.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            let _ = tx.send((
                path,
                serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
            ));
        }
    });
    (port, rx)
}

fn config_file(dir: &std::path::Path, body: &str) -> PathBuf {
    let p = dir.join("pgkeep.toml");
    std::fs::write(&p, body).unwrap();
    p
}

#[test]
fn failed_scheduled_backup_calls_the_webhook_and_prunes_nothing() {
    let (port, rx) = receiver("200 OK");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    std::fs::create_dir(&dir).unwrap();
    // old backups that a prune with keep_last = 1 would delete
    for d in 1..4 {
        std::fs::write(
            dir.join(backup_name("ghost", Utc::now() - Duration::days(d * 10))),
            b"x",
        )
        .unwrap();
    }
    let cfg = config_file(
        tmp.path(),
        &format!("[alerts]\nwebhooks = [\"http://127.0.0.1:{port}/hook\"]\n[retention]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nmin_age_hours = 0\n"),
    );
    let out = pgkeep(
        "ghost",
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "backup",
            "--quiet",
            "--scheduled",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(
        stderr(&out)
            .lines()
            .filter(|l| l.starts_with("pgkeep: error"))
            .count(),
        1,
        "{}",
        stderr(&out)
    );
    let (path, body) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("webhook called");
    assert_eq!(path, "/hook");
    assert_eq!(body["event"], "failure");
    assert!(
        body["message"].as_str().unwrap().contains("ghost"),
        "{body}"
    );
    assert!(
        stdout(&out).contains("prune ok: skipped"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        complete_backups(&dir).len(),
        3,
        "a failed backup never prunes"
    );
}

#[test]
fn success_alert_when_asked_and_a_failing_webhook_is_reported_without_its_token() {
    let c = cluster();
    let db = c.new_db("alerts");
    c.psql(&db, "CREATE TABLE t(x int); INSERT INTO t VALUES (1)");
    let (ok_port, ok_rx) = receiver("200 OK");
    let (bad_port, _bad_rx) = receiver("500 Internal Server Error");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("db_backups");
    let token = "T0KEN-in-the-path";
    let cfg = config_file(
        tmp.path(),
        &format!(
            "[alerts]\non_success = true\nwebhooks = [\"http://127.0.0.1:{ok_port}/ok\", \"http://127.0.0.1:{bad_port}/hooks/{token}\"]\n"
        ),
    );
    let out = pgkeep(
        &db,
        &dir,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "backup",
            "--quiet",
            "--scheduled",
        ],
    );
    let log = format!("{}{}", stdout(&out), stderr(&out));
    let (_, body) = ok_rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("webhook called");
    assert_eq!(body["event"], "success", "{body}");
    let backups = complete_backups(&dir);
    assert_eq!(backups.len(), 1, "the backup itself is kept");
    let name = backups[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(body["backup"], name.as_str());
    assert!(log.contains("alert FAILED") && log.contains("500"), "{log}");
    assert!(
        !log.contains(token),
        "the webhook's token was printed: {log}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "a failed step makes the scheduled run fail: {log}"
    );
}

fn entry(t: DateTime<Utc>, status: BackupStatus) -> BackupEntry {
    let name = backup_name("shop", t);
    BackupEntry {
        path: PathBuf::from(&name),
        name,
        database: "shop".into(),
        time: t,
        size: 1,
        label: None,
        status,
        manifest: None,
    }
}

fn config(cron: &str) -> Config {
    Config::parse(&format!(
        "[schedule]\ncron = \"{cron}\"\ntimezone = \"UTC\"\n[alerts]\ngrace_hours = 2\n"
    ))
    .unwrap()
}

#[test]
fn health_warns_when_overdue_or_the_last_verification_failed() {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let daily = config("0 2 * * *");
    assert_eq!(
        backup_health(&[], &daily, now).len(),
        1,
        "no backup at all is a warning"
    );
    let fresh = vec![entry(now - Duration::hours(10), BackupStatus::Complete)];
    assert!(backup_health(&fresh, &daily, now).is_empty());
    let stale = vec![entry(now - Duration::hours(27), BackupStatus::Complete)];
    let w = backup_health(&stale, &daily, now);
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("27 h old") && w[0].contains("24 h"), "{w:?}");
    // every 6 hours: 7 h is within 6 + 2, 9 h is not
    let six = config("0 */6 * * *");
    assert!(backup_health(
        &[entry(now - Duration::hours(7), BackupStatus::Complete)],
        &six,
        now
    )
    .is_empty());
    assert_eq!(
        backup_health(
            &[entry(now - Duration::hours(9), BackupStatus::Complete)],
            &six,
            now
        )
        .len(),
        1
    );
    // an interrupted backup does not count as complete
    let only_partial = vec![
        entry(now - Duration::hours(1), BackupStatus::Interrupted),
        stale[0].clone(),
    ];
    assert_eq!(backup_health(&only_partial, &daily, now).len(), 1);
    // the latest verification failed (an older one passed)
    let failed = vec![
        entry(
            now - Duration::hours(5),
            BackupStatus::VerifyFailed {
                at: now - Duration::hours(4),
                message: "row counts differ".into(),
            },
        ),
        entry(
            now - Duration::hours(29),
            BackupStatus::Verified {
                at: now - Duration::hours(28),
            },
        ),
    ];
    let w = backup_health(&failed, &daily, now);
    assert_eq!(w.len(), 1);
    assert!(
        w[0].contains("verification failed") && w[0].contains("row counts differ"),
        "{w:?}"
    );
    // a newer pass clears it
    let passed = vec![
        failed[0].clone(),
        entry(
            now - Duration::hours(2),
            BackupStatus::Verified {
                at: now - Duration::hours(1),
            },
        ),
    ];
    assert!(backup_health(&passed, &daily, now).is_empty());
}

#[test]
fn verify_policy_after_every_backup_or_every_n_days() {
    let now = Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap();
    let mut cfg = config("0 2 * * *");
    let list = vec![entry(
        now - Duration::days(1),
        BackupStatus::Verified {
            at: now - Duration::days(3),
        },
    )];
    assert!(!verify_due(&cfg, &list, now), "no policy: never");
    cfg.verify.after_backup = true;
    assert!(verify_due(&cfg, &list, now));
    cfg.verify.after_backup = false;
    cfg.verify.every_days = 7;
    assert!(!verify_due(&cfg, &list, now), "verified 3 days ago");
    cfg.verify.every_days = 2;
    assert!(verify_due(&cfg, &list, now));
    assert!(
        verify_due(&cfg, &[entry(now, BackupStatus::Complete)], now),
        "never verified"
    );
}
