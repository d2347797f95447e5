//! The console says when a backup's globals (roles, passwords, properties) are partial: in
//! the backups pane's status column and among the health warnings.

mod console_support;

use console_support::*;
use pgkeep::engine::manifest::GlobalsEntry;

#[test]
fn partial_globals_show_in_the_backups_pane_and_the_health_warnings() {
    let mut s = state();
    // The newest regular backup (the one the health warnings look at).
    let newest = s
        .backups
        .iter_mut()
        .filter(|e| e.status.is_restorable() && e.label.as_deref() != Some("pre-restore"))
        .max_by_key(|e| e.time)
        .expect("a finished backup in the fixture");
    let t = newest.time;
    let m = newest.manifest.get_or_insert_with(|| manifest(t, None));
    m.globals = Some(GlobalsEntry {
        file: "shop.globals.sql".into(),
        sha256: "00".into(),
        bytes: 10,
        status: "partial".into(),
        reason: Some("no password verifiers (not superuser)".into()),
        plain_sha256: None,
    });
    let name = newest.name.clone();
    s.health = pgkeep::alerts::backup_health(&s.backups, &s.config, s.now);
    assert!(
        s.health.iter().any(|w| w.contains(&name)
            && w.contains("globals partial: no password verifiers (not superuser)")),
        "{:?}",
        s.health
    );
    let screen = text(&render(&s, 160, 40));
    assert!(screen.contains("globals partial"), "{screen}");
}
