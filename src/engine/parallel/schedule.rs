//! Which piece of work may run next: each table's COPY as soon as it arrives; its indexes
//! and primary/unique/check constraints once its data is in; foreign keys once both tables
//! are complete; ANALYZE once a table's indexes are built. Largest tables first. Two pieces
//! of work that would lock each other out of a table never run at the same time (several
//! index builds on one table may). Pure bookkeeping: no I/O, tested on its own.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::classify::SessionState;
use super::reader::Spool;

/// What a piece of work does.
#[derive(Debug, Clone)]
pub enum Job {
    /// COPY the spooled rows into the table.
    Copy {
        /// The `COPY … FROM stdin;` statement.
        sql: String,
        /// The rows.
        spool: Arc<Spool>,
    },
    /// One post-data statement (index, constraint, foreign key).
    Sql {
        /// What it builds.
        step: Step,
        /// The statement.
        sql: String,
    },
    /// ANALYZE the table.
    Analyze,
}

/// The kind of a piece of work, as the progress display names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Loading rows.
    Copy,
    /// Building an index.
    Index,
    /// Adding a primary key, unique, exclusion or check constraint.
    Constraint,
    /// Adding (and validating) a foreign key.
    ForeignKey,
    /// Creating extended statistics or setting a statistics target (before ANALYZE).
    Statistics,
    /// Gathering statistics.
    Analyze,
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Step::Copy => "copy",
            Step::Index => "index",
            Step::Constraint => "constraint",
            Step::ForeignKey => "foreign key",
            Step::Statistics => "statistics",
            Step::Analyze => "analyze",
        })
    }
}

/// A piece of work handed to a worker.
#[derive(Debug, Clone)]
pub struct Task {
    /// Its number, to report it done.
    pub id: usize,
    /// The table it is about (the referencing one for a foreign key).
    pub table: String,
    /// What to do.
    pub job: Job,
    /// The session settings in effect where it was in the dump.
    pub state: Arc<SessionState>,
    other: Option<String>,
    step: Step,
}

impl Task {
    /// What it does.
    pub fn step(&self) -> Step {
        self.step
    }
}

#[derive(Debug, Default)]
struct Table {
    /// Its work not started yet, in the order it was planned (a foreign key is filed under
    /// the referencing table).
    pending: Vec<Task>,
    spool: Option<Arc<Spool>>,
    loaded: bool,
    /// Index and constraint work known and not yet finished.
    building: usize,
    analyzed: bool,
    shared: usize,
    exclusive: bool,
}

impl Table {
    fn bytes(&self) -> u64 {
        self.spool
            .as_ref()
            .map_or(0, |s| s.written.load(Ordering::Relaxed))
    }
}

/// The work of one load.
#[derive(Debug, Default)]
pub struct Plan {
    tables: HashMap<String, Table>,
    /// Pieces of work not started yet (in the tables' `pending`).
    pending: usize,
    running: HashMap<usize, Task>,
    next_id: usize,
    stream_done: bool,
    /// Weighted work finished (bytes of table data: a COPY counts its bytes, an index half).
    pub work_done: u64,
}

/// The weight of a step relative to a COPY of the same table, in percent.
fn weight(step: Step) -> u64 {
    match step {
        Step::Copy => 100,
        Step::Index | Step::Constraint => 50,
        Step::ForeignKey => 30,
        Step::Statistics | Step::Analyze => 5,
    }
}

impl Plan {
    /// An empty plan.
    pub fn new() -> Plan {
        Plan::default()
    }

    fn push(
        &mut self,
        table: &str,
        other: Option<String>,
        step: Step,
        job: Job,
        state: Arc<SessionState>,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        self.pending += 1;
        let queue = &mut self.tables.entry(table.to_string()).or_default().pending;
        queue.push(Task {
            id,
            table: table.to_string(),
            job,
            state,
            other,
            step,
        });
    }

    /// A table's COPY, runnable at once.
    pub fn add_copy(
        &mut self,
        table: &str,
        sql: String,
        spool: Arc<Spool>,
        state: Arc<SessionState>,
    ) {
        self.tables.entry(table.to_string()).or_default().spool = Some(spool.clone());
        self.push(table, None, Step::Copy, Job::Copy { sql, spool }, state);
    }

    /// True when `table` has a COPY in this load (so its post-data work may run early).
    pub fn has_table(&self, table: &str) -> bool {
        self.tables.get(table).is_some_and(|t| t.spool.is_some())
    }

