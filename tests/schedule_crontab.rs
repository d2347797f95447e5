//! `pgkeep schedule install|remove|next|show` against Debian's real `crontab`, as a test
//! user (`pgkeeptest`, created when missing), never the developer's own crontab.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

const USER: &str = "pgkeeptest";

fn ensure_user() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("note: not root, cannot switch to the test user; crontab tests skipped");
        return false;
    }
    if Command::new("which")
        .arg("crontab")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("note: crontab is not installed (apt-get install cron); crontab tests skipped");
        return false;
    }
    if Command::new("id")
        .arg(USER)
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        let ok = Command::new("useradd")
            .args(["-m", USER])
            .status()
            .unwrap()
            .success();
        assert!(ok, "useradd {USER} failed");
    }
    true
}

fn as_user(dir: &Path, args: &[&str], config: Option<&Path>) -> Output {
    let mut c = Command::new("runuser");
    c.args(["-u", USER, "--"]).arg(common::pgkeep_bin());
    if let Some(cfg) = config {
        c.arg("--config").arg(cfg);
    }
    c.arg("--backup-dir").arg(dir.join("db_backups")).args(args);
    c.current_dir(dir)
        .env_remove("PGKEEP_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null());
    c.output().unwrap()
}

fn crontab_text() -> String {
    common::crontab_of(USER)
}

fn set_crontab(text: &str) {
    common::set_crontab_of(USER, text)
}

fn project_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("pgkeep-sched-")
        .tempdir()
        .unwrap();
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
    nix::unistd::chown(d.path(), Some(user.uid), Some(user.gid)).unwrap();
    d
}

