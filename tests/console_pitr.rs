//! The console's point-in-time side with fixture data: base backups beside the dumps, the
//! timeline bar of the recoverable window (gaps red), the "restore to a moment" dialog from
//! typing a time to the typed-name confirmation, and the keys that make no sense on a base
//! backup. Snapshots at 120x40 and 80x24.

mod console_support;

use chrono::{DateTime, Duration, Utc};
use console_support::*;
use crossterm::event::KeyCode;
use pgkeep::console::msg::{Effect, Msg};
use pgkeep::console::state::{Dialog, State};
use pgkeep::console::update::update;
use pgkeep::engine::physical::base_catalog::{BaseBackup, BaseManifest};
use pgkeep::engine::physical::target_time::TargetTime;
use pgkeep::engine::physical::window::RecoveryWindow;
use pgkeep::monitor::pitr_timeline::{BaseMark, PitrTimeline};
use ratatui::style::Color;

const SYSID: &str = "7441234567890123456";

fn hours_ago(h: f64) -> DateTime<Utc> {
    now() - Duration::minutes((h * 60.0) as i64)
}

fn base(started_hours_ago: f64, start_lsn: &str) -> BaseBackup {
    let started = hours_ago(started_hours_ago);
    let name = format!("{SYSID}_{}.tar.gz", started.format("%Y%m%dT%H%M%SZ"));
    BaseBackup {
        path: format!("/srv/facturatie/db_backups/base/{name}").into(),
        name,
        manifest: BaseManifest {
            kind: "base".into(),
            system_identifier: SYSID.into(),
            server_version: "15.10".into(),
            timeline: 1,
            start_lsn: start_lsn.into(),
            stop_lsn: start_lsn.replace("28", "138"),
            wal_segment_size: 16 << 20,
            started_at: started,
            finished_at: started + Duration::minutes(3),
            compressed_bytes: 48_300_000,
            raw_bytes: 212_000_000,
            sha256: "ab".repeat(32),
            verified_by_pg_verifybackup: true,
            target: "direct".into(),
            pgkeep_version: "0.1.0".into(),
        },
    }
}

/// Two base backups (30 h and 6 h ago); a segment archived every 30 minutes from the first
/// one's start until 36 minutes ago; `holes` (positions) missing.
fn with_pitr(holes: &[usize]) -> State {
    let mut s = state();
    s.bases = vec![base(30.0, "0/2000028"), base(6.0, "0/30000028")];
    let run: Vec<Option<DateTime<Utc>>> = (0..60)
        .map(|i| (!holes.contains(&i)).then(|| hours_ago(30.0 - 0.5 * i as f64 + 0.1)))
        .collect();
    let gap = (!holes.is_empty()).then(|| "000000010000000000000014 missing".to_string());
    let window = RecoveryWindow {
        system_identifier: SYSID.into(),
        from: Some(if holes.is_empty() {
            s.bases[0].manifest.finished_at
        } else {
            s.bases[1].manifest.finished_at
        }),
        to: run.last().copied().flatten(),
        base_backups: 2,
        archived_segments: 60,
        gap,
        ..Default::default()
    };
    s.pitr = Some(PitrTimeline {
        window,
        bases: vec![
            BaseMark {
                name: s.bases[0].name.clone(),
                finished_at: s.bases[0].manifest.finished_at,
                start_pos: 0,
            },
            BaseMark {
                name: s.bases[1].name.clone(),
                finished_at: s.bases[1].manifest.finished_at,
                start_pos: 48,
            },
        ],
        run,
    });
    s
}

fn snap(name: &str, state: &State) {
    for (w, h) in [(120, 40), (80, 24)] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(state, w, h).backend());
    }
}

fn type_text(s: &mut State, text: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in text.chars() {
        out.extend(update(s, key(c)));
    }
    out
}

