//! The national registers: file parsers, the import runner, and the snapshots in memory that
//! checks and scrubs read (a sorted `Vec<u64>` of national numbers per phone register; a lookup
//! is a binary search, well under a microsecond at 17 million).

pub mod codec;
pub mod import;
pub mod mps_file;
pub mod phone_file;
pub mod undo;

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use anyhow::Context;
use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;

use crate::domain::channel::LeadTime;
use crate::domain::time::today_uk;
use crate::domain::{AddressKey, Channel, Listing, Listings, PhoneKey, Register};
use crate::store::{registers as db, Store};

/// Why a channel's registers cannot vouch for a contact date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotCovered {
    /// The register has never been imported.
    Missing(Register),
    /// The register's snapshot is too old for the date; `needed_as_of` is the oldest that would do.
    Stale { register: Register, as_of: NaiveDate, needed_as_of: Option<NaiveDate> },
}

impl NotCovered {
    pub fn explain(&self) -> String {
        match self {
            NotCovered::Missing(r) => format!("no {r} snapshot has been imported"),
            NotCovered::Stale { register, as_of, needed_as_of } => match needed_as_of {
                Some(n) => format!("the {register} snapshot of {as_of} is too old; one dated {n} or later is needed"),
                None => format!("the {register} snapshot of {as_of} is too old"),
            },
        }
    }
}

/// One phone register's snapshot in memory.
#[derive(Debug)]
pub struct PhoneSet {
    pub register: Register,
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub imported_at: NaiveDateTime,
    pub file_sha256: String,
    numbers: Vec<u64>,
    listed_since: HashMap<u64, NaiveDate>,
    index: BucketIndex,
}

/// Where each run of numbers sharing their high bits starts in the sorted numbers: a lookup reads
/// one bucket's few entries instead of binary-searching 17 million (≈24 cache misses).
#[derive(Debug, Default)]
struct BucketIndex {
    shift: u32,
    starts: Vec<u32>,
}

/// Buckets at most (4 bytes each: 16 MB).
const BUCKETS: u64 = 1 << 22;

impl BucketIndex {
    fn build(numbers: &[u64]) -> BucketIndex {
        // About four numbers a bucket, at most BUCKETS.
        let target = ((numbers.len() / 4) as u64).clamp(1, BUCKETS);
        let max = numbers.last().copied().unwrap_or(0);
        let mut shift = 0;
        while (max >> shift) >= target {
            shift += 1;
        }
        let buckets = (max >> shift) as usize + 2;
        let mut starts = vec![0u32; buckets];
        let mut i = 0usize;
        for (b, start) in starts.iter_mut().enumerate() {
            while i < numbers.len() && ((numbers[i] >> shift) as usize) < b {
                i += 1;
            }
            *start = i as u32;
        }
        BucketIndex { shift, starts }
    }

    /// The part of the sorted numbers that holds `n` if any of them does.
    fn range(&self, n: u64) -> std::ops::Range<usize> {
        let Ok(b) = usize::try_from(n >> self.shift) else { return 0..0 };
        match (self.starts.get(b), b.checked_add(1).and_then(|next| self.starts.get(next))) {
            (Some(&from), Some(&to)) => from as usize..to as usize,
            _ => 0..0,
        }
    }

    /// Where in its bucket's part of `len` numbers `n` would be if the bucket's numbers were
    /// evenly spread (registers are dense runs of numbers: close enough to land within a few).
    fn guess(&self, n: u64, len: usize) -> usize {
        let offset = n & ((1u64 << self.shift) - 1);
        (((offset as u128) * (len as u128)) >> self.shift) as usize
    }
}

/// Whether sorted `part` holds `n`, searching outwards from `guess`: steps doubling away from it
/// until `n` is passed, then a binary search of the last step (a cache line or two when the
/// guess is close; about twice a binary search at worst).
fn search_from(part: &[u64], guess: usize, n: u64) -> bool {
    let Some(last) = part.len().checked_sub(1) else { return false };
    let g = guess.min(last);
    let mut prev = g;
    let mut step = 1;
    match part[g].cmp(&n) {
        std::cmp::Ordering::Equal => true,
        // After g: part[prev] < n.
        std::cmp::Ordering::Less => loop {
            let probe = g + step;
            if probe > last {
                return part[prev + 1..].binary_search(&n).is_ok();
            }
            if part[probe] >= n {
                return part[prev + 1..=probe].binary_search(&n).is_ok();
            }
            prev = probe;
            step *= 2;
        },
        // Before g: part[prev] > n.
        std::cmp::Ordering::Greater => loop {
            let Some(probe) = g.checked_sub(step) else { return part[..prev].binary_search(&n).is_ok() };
            if part[probe] <= n {
                return part[probe..prev].binary_search(&n).is_ok();
            }
            prev = probe;
            step *= 2;
        },
    }
}