/// One test so the shared crontab of the test user is never used by two tests at once.
#[test]
fn install_is_idempotent_keeps_other_lines_and_remove_takes_only_the_block() {
    if !ensure_user() {
        return;
    }
    let proj = project_dir();
    let dir = proj.path();
    let mine = "MAILTO=\"\"\n# my own job\n17 4 * * * /usr/bin/true   # mine, two spaces\n";
    set_crontab(mine);

    // Without a WAL archive or a base backup, only the dump line goes in, and install says why.
    let no_archive = as_user(dir, &["schedule", "install"], None);
    assert!(
        no_archive.status.success(),
        "{}",
        common::stderr(&no_archive)
    );
    assert!(
        common::stdout(&no_archive).contains("base backup: not scheduled: no WAL archive"),
        "{}",
        common::stdout(&no_archive)
    );
    let only_dump = crontab_text();
    assert_eq!(
        only_dump
            .lines()
            .filter(|l| l.contains("pgkeep") && l.contains("backup"))
            .count(),
        1,
        "{only_dump}"
    );
    assert!(!only_dump.contains("basebackup"), "{only_dump}");
    let show = as_user(dir, &["schedule", "show"], None);
    assert!(
        !common::stdout(&show).contains("DIFFERS"),
        "{}",
        common::stdout(&show)
    );
    // Once the server archives WAL into the backup dir, the base backup line joins.
    let segment_dir = dir.join("db_backups/wal/7000000000000000001");
    std::fs::create_dir_all(&segment_dir).unwrap();
    std::fs::write(segment_dir.join("000000010000000000000001"), b"wal").unwrap();
    let chown = Command::new("chown")
        .args(["-R", USER])
        .arg(dir.join("db_backups"))
        .status()
        .unwrap();
    assert!(chown.success());

    let first = as_user(dir, &["schedule", "install"], None);
    assert!(
        first.status.success(),
        "install failed: {}",
        common::stderr(&first)
    );
    let after_first = crontab_text();
    assert!(
        after_first.starts_with(mine),
        "other lines changed:\n{after_first}"
    );
    let jobs: Vec<&str> = after_first
        .lines()
        .filter(|l| l.contains("pgkeep") && l.contains("backup"))
        .collect();
    assert_eq!(
        jobs.len(),
        2,
        "the dump and the base backup line:\n{after_first}"
    );
    let job = jobs[0];
    // The base backup line: weekly, Sunday 03:00, with the same cd, PATH and log as the dump's.
    let base_job = jobs[1];
    assert!(base_job.starts_with("0 3 * * 0 cd "), "{base_job}");
    assert_eq!(
        base_job[10..].replace(
            "basebackup --quiet --scheduled",
            "backup --quiet --scheduled"
        ),
        job[10..],
        "both lines differ only in the fields and the subcommand"
    );
    let exe = common::pgkeep_bin();
    assert!(job.starts_with("0 2 * * * cd "), "{job}");
    assert!(job.contains(&format!("cd {} && ", dir.display())), "{job}");
    assert!(
        job.contains(&format!("{} --backup-dir", exe.display())),
        "{job}"
    );
    // cron's PATH is /usr/bin:/bin: the job carries the PATH that found docker and pg_dump.
    assert!(job.contains(" && PATH="), "{job}");
    // Nothing reachable yet under cron's environment: install says so.
    assert!(
        common::stderr(&first).contains("under cron's environment the job cannot reach"),
        "{}",
        common::stderr(&first)
    );
    assert!(!job.contains("PGPASSWORD"), "{job}");
    assert!(job.contains("backup --quiet --scheduled >> "), "{job}");
    assert!(
        job.contains(&format!(
            "{}/db_backups/pgkeep-cron.log 2>&1",
            dir.display()
        )),
        "{job}"
    );
    assert!(
        dir.join("db_backups").is_dir(),
        "install creates the backup dir so the log can be written"
    );

    run_job_line_like_cron(dir, job);

    let second = as_user(dir, &["schedule", "install"], None);
    assert!(second.status.success());

    assert!(
        common::stdout(&second).contains("already installed"),
        "{}",
        common::stdout(&second)
    );
    assert_eq!(
        crontab_text(),
        after_first,
        "second install changed the crontab"
    );

    let show = as_user(dir, &["schedule", "show"], None);
    let text = common::stdout(&show);
    assert!(text.contains("every day at 02:00"), "{text}");
    assert!(text.contains("installed, matches"), "{text}");
    assert!(text.contains("the system's time zone"), "{text}");
    assert!(text.contains("base backup: 0 3 * * 0"), "{text}");
    let base_runs: Vec<&str> = text
        .split("next base backups:\n")
        .nth(1)
        .unwrap_or("")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert_eq!(base_runs.len(), 5, "{text}");
    assert!(
        base_runs
            .iter()
            .all(|l| l.contains("Sun") && l.contains("03:00")),
        "{text}"
    );

    // a changed schedule is reported as differing, and install replaces the block in place
    let cfg = dir.join("pgkeep.toml");
    std::fs::write(&cfg, "[schedule]\ncron = \"0 */6 * * *\"\n").unwrap();
    let show = as_user(dir, &["schedule", "show"], Some(&cfg));
    assert!(
        common::stdout(&show).contains("DIFFERS"),
        "{}",
        common::stdout(&show)
    );
    assert!(as_user(dir, &["schedule", "install"], Some(&cfg))
        .status
        .success());
    let replaced = crontab_text();
    assert!(replaced.starts_with(mine));
    assert_eq!(replaced.matches("# BEGIN pgkeep").count(), 1, "{replaced}");
    assert!(replaced.contains("0 0,6,12,18 * * * cd "), "{replaced}");
    assert!(replaced.contains("0 3 * * 0 cd "), "{replaced}");

    // `basebackup = ""` disables the base backup line; a changed one is reported as differing
    std::fs::write(
        &cfg,
        "[schedule]\ncron = \"0 */6 * * *\"\nbasebackup = \"\"\n",
    )
    .unwrap();
    let show = as_user(dir, &["schedule", "show"], Some(&cfg));
    assert!(
        common::stdout(&show).contains("DIFFERS")
            && common::stdout(&show).contains("base backup: disabled"),
        "{}",
        common::stdout(&show)
    );
    assert!(as_user(dir, &["schedule", "install"], Some(&cfg))
        .status
        .success());
    let single = crontab_text();
    assert!(single.starts_with(mine), "{single}");
    assert!(!single.contains("basebackup"), "{single}");
    std::fs::write(&cfg, "[schedule]\ncron = \"0 */6 * * *\"\n").unwrap();
    assert!(as_user(dir, &["schedule", "install"], Some(&cfg))
        .status
        .success());
    assert_eq!(
        crontab_text(),
        replaced,
        "re-enabled: the same two lines again"
    );

    let next = as_user(dir, &["schedule", "next", "--count", "5"], Some(&cfg));
    let lines: Vec<String> = common::stdout(&next).lines().map(String::from).collect();
    assert_eq!(lines.len(), 5, "{lines:?}");
    for l in &lines {
        let hm = l.split_whitespace().nth(2).unwrap();
        assert!(["00:00", "06:00", "12:00", "18:00"].contains(&hm), "{l}");
    }

    let removed = as_user(dir, &["schedule", "remove"], None);
    assert!(removed.status.success());
    assert_eq!(
        crontab_text(),
        mine,
        "remove must leave exactly the user's own lines"
    );
    let again = as_user(dir, &["schedule", "remove"], None);
    assert!(again.status.success() && common::stdout(&again).contains("nothing changed"));

    // an empty crontab ("no crontab for user") is fine too
    let _ = Command::new("crontab").args(["-r", "-u", USER]).status();
    assert!(as_user(dir, &["schedule", "install"], None)
        .status
        .success());
    assert!(crontab_text().matches("pgkeep").count() >= 2);
    assert!(as_user(dir, &["schedule", "remove"], None).status.success());
    assert!(!crontab_text().contains("pgkeep"));

    // a bad expression: one clear line, non-zero exit, crontab untouched
    std::fs::write(&cfg, "[schedule]\ncron = \"61 2 * * *\"\n").unwrap();
    let bad = as_user(dir, &["schedule", "install"], Some(&cfg));
    assert_eq!(bad.status.code(), Some(1));
    let err = common::stderr(&bad);
    assert!(
        err.contains("minute field") && err.lines().count() == 1,
        "{err}"
    );
    assert!(!crontab_text().contains("pgkeep"));
    let _ = Command::new("crontab").args(["-r", "-u", USER]).status();
}