#[test]
fn base_backups_are_listed_beside_the_dumps_with_the_timeline() {
    let mut s = with_pitr(&[]);
    let rows = s.rows();
    assert_eq!(rows.len(), 8, "6 dumps and 2 base backups");
    // Newest first: the dump of 1 h ago, then the base backup of 6 h ago.
    s.selected = 1;
    assert!(s.selected_base().is_some());
    assert!(s.selected_backup().is_none());
    snap("pitr_backups", &s);
    let term = render(&s, 120, 40);
    let screen = text(&term);
    assert!(screen.contains("base · verified"), "{screen}");
    assert!(screen.contains("TL1 0/30000028"), "{screen}");
    assert!(screen.contains("newest change archived 36m"), "{screen}");
    // The restorable stretch is green, the not-yet-archived tail yellow.
    let (x, y) = find(&term, "PITR ").unwrap();
    let buf = term.backend().buffer();
    assert_eq!(buf[(x + 60, y)].symbol(), "━");
    assert_eq!(buf[(x + 60, y)].fg, Color::Green);
    let last = buf[(x + 5 + (120 - 2 - 6), y)].clone();
    assert_eq!((last.symbol(), last.fg), ("┄", Color::Yellow));
    assert!(
        screen.contains(" t to a moment"),
        "the key bar offers the dialog"
    );
    s.focus = pgkeep::console::state::Pane::Log;
    let screen = text(&render(&s, 80, 24));
    assert!(
        screen.contains("backups: 6 · newest 1h00m ago (INTERRUPTED) · 2 base"),
        "{screen}"
    );
}

#[test]
fn a_gap_is_red_and_blocks_the_base_backup_before_it() {
    let s = with_pitr(&[20, 21]);
    snap("pitr_gap", &s);
    let term = render(&s, 120, 40);
    let screen = text(&term);
    assert!(
        screen.contains("GAP 000000010000000000000014 missing"),
        "{screen}"
    );
    let (x, y) = find(&term, "╳").expect("the hole is drawn");
    assert_eq!(term.backend().buffer()[(x, y)].fg, Color::Red);
}

#[test]
fn without_a_base_backup_one_line_says_what_to_run() {
    let mut s = with_pitr(&[]);
    if let Some(p) = s.pitr.as_mut() {
        p.bases.clear();
        p.run.clear();
        p.window.archived_segments = 0;
    }
    s.bases.clear();
    for (w, h) in [(120, 40), (80, 24)] {
        let screen = text(&render(&s, w, h));
        assert!(
            screen.contains("no base backup and no archived WAL: set the archive"),
            "{screen}"
        );
        assert!(!screen.contains("to a moment "), "{screen}");
    }
}

#[test]
fn dump_keys_on_a_base_backup_say_so_in_one_line() {
    let mut s = with_pitr(&[]);
    s.selected = 1;
    for (k, says) in [
        ('r', "press t to restore to a moment after it"),
        ('v', "checked by pg_verifybackup"),
        ('D', "removed by `pgkeep prune`"),
    ] {
        let effects = update(&mut s, key(k));
        assert!(effects.is_empty(), "{k}: {effects:?}");
        assert!(s.dialog.is_none(), "{k}: {:?}", s.dialog);
        let flash = s.flash.clone().unwrap_or_default();
        assert!(flash.contains(says), "{k}: {flash}");
    }
}

