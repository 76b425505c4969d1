//! The in-house statement in force for every key, in memory, kept current with the database.
//!
//! Checks and scrubs read it instead of querying the statements. Before each answer the index
//! catches up with the statements committed since its last look (`store::statements::since`: one
//! indexed probe that usually finds nothing), so a statement recorded anywhere, on any instance,
//! binds the next check at once.
//!
//! A [`Statements`] is an immutable snapshot, cheap to clone: a scrub keeps one for its whole list
//! while new statements arrive. It is two maps: a large `base` and a small `recent` map of the
//! statements that arrived since `base` was built. New statements copy only `recent` when a
//! snapshot still holds it; `recent` is folded into `base` once it grows past a share of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::domain::{Channel, Statement};
use crate::store::statements::{since, Change, Cursor};
use crate::store::{DbConnection, QueryResult};

const CHANNELS: usize = Channel::ALL.len();

/// `recent` is folded into `base` past this many entries, or past an eighth of `base`, whichever
/// is more: each fold copies `base` if a snapshot still holds it, so folds must stay rare.
const FOLD_AT: usize = 4_096;

/// Each key's latest statement, per channel.
type Maps = [HashMap<String, Statement>; CHANNELS];

/// The statements in force on every channel at one moment.
#[derive(Clone, Default)]
pub struct Statements {
    base: Arc<Maps>,
    recent: Arc<Maps>,
    up_to: i64,
}

impl Statements {
    /// A stored key's latest statement on a channel (for a named person at an address, the
    /// statement in force also weighs their household's: see `scrub::knowledge`).
    pub fn get(&self, channel: Channel, key: &str) -> Option<&Statement> {
        let c = channel as usize;
        self.recent[c].get(key).or_else(|| self.base[c].get(key))
    }

    /// The highest statement id this snapshot holds.
    pub fn up_to(&self) -> i64 {
        self.up_to
    }

    /// The statements of one channel (what a scrub reads).
    pub fn on(&self, channel: Channel) -> OnChannel {
        OnChannel { statements: self.clone(), channel }
    }