impl PhoneSet {
    fn indexed(mut self) -> PhoneSet {
        self.index = BucketIndex::build(&self.numbers);
        self
    }

    /// A snapshot from sorted numbers (as the loader and tests build one).
    pub fn new(register: Register, as_of: NaiveDate, numbers: Vec<u64>, listed_since: HashMap<u64, NaiveDate>) -> PhoneSet {
        PhoneSet {
            register,
            import_id: 0,
            as_of,
            imported_at: as_of.and_hms_opt(0, 0, 0).unwrap_or_default(),
            file_sha256: String::new(),
            numbers,
            listed_since,
            index: BucketIndex::default(),
        }
        .indexed()
    }

    pub fn entries(&self) -> usize {
        self.numbers.len()
    }

    /// `Some(listed_since)` when the number is listed (`listed_since` `None`: since before the
    /// register's first import).
    pub fn lookup(&self, nsn: u64) -> Option<Option<NaiveDate>> {
        let part = self.numbers.get(self.index.range(nsn))?;
        let guess = self.index.guess(nsn, part.len());
        search_from(part, guess, nsn).then(|| self.listed_since.get(&nsn).copied())
    }
}

/// The MPS snapshot in memory: entries by key hash (see `import::mps_hash`), sorted, with their
/// meta (`listed_since`, deceased).
#[derive(Debug)]
pub struct MpsSet {
    pub import_id: i64,
    pub as_of: NaiveDate,
    pub imported_at: NaiveDateTime,
    pub file_sha256: String,
    hashes: Vec<u64>,
    metas: Vec<u32>,
}

/// Since when a register entry has been listed, as the sequence of snapshots tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListedSince {
    /// In the register's first snapshot imported here (and given no date of request): since
    /// when is not known, so the listing binds at once.
    BeforeFirstImport,
    On(NaiveDate),
}

impl ListedSince {
    /// `None` is listed before the first import (how snapshots and listings store it).
    pub fn from_stored(date: Option<NaiveDate>) -> ListedSince {
        date.map_or(ListedSince::BeforeFirstImport, ListedSince::On)
    }

    pub fn date(self) -> Option<NaiveDate> {
        match self {
            ListedSince::BeforeFirstImport => None,
            ListedSince::On(d) => Some(d),
        }
    }
}

/// An address's MPS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpsEntry {
    pub listed_since: ListedSince,
    pub deceased: bool,
}

impl MpsEntry {
    /// A person's own entry and their household's as one: deceased if either says so, listed
    /// since the earlier; listed before the first import wins (it binds at once).
    pub fn merge(self, other: MpsEntry) -> MpsEntry {
        let listed_since = match (self.listed_since, other.listed_since) {
            (ListedSince::On(a), ListedSince::On(b)) => ListedSince::On(a.min(b)),
            _ => ListedSince::BeforeFirstImport,
        };
        MpsEntry { listed_since, deceased: self.deceased || other.deceased }
    }
}

impl MpsSet {
    /// A snapshot from (key hash, meta) entries sorted by hash.
    pub fn new(as_of: NaiveDate, entries: Vec<(u64, u32)>) -> MpsSet {
        let (hashes, metas) = entries.into_iter().unzip();
        MpsSet {
            import_id: 0,
            as_of,
            imported_at: as_of.and_hms_opt(0, 0, 0).unwrap_or_default(),
            file_sha256: String::new(),
            hashes,
            metas,
        }
    }

    pub fn entries(&self) -> usize {
        self.hashes.len()
    }

    fn get(&self, key: &str) -> Option<MpsEntry> {
        let i = self.hashes.binary_search(&import::mps_hash(key)).ok()?;
        let (listed_since, deceased) = import::mps_meta_parts(self.metas[i]);
        Some(MpsEntry { listed_since: ListedSince::from_stored(listed_since), deceased })
    }