    /// An index, constraint or statistics step of `table`, runnable once its data is in
    /// (one that is not [`Step::Index`] runs alone on the table, after the work planned
    /// for it before).
    pub fn add_build(&mut self, table: &str, step: Step, sql: String, state: Arc<SessionState>) {
        self.tables.entry(table.to_string()).or_default().building += 1;
        self.push(table, None, step, Job::Sql { step, sql }, state);
    }

    /// A foreign key from `table` to `references`, runnable once both are complete.
    pub fn add_foreign_key(
        &mut self,
        table: &str,
        references: &str,
        sql: String,
        state: Arc<SessionState>,
    ) {
        let step = Step::ForeignKey;
        self.push(
            table,
            Some(references.to_string()),
            step,
            Job::Sql { step, sql },
            state,
        );
    }

    /// The whole stream was read: no more work will be added; with `analyze`, each table's
    /// ANALYZE is planned.
    pub fn stream_done(&mut self, analyze: bool) {
        self.stream_done = true;
        if !analyze {
            return;
        }
        let state = Arc::new(SessionState::default());
        let mut names: Vec<String> = self.tables.keys().cloned().collect();
        names.sort();
        for name in names {
            if self.has_table(&name) {
                self.push(&name, None, Step::Analyze, Job::Analyze, state.clone());
            }
        }
    }

    /// The tables `task` locks, and whether exclusively: its own (shared by index builds),
    /// and the referenced one of a foreign key.
    fn locks(task: &Task) -> impl Iterator<Item = (&str, bool)> {
        let own = (task.table.as_str(), task.step != Step::Index);
        let other = task.other.as_deref().filter(|o| *o != task.table);
        std::iter::once(own).chain(other.map(|o| (o, true)))
    }

    /// Whether `task`, planned on `table` (its entry), may start now.
    fn ready(&self, table: &Table, task: &Task) -> bool {
        let complete = |t: &Table| t.loaded && t.building == 0;
        let other = || task.other.as_deref().and_then(|o| self.tables.get(o));
        let ok = match task.step {
            Step::Copy => true,
            Step::Index | Step::Constraint | Step::Statistics => table.loaded,
            Step::Analyze => self.stream_done && complete(table),
            Step::ForeignKey => {
                self.stream_done && complete(table) && other().is_some_and(complete)
            }
        };
        ok && Self::locks(task).all(|(name, exclusive)| {
            let t = if name == task.table {
                Some(table)
            } else {
                self.tables.get(name)
            };
            t.is_none_or(|t| !t.exclusive && (t.shared == 0 || !exclusive))
        })
    }

    /// The next piece of work that may start, largest table first (the first planned
    /// among equals); it counts as running. Looks at each table once, at its work in
    /// the planned order, so a load of thousands of tables is not slowed by its own plan.
    pub fn next_ready(&mut self) -> Option<Task> {
        // (table, position in its pending work, table bytes, task id)
        let mut best: Option<(&String, usize, u64, usize)> = None;
        for (name, table) in &self.tables {
            let Some((at, task)) = table
                .pending
                .iter()
                .enumerate()
                .find(|(_, t)| self.ready(table, t))
            else {
                continue;
            };
            let size = table.bytes();
            if best.is_none_or(|(_, _, s, id)| size > s || (size == s && task.id < id)) {
                best = Some((name, at, size, task.id));
            }
        }
        let (name, at) = best.map(|(name, at, _, _)| (name.clone(), at))?;
        let task = self.tables.get_mut(&name)?.pending.remove(at);
        self.pending -= 1;
        for (name, excl) in Self::locks(&task) {
            let t = self.tables.entry(name.to_string()).or_default();
            if excl {
                t.exclusive = true;
            } else {
                t.shared += 1;
            }
        }
        self.running.insert(task.id, task.clone());
        Some(task)
    }

    /// Work `id` finished successfully.
    pub fn finished(&mut self, id: usize) {
        let Some(task) = self.running.remove(&id) else {
            return;
        };
        for (name, excl) in Self::locks(&task) {
            if let Some(t) = self.tables.get_mut(name) {
                if excl {
                    t.exclusive = false;
                } else {
                    t.shared -= 1;
                }
            }
        }
        let t = self.tables.entry(task.table.clone()).or_default();
        let bytes = t.bytes();
        match task.step {
            Step::Copy => t.loaded = true,
            Step::Index | Step::Constraint | Step::Statistics => t.building -= 1,
            Step::Analyze => t.analyzed = true,
            Step::ForeignKey => {}
        }
        if task.step != Step::Copy {
            self.work_done += bytes * weight(task.step) / 100;
        }
    }