/// Runs the installed job line the way cron would (the test user, `sh -c`, an almost empty
/// environment) against the shared cluster, with the password in ~/.pgpass: it must make a
/// real backup and write the log into the backup dir.
fn run_job_line_like_cron(dir: &Path, job: &str) {
    let c = common::cluster();
    let db = c.new_db("cronjob");
    c.psql(&db, "CREATE TABLE t(x int); INSERT INTO t VALUES (42)");
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
    let pgpass = user.dir.join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("127.0.0.1:{}:*:{}:{}\n", c.port, c.user, c.password),
    )
    .unwrap();
    std::fs::set_permissions(&pgpass, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    nix::unistd::chown(&pgpass, Some(user.uid), Some(user.gid)).unwrap();
    let config = dir.join("pgkeep.toml");
    std::fs::write(
        &config,
        format!(
            "url = \"postgresql://{}@127.0.0.1:{}/{db}\"\ntarget = \"direct\"\npg_bin = \"{}\"\n",
            c.user,
            c.port,
            common::pg_bin().display()
        ),
    )
    .unwrap();
    let command: String = job.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
    let out = Command::new("runuser")
        .args(["-u", USER, "--", "env", "-i"])
        .arg(format!("HOME={}", user.dir.display()))
        .args([
            "PATH=/usr/bin:/bin",
            "SHELL=/bin/sh",
            "/bin/sh",
            "-c",
            &command,
        ])
        .current_dir("/")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(dir.join("db_backups/pgkeep-cron.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "the cron job line failed: {log}{}",
        common::stderr(&out)
    );
    assert!(
        log.contains("backup ok:") && log.contains("prune ok"),
        "{log}"
    );
    let backups = common::complete_backups(&dir.join("db_backups"));
    assert_eq!(backups.len(), 1, "{log}");
    assert!(!log.contains(&c.password), "the password reached the log");
    // With the connection in pgkeep.toml and ~/.pgpass, install proves the job under cron's
    // environment and says so.
    let proved = as_user(dir, &["schedule", "install"], None);
    assert!(
        common::stdout(&proved).contains("checked under cron's environment"),
        "{}{}",
        common::stdout(&proved),
        common::stderr(&proved)
    );
    std::fs::remove_file(&config).unwrap();
    std::fs::remove_file(&pgpass).unwrap();
}