#[test]
fn the_dialog_reads_the_time_as_it_is_typed() {
    let mut s = with_pitr(&[]);
    update(&mut s, key('t'));
    assert!(matches!(s.dialog, Some(Dialog::RestoreMoment(_))));
    snap("pitr_dialog_empty", &s);
    // Today's date is typed already: add a time 3 h ago (08:00 UTC).
    type_text(&mut s, "08:00");
    snap("pitr_dialog_ready", &s);
    let screen = text(&render(&s, 120, 40));
    assert!(screen.contains("= 2026-11-24 08:00:00 +00:00"), "{screen}");
    assert!(
        screen.contains("base backup finished 2026-11-24 05:03:00 +00:00"),
        "{screen}"
    );
    assert!(screen.contains("replays 8 WAL segments"), "{screen}");

    // Before the oldest base backup finished: refused with the reason, Enter does nothing.
    let mut r = with_pitr(&[]);
    update(&mut r, key('t'));
    for _ in 0..11 {
        update(&mut r, code(KeyCode::Backspace));
    }
    type_text(&mut r, "2026-11-22 10:00 +01:00");
    snap("pitr_dialog_refused", &r);
    let screen = text(&render(&r, 120, 40));
    assert!(
        screen.contains(
            "refused: 2026-11-22 09:00:00 +00:00 is before the oldest base backup finished"
        ),
        "{screen}"
    );
    update(&mut r, code(KeyCode::Enter));
    match &r.dialog {
        Some(Dialog::RestoreMoment(d)) => assert!(!d.confirming),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_typed_name_confirms_and_starts_the_job() {
    let mut s = with_pitr(&[]);
    update(&mut s, key('t'));
    type_text(&mut s, "08:00");
    update(&mut s, code(KeyCode::Enter));
    type_text(&mut s, "sho");
    update(&mut s, code(KeyCode::Enter));
    snap("pitr_dialog_mismatch", &s);
    let effects = type_text(&mut s, "p");
    assert!(effects.is_empty());
    let effects = update(&mut s, code(KeyCode::Enter));
    let want = TargetTime::At(hours_ago(3.0));
    assert_eq!(effects, vec![Effect::StartRestoreMoment { time: want }]);
    assert!(s.dialog.is_none());
    let job = s.history.last().unwrap();
    assert_eq!(job.what, "restore of shop to 2026-11-24 08:00:00 +00:00");
    assert!(
        job.command
            .ends_with("restore --time '2026-11-24 08:00:00 +00:00'"),
        "{}",
        job.command
    );
    // The steps of the restore show in the gauge.
    update(
        &mut s,
        Msg::Job(pgkeep::engine::progress::JobEvent::Log(
            "WAL replayed: 17 segments".into(),
        )),
    );
    let screen = text(&render(&s, 120, 40));
    assert!(
        screen.contains("WAL replayed: 17 of ~17 segments"),
        "{screen}"
    );
    update(
        &mut s,
        Msg::Job(pgkeep::engine::progress::JobEvent::Log(
            "WAL replayed: 1 segments".into(),
        )),
    );
    let screen = text(&render(&s, 120, 40));
    assert!(
        screen.contains("WAL replayed: 1 of ~8 segments"),
        "{screen}"
    );
}

#[test]
fn latest_and_the_remapped_key() {
    let mut s = with_pitr(&[]);
    let table = [("restore_time".to_string(), "T".to_string())].into();
    s.keys = pgkeep::console::keymap::KeyMap::from_config(&table).unwrap();
    update(&mut s, key('t'));
    assert!(s.dialog.is_none(), "t is free after the remap");
    update(&mut s, key('T'));
    for _ in 0..11 {
        update(&mut s, code(KeyCode::Backspace));
    }
    type_text(&mut s, "latest");
    let screen = text(&render(&s, 120, 40));
    assert!(screen.contains("= the newest change"), "{screen}");
    assert!(
        screen.contains("the newest are not archived yet: pgkeep archives them first"),
        "{screen}"
    );
    // Backspace on an empty name goes back to the time.
    update(&mut s, code(KeyCode::Enter));
    update(&mut s, code(KeyCode::Backspace));
    match &s.dialog {
        Some(Dialog::RestoreMoment(d)) => assert!(!d.confirming),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_smallest_terminal_still_draws_the_bar_and_the_dialog() {
    let mut s = with_pitr(&[20, 21]);
    let screen = text(&render(&s, 60, 16));
    assert!(screen.contains("PITR "), "{screen}");
    update(&mut s, key('t'));
    type_text(&mut s, "08:00");
    let screen = text(&render(&s, 60, 16));
    assert!(screen.contains("time > 2026-11-24 08:00"), "{screen}");
}