    /// True when every piece of work finished (and no more can come).
    pub fn complete(&self) -> bool {
        self.stream_done && self.pending == 0 && self.running.is_empty()
    }

    /// Tables with data in this load.
    pub fn tables(&self) -> usize {
        self.tables.values().filter(|t| t.spool.is_some()).count()
    }

    /// Bytes of table data spooled so far.
    pub fn data_bytes(&self) -> u64 {
        self.tables.values().map(Table::bytes).sum()
    }

    /// Weighted work of the post-data steps known so far, or a guess (as much again as
    /// the data) while the stream is still being read.
    pub fn build_work_total(&self) -> u64 {
        let data: u64 = self.tables.values().map(Table::bytes).sum();
        if !self.stream_done {
            return data;
        }
        let pending = self.tables.values().flat_map(|t| t.pending.iter());
        let all = pending.chain(self.running.values());
        let left: u64 = all
            .filter(|t| t.step != Step::Copy)
            .map(|t| self.tables.get(&t.table).map_or(0, Table::bytes) * weight(t.step) / 100)
            .sum();
        self.work_done + left
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn spool(bytes: u64) -> Arc<Spool> {
        Arc::new(Spool::for_test(bytes))
    }

    fn st() -> Arc<SessionState> {
        Arc::new(SessionState::default())
    }

    #[test]
    fn equal_tables_start_in_the_planned_order() {
        let mut p = Plan::new();
        let names: Vec<String> = (0..50).map(|i| format!("public.t{i}")).collect();
        for n in &names {
            p.add_copy(n, format!("COPY {n}"), spool(7), st());
        }
        p.add_copy("public.big", "COPY big".into(), spool(8), st());
        let mut order = Vec::new();
        while let Some(t) = p.next_ready() {
            order.push(t.table);
        }
        assert_eq!(order[0], "public.big");
        assert_eq!(order[1..], names[..]);
    }

    #[test]
    fn builds_wait_for_data_and_foreign_keys_for_both_tables() {
        let mut p = Plan::new();
        p.add_copy("public.a", "COPY a".into(), spool(10), st());
        p.add_copy("public.b", "COPY b".into(), spool(20), st());
        let first = p.next_ready().unwrap();
        assert_eq!(first.table, "public.b", "largest first");
        let second = p.next_ready().unwrap();
        assert_eq!(second.table, "public.a");
        p.add_build("public.a", Step::Constraint, "pk a".into(), st());
        p.add_build("public.b", Step::Index, "ix1 b".into(), st());
        p.add_build("public.b", Step::Index, "ix2 b".into(), st());
        p.add_foreign_key("public.a", "public.b", "fk".into(), st());
        p.add_foreign_key("public.b", "public.a", "fk2".into(), st());
        p.stream_done(true);
        assert!(p.next_ready().is_none(), "nothing before the data is in");
        p.finished(second.id);
        let pk = p.next_ready().unwrap();
        assert_eq!(pk.step(), Step::Constraint);
        assert!(p.next_ready().is_none(), "a's pk locks a; b still copying");
        p.finished(first.id);
        let ix1 = p.next_ready().unwrap();
        let ix2 = p.next_ready().unwrap();
        assert_eq!(
            (ix1.step(), ix2.step()),
            (Step::Index, Step::Index),
            "index builds share b"
        );
        assert!(p.next_ready().is_none());
        p.finished(pk.id);
        let an = p.next_ready().unwrap();
        assert_eq!((an.step(), an.table.as_str()), (Step::Analyze, "public.a"));
        assert!(p.next_ready().is_none(), "a is analyzing, b building");
        p.finished(ix1.id);
        p.finished(ix2.id);
        p.finished(an.id);
        let mut rest = Vec::new();
        while let Some(t) = p.next_ready() {
            rest.push(t.clone());
        }
        // Both foreign keys lock both tables: only one at a time; ANALYZE b locks b.
        assert_eq!(rest.len(), 1, "{rest:?}");
        let mut done = 0;
        let mut queue = rest;
        while let Some(t) = queue.pop() {
            p.finished(t.id);
            done += 1;
            while let Some(t) = p.next_ready() {
                queue.push(t);
            }
        }
        assert_eq!(done, 3);
        assert!(p.complete());
        let _ = AtomicBool::new(false);
    }
}