    /// The entry for an address: a person matches their own (individual) entry and their
    /// household's, merged ([`MpsEntry::merge`]); a household matches household entries.
    pub fn lookup(&self, key: &AddressKey) -> Option<MpsEntry> {
        let own = self.get(&key.to_string());
        let household = if key.is_individual() { self.get(&key.household().to_string()) } else { None };
        match (own, household) {
            (Some(a), Some(b)) => Some(a.merge(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A register is stale when its snapshot vouches for no day from `today` on (or it has none).
pub fn is_stale(valid_until: Option<NaiveDate>, today: NaiveDate) -> bool {
    valid_until.is_none_or(|u| today > u)
}

/// A register is alarmed about (CONTRACT §11) when its snapshot vouches for this many days or fewer.
pub const ALARM_DAYS: i64 = 3;

/// Whether a register whose snapshot is valid until `valid_until` (None: no snapshot) is due a
/// staleness alarm on `today`: never imported, past, or `ALARM_DAYS` days or fewer left.
pub fn alarm_due(valid_until: Option<NaiveDate>, today: NaiveDate) -> bool {
    valid_until.is_none_or(|u| (u - today).num_days() <= ALARM_DAYS)
}

/// The state of one register, as `GET /v1/registers` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub name: Register,
    pub channel: Channel,
    pub lead_time: String,
    pub entries: u64,
    pub as_of: Option<NaiveDate>,
    pub imported_at: Option<String>,
    pub valid_until: Option<NaiveDate>,
    pub stale: bool,
}

/// The snapshots in force at one moment, held for a whole scrub so that an import arriving
/// meanwhile does not change its answers halfway.
#[derive(Debug, Clone)]
pub struct View {
    pub tps: Option<Arc<PhoneSet>>,
    pub ctps: Option<Arc<PhoneSet>>,
    pub mps: Option<Arc<MpsSet>>,
    lead_times: Arc<HashMap<Register, LeadTime>>,
}

/// A register's lead time: as configured, else its default.
fn lead_time_in(configured: &HashMap<Register, LeadTime>, r: Register) -> LeadTime {
    configured.get(&r).copied().unwrap_or_else(|| r.default_lead_time())
}

/// A register's snapshot as a view holds it.
#[derive(Debug, Clone)]
pub struct Head {
    pub as_of: NaiveDate,
    pub entries: usize,
    pub imported_at: NaiveDateTime,
    pub file_sha256: String,
}

impl View {
    /// A view of given snapshots with the default lead times.
    pub fn new(tps: Option<Arc<PhoneSet>>, ctps: Option<Arc<PhoneSet>>, mps: Option<Arc<MpsSet>>) -> View {
        View { tps, ctps, mps, lead_times: Arc::default() }
    }

    pub fn lead_time(&self, r: Register) -> LeadTime {
        lead_time_in(&self.lead_times, r)
    }

    /// The last contact date a register's snapshot vouches for (None: no snapshot).
    pub fn valid_until_of(&self, r: Register) -> Option<NaiveDate> {
        self.head(r).and_then(|h| self.lead_time(r).after(h.as_of))
    }

    /// The channel's `valid_until`: the earliest of its registers' (None for sms and email).
    pub fn valid_until(&self, channel: Channel) -> Option<NaiveDate> {
        channel.registers().iter().filter_map(|&r| self.valid_until_of(r)).min()
    }

    /// Whether every register of the channel can vouch for `contact_date` (fail closed).
    pub fn coverage(&self, channel: Channel, contact_date: NaiveDate) -> Result<(), NotCovered> {
        for &r in channel.registers() {
            let Some(head) = self.head(r) else {
                return Err(NotCovered::Missing(r));
            };
            if self.valid_until_of(r).is_none_or(|until| contact_date > until) {
                return Err(NotCovered::Stale { register: r, as_of: head.as_of, needed_as_of: self.lead_time(r).before(contact_date) });
            }
        }
        Ok(())
    }

    /// A phone number's entries on TPS and CTPS.
    pub fn phone_listings(&self, key: &PhoneKey) -> Listings {
        let mut listings = Listings::default();
        let Some(nsn) = key.uk_national() else { return listings };
        for (r, set) in [(Register::Tps, &self.tps), (Register::Ctps, &self.ctps)] {
            if let Some(listed_since) = set.as_ref().and_then(|s| s.lookup(nsn)) {
                listings.add(Listing::new(r, listed_since, self.lead_time(r), false));
            }
        }
        listings
    }

    /// An address's MPS listing.
    pub fn address_listings(&self, key: &AddressKey) -> Listings {
        let mut listings = Listings::default();
        if let Some(entry) = self.mps.as_ref().and_then(|m| m.lookup(key)) {
            listings.add(Listing::new(Register::Mps, entry.listed_since.date(), self.lead_time(Register::Mps), entry.deceased));
        }
        listings
    }

    /// A register's snapshot in this view.
    pub fn head(&self, r: Register) -> Option<Head> {
        let (as_of, entries, imported_at, sha) = match r {
            Register::Tps | Register::Ctps => {
                let set = if r == Register::Tps { self.tps.as_ref()? } else { self.ctps.as_ref()? };
                (set.as_of, set.entries(), set.imported_at, &set.file_sha256)
            }
            Register::Mps => {
                let set = self.mps.as_ref()?;
                (set.as_of, set.entries(), set.imported_at, &set.file_sha256)
            }
        };
        Some(Head { as_of, entries, imported_at, file_sha256: sha.clone() })
    }
}

/// Every register's snapshot in memory, replaced whole when a new one is imported.
#[derive(Debug, Default)]
pub struct Registers {
    phones: RwLock<HashMap<Register, Arc<PhoneSet>>>,
    mps: RwLock<Option<Arc<MpsSet>>>,
    /// Lead times that differ from the registers' defaults.
    lead_times: Arc<HashMap<Register, LeadTime>>,
}

impl Registers {
    /// Load every snapshot in the database, with these lead times (defaults for those not given).
    pub fn load(store: &Store, lead_times: HashMap<Register, LeadTime>) -> anyhow::Result<Registers> {
        let registers = Registers { lead_times: Arc::new(lead_times), ..Registers::default() };
        registers.refresh(store)?;
        Ok(registers)
    }

    pub fn lead_time(&self, r: Register) -> LeadTime {
        lead_time_in(&self.lead_times, r)
    }

    fn phone(&self, r: Register) -> Option<Arc<PhoneSet>> {
        read(&self.phones).get(&r).cloned()
    }

    pub fn mps(&self) -> Option<Arc<MpsSet>> {
        read(&self.mps).clone()
    }

    /// Reload the registers whose snapshot changed in the database (another import, or an undo
    /// back to an earlier one: told by the snapshot's import id, never by its date), and forget
    /// those that have none any more; returns those reloaded or forgotten. The old snapshot
    /// serves until the new one is loaded whole.
    pub fn refresh(&self, store: &Store) -> anyhow::Result<Vec<Register>> {
        let mut conn = store.conn()?;
        let heads = db::heads(&mut conn).context("reading register snapshots")?;
        let mut reloaded = Vec::new();
        for &r in Register::ALL {
            if heads.iter().any(|h| h.register == r) {
                continue;
            }
            let forgotten = match r {
                Register::Mps => write(&self.mps).take().is_some(),
                _ => write(&self.phones).remove(&r).is_some(),
            };
            if forgotten {
                tracing::info!(register = %r, "register snapshot gone (its only import was undone)");
                reloaded.push(r);
            }
        }
        for head in heads {
            // A snapshot row naming no register is not skipped: `heads` refuses it (store::columns).
            let register = head.register;
            let loaded = match register {
                Register::Mps => self.mps().map(|m| m.import_id),
                _ => self.phone(register).map(|p| p.import_id),
            };
            if loaded == Some(head.import_id) {
                continue;
            }
            let Some((head, bytes)) = db::numbers(&mut conn, register.as_str())? else {
                continue;
            };
            if register == Register::Mps {
                let entries = codec::decode_entries(&bytes).context("the stored MPS snapshot is damaged")?;
                let (hashes, metas) = entries.into_iter().unzip();
                let set = MpsSet {
                    import_id: head.import_id,
                    as_of: head.as_of,
                    imported_at: head.imported_at,
                    file_sha256: head.file_sha256,
                    hashes,
                    metas,
                };
                let (as_of, entries) = (set.as_of, set.entries());
                *write(&self.mps) = Some(Arc::new(set));
                tracing::info!(register = "mps", as_of = %as_of, entries, "register snapshot loaded");
                reloaded.push(register);
                continue;
            }
            let numbers = codec::decode(&bytes).with_context(|| format!("the stored {register} snapshot is damaged"))?;
            drop(bytes);
            let listed_since: HashMap<u64, NaiveDate> =
                db::listings(&mut conn, register.as_str())?.into_iter().map(|(n, d)| (n as u64, d)).collect();
            let set = PhoneSet {
                register,
                import_id: head.import_id,
                as_of: head.as_of,
                imported_at: head.imported_at,
                file_sha256: head.file_sha256,
                numbers,
                listed_since,
                index: BucketIndex::default(),
            }
            .indexed();
            let (as_of, entries) = (set.as_of, set.entries());
            write(&self.phones).insert(register, Arc::new(set));
            tracing::info!(register = %register, as_of = %as_of, entries, "register snapshot loaded");
            reloaded.push(register);
        }
        Ok(reloaded)
    }

    /// The snapshots in force now, for one consistent scrub.
    pub fn view(&self) -> View {
        View { tps: self.phone(Register::Tps), ctps: self.phone(Register::Ctps), mps: self.mps(), lead_times: Arc::clone(&self.lead_times) }
    }

    pub fn status(&self) -> Vec<Status> {
        let today = today_uk();
        let view = self.view();
        Register::ALL
            .iter()
            .map(|&r| {
                let head = view.head(r);
                let valid_until = view.valid_until_of(r);
                Status {
                    name: r,
                    channel: r.channel(),
                    lead_time: self.lead_time(r).to_string(),
                    entries: head.as_ref().map_or(0, |h| h.entries as u64),
                    as_of: head.as_ref().map(|h| h.as_of),
                    imported_at: head.as_ref().map(|h| crate::domain::time::rfc3339(h.imported_at)),
                    valid_until,
                    stale: is_stale(valid_until, today),
                }
            })
            .collect()
    }
}

/// A lock that a panicking thread poisoned is taken all the same, and said so: what these locks
/// guard (a map of snapshots, one snapshot) is only ever replaced whole, so it is never left
/// half-written, and a register must not vanish, nor a new snapshot be dropped, because of it.
fn recovered<G>(poisoned: std::sync::PoisonError<G>, clear: impl FnOnce()) -> G {
    tracing::error!("a register snapshot lock was poisoned by a panic; the snapshots it holds are whole and stay in use");
    let guard = poisoned.into_inner();
    clear();
    guard
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| recovered(p, || lock.clear_poison()))
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| recovered(p, || lock.clear_poison()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        crate::domain::time::fixtures::date(s)
    }

    /// A panic while a snapshot lock was held neither hides the snapshots in force nor drops
    /// the next one.
    #[test]
    fn a_poisoned_lock_keeps_and_takes_snapshots() {
        let registers = Registers::default();
        *write(&registers.mps) = Some(Arc::new(MpsSet::new(d("2026-11-01"), vec![])));
        std::thread::scope(|s| {
            let _ = s
                .spawn(|| {
                    let _held = registers.mps.write();
                    let _also = registers.phones.write();
                    panic!("poison the locks");
                })
                .join();
        });
        assert!(registers.mps.is_poisoned() && registers.phones.is_poisoned());
        assert_eq!(registers.mps().map(|m| m.as_of), Some(d("2026-11-01")));
        write(&registers.phones).insert(Register::Tps, Arc::new(PhoneSet::new(Register::Tps, d("2026-11-02"), vec![1], HashMap::new())));
        assert_eq!(registers.view().tps.map(|t| t.as_of), Some(d("2026-11-02")));
    }

    #[test]
    fn an_address_listed_twice_is_merged_one_way() {
        let own = MpsEntry { listed_since: ListedSince::On(d("2026-03-01")), deceased: false };
        let household = MpsEntry { listed_since: ListedSince::On(d("2026-01-01")), deceased: true };
        assert_eq!(own.merge(household), MpsEntry { listed_since: ListedSince::On(d("2026-01-01")), deceased: true });
        // Listed before the first import binds at once: it wins over any date.
        let before = MpsEntry { listed_since: ListedSince::BeforeFirstImport, deceased: false };
        assert_eq!(own.merge(before).listed_since, ListedSince::BeforeFirstImport);
        assert_eq!(before.merge(own).listed_since, ListedSince::BeforeFirstImport);
    }
}

#[cfg(test)]
mod index_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {

        /// The bucket index finds exactly what a binary search of the whole set finds.
        #[test]
        fn lookups_agree_with_a_plain_binary_search(mut v in proptest::collection::vec(0u64..20_000_000_000, 0..2_000), probes in proptest::collection::vec(0u64..20_000_000_000, 50)) {
            v.sort_unstable();
            v.dedup();
            let d = crate::domain::time::fixtures::date("2026-01-01");
            let set = PhoneSet::new(Register::Tps, d, v.clone(), HashMap::new());
            for p in probes.iter().chain(v.iter().take(50)) {
                prop_assert_eq!(set.lookup(*p).is_some(), v.binary_search(p).is_ok(), "{}", p);
            }
            prop_assert!(set.lookup(u64::MAX).is_none());
        }

        /// The search outwards from a guess finds exactly what a binary search finds, whatever
        /// the guess.
        #[test]
        fn searching_from_any_guess_agrees_with_a_binary_search(mut v in proptest::collection::vec(0u64..500, 0..80), guess in 0usize..100, n in 0u64..500) {
            v.sort_unstable();
            v.dedup();
            prop_assert_eq!(search_from(&v, guess, n), v.binary_search(&n).is_ok());
        }
    }
}