    /// Keys in force on every channel.
    pub fn len(&self) -> usize {
        (0..CHANNELS).map(|c| self.base[c].len() + self.recent[c].iter().filter(|(k, _)| !self.base[c].contains_key(*k)).count()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take in statements, in any order and any number of times each: for every key the latest
    /// by (recorded_at, id) stays in force. (A stored statement with an unknown channel or kind
    /// never gets here: reading it is an error, see `store::columns`.)
    pub fn apply(&mut self, changes: impl IntoIterator<Item = Change>) {
        let changes = changes.into_iter();
        let (many, _) = changes.size_hint();
        // A large batch (the first load, a bulk import) goes straight into `base`.
        if many > FOLD_AT {
            self.fold();
        }
        for c in changes {
            self.up_to = self.up_to.max(c.id);
            let statement = Statement { recorded_at: c.recorded_at, id: c.id, kind: c.kind };
            if self.get(c.channel, &c.contact_key).is_some_and(|s| !statement.is_later_than(s)) {
                continue;
            }
            let maps = if many > FOLD_AT { &mut self.base } else { &mut self.recent };
            Arc::make_mut(maps)[c.channel as usize].insert(c.contact_key, statement);
        }
        let recent: usize = self.recent.iter().map(HashMap::len).sum();
        let base: usize = self.base.iter().map(HashMap::len).sum();
        if recent > FOLD_AT.max(base / 8) {
            self.fold();
        }
    }

    /// Move `recent` into `base`. Every entry of `recent` is later than `base`'s for its key.
    fn fold(&mut self) {
        if self.recent.iter().all(HashMap::is_empty) {
            return;
        }
        let recent = std::mem::take(Arc::make_mut(&mut self.recent));
        let base = Arc::make_mut(&mut self.base);
        for (c, map) in recent.into_iter().enumerate() {
            base[c].extend(map);
        }
    }
}

/// Every statement in force now, read once: for a process that needs one state and no index
/// kept current (the CLI's scrub).
pub fn read_now(conn: &mut DbConnection) -> QueryResult<Statements> {
    Ok(read_all(conn)?.0)
}

fn read_all(conn: &mut DbConnection) -> QueryResult<(Statements, Cursor)> {
    let (changes, cursor) = since(conn, &Cursor::Start)?;
    let mut statements = Statements::default();
    statements.apply(changes);
    Ok((statements, cursor))
}

/// One channel of a snapshot.
#[derive(Clone)]
pub struct OnChannel {
    statements: Statements,
    channel: Channel,
}

impl OnChannel {
    pub fn get(&self, key: &str) -> Option<&Statement> {
        self.statements.get(self.channel, key)
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn up_to(&self) -> i64 {
        self.statements.up_to()
    }
}

/// The index of one process: the latest snapshot and where it has read up to.
pub struct InHouse {
    state: Mutex<(Statements, Cursor)>,
}

impl InHouse {
    /// Read every statement.
    pub fn load(conn: &mut DbConnection) -> QueryResult<InHouse> {
        Ok(InHouse { state: Mutex::new(read_all(conn)?) })
    }

    /// The statements in force now: every statement committed before this call is in it.
    ///
    /// The read runs outside the lock, so checks on several threads read side by side; what each
    /// brings back is applied under the lock (applying is order-free and idempotent), and the
    /// cursor kept is the later of the two.
    pub fn current(&self, conn: &mut DbConnection) -> QueryResult<Statements> {
        let cursor = self.lock().1.clone();
        let (changes, read_to) = since(conn, &cursor)?;
        let mut state = self.lock();
        if !changes.is_empty() {
            state.0.apply(changes);
        }
        let kept = std::mem::replace(&mut state.1, Cursor::Start);
        state.1 = kept.later(read_to);
        Ok(state.0.clone())
    }

    /// (key, channel) pairs with a statement in force, as last read.
    pub fn keys_in_force(&self) -> usize {
        self.lock().0.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Statements, Cursor)> {
        // The state is consistent between statements of this module, so a panic elsewhere while
        // it was held leaves nothing half done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDateTime;
    use proptest::prelude::*;

    use super::*;
    use crate::domain::preference::is_later;
    use crate::domain::time::fixtures;
    use crate::domain::StatementKind;

    fn change(id: i64, key: &str, channel: &str, minute: u32, kind: &str) -> Change {
        let (channel, kind) = (channel.parse().expect("a channel"), kind.parse().expect("a statement kind"));
        Change { id, contact_key: key.into(), channel, recorded_at: fixtures::at("2026-11-25", 9, minute), kind }
    }

    #[test]
    fn the_latest_statement_by_time_then_id_is_in_force() {
        let mut s = Statements::default();
        s.apply([change(1, "a", "call", 10, "opt_out"), change(2, "a", "call", 5, "consent")]);
        // Recorded earlier (a legacy import), even though its id is higher: not in force.
        assert_eq!(s.get(Channel::Call, "a").map(|x| x.kind), Some(StatementKind::OptOut));
        s.apply([change(3, "a", "call", 10, "consent")]);
        // Same time: the higher id wins.
        assert_eq!(s.get(Channel::Call, "a").map(|x| (x.id, x.kind)), Some((3, StatementKind::Consent)));
        assert_eq!(s.get(Channel::Sms, "a"), None);
        assert_eq!(s.up_to(), 3);
    }

    #[test]
    fn a_snapshot_does_not_move_when_statements_arrive() {
        let mut s = Statements::default();
        s.apply([change(1, "a", "sms", 1, "opt_out")]);
        let before = s.clone();
        s.apply([change(2, "a", "sms", 2, "consent"), change(3, "b", "sms", 2, "opt_out")]);
        assert_eq!(before.get(Channel::Sms, "a").map(|x| x.kind), Some(StatementKind::OptOut));
        assert_eq!(before.get(Channel::Sms, "b"), None);
        assert_eq!(before.up_to(), 1);
        assert_eq!(s.get(Channel::Sms, "a").map(|x| x.kind), Some(StatementKind::Consent));
        assert_eq!(s.on(Channel::Sms).get("b").map(|x| x.id), Some(3));
    }

    #[test]
    fn cursors_keep_the_later_read() {
        assert_eq!(Cursor::Id(4).later(Cursor::Id(9)), Cursor::Id(9));
        assert_eq!(Cursor::Id(9).later(Cursor::Id(4)), Cursor::Id(9));
        assert_eq!(Cursor::Start.later(Cursor::Id(4)), Cursor::Id(4));
        let (early, late) = (Cursor::Snapshot("10:15:10,12".into()), Cursor::Snapshot("12:20:12".into()));
        assert_eq!(early.clone().later(late.clone()), late);
        assert_eq!(late.clone().later(early), late);
    }

    proptest! {
        /// Whatever the order, the batching and the repeats (a PostgreSQL read may hand a
        /// statement back twice), and whatever folds happen on the way, the index answers as the
        /// rule applied to all statements at once, and a snapshot taken midway answers as the rule
        /// applied to what it had seen.
        #[test]
        fn the_index_answers_as_the_rule_applied_to_everything(
            raw in prop::collection::vec((0..40usize, 0..4usize, 0..30u32, any::<bool>()), 1..12_000),
            cuts in prop::collection::vec(0..12_000usize, 0..6),
            repeat in prop::collection::vec(0..12_000usize, 0..50),
        ) {
            let channels = ["call", "sms", "mail", "email"];
            let all: Vec<Change> = raw
                .iter()
                .enumerate()
                .map(|(i, &(k, c, m, opt))| change(i as i64 + 1, &format!("k{k}"), channels[c], m, if opt { "opt_out" } else { "consent" }))
                .collect();
            let truth = |seen: &[Change]| {
                let mut t: HashMap<(Channel, String), (NaiveDateTime, i64)> = HashMap::new();
                for c in seen {
                    let e = t.entry((c.channel, c.contact_key.clone())).or_insert((c.recorded_at, c.id));
                    if is_later((c.recorded_at, c.id), *e) {
                        *e = (c.recorded_at, c.id);
                    }
                }
                t
            };
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (all.len() + 1)).collect();
            cuts.push(all.len());
            cuts.sort_unstable();
            let mut s = Statements::default();
            let mut from = 0;
            let mut snapshots = Vec::new();
            for cut in cuts {
                // The batch, backwards, with some statements seen before handed back again.
                let mut batch: Vec<Change> = all[from..cut].iter().rev().cloned().collect();
                batch.extend(repeat.iter().filter(|&&r| r < cut).map(|&r| all[r].clone()));
                s.apply(batch);
                snapshots.push((s.clone(), cut));
                from = cut;
            }
            for (snap, seen) in snapshots {
                let t = truth(&all[..seen]);
                for k in 0..40 {
                    for ch in Channel::ALL {
                        let want = t.get(&(*ch, format!("k{k}"))).copied();
                        prop_assert_eq!(snap.get(*ch, &format!("k{k}")).map(|x| (x.recorded_at, x.id)), want);
                    }
                }
                prop_assert_eq!(snap.len(), t.len());
            }
        }
    }
}
