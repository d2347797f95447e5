//! The backups pane lists dumps and base backups in one list, newest first: a merge of the
//! catalog (newest first) and the base backups (oldest first) by time.

use super::state::ListRow;
use crate::engine::catalog::BackupEntry;
use crate::engine::physical::base_catalog::BaseBackup;

/// The merged rows; with no base backups exactly the dumps in catalog order.
pub fn merge(dumps: &[BackupEntry], bases: &[BaseBackup]) -> Vec<ListRow> {
    let mut out = Vec::with_capacity(dumps.len() + bases.len());
    let mut b = bases.len();
    for (i, d) in dumps.iter().enumerate() {
        while b > 0 && bases[b - 1].manifest.started_at > d.time {
            b -= 1;
            out.push(ListRow::Base(b));
        }
        out.push(ListRow::Dump(i));
    }
    while b > 0 {
        b -= 1;
        out.push(ListRow::Base(b));
    }
    out
}

/// The row index of the dump at `path`, or of the base backup at `path`.
pub fn position(
    rows: &[ListRow],
    dumps: &[BackupEntry],
    bases: &[BaseBackup],
    path: &std::path::Path,
) -> Option<usize> {
    rows.iter().position(|r| match r {
        ListRow::Dump(i) => dumps[*i].path == path,
        ListRow::Base(i) => bases[*i].path == path,
    })
}
