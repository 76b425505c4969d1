//! UK numbers (+44: GB, Guernsey, Isle of Man, Jersey) validated without phonenumber's shared
//! regex cache. phonenumber keeps every country's patterns in one 100-entry LRU behind a mutex, so
//! each `is_valid` hashes long pattern strings and takes a lock (~10 µs, and worse across threads).
//! Here the same patterns, taken from phonenumber's own metadata, are compiled once (each thread
//! keeping its own matching caches) and matched with the same rules as
//! `phonenumber::validator::is_valid`: the region is chosen by its leading
//! digits (or, without them, by having a type for the number), and the number is valid when that
//! region's general pattern and one of its type patterns match at its start, within the
//! descriptor's possible lengths. `tests::agrees_with_phonenumber_*` prove the two agree.

use std::cell::RefCell;
use std::sync::LazyLock;

use phonenumber::metadata::{Descriptor, DATABASE};
use regex_automata::meta::{Builder, Cache, Regex};
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};

struct Pattern {
    lengths: Vec<u16>,
    regex: Regex,
}

impl Pattern {
    fn new(d: &Descriptor) -> Option<Pattern> {
        Some(Pattern { lengths: d.possible_length().to_vec(), regex: compile(d.national_number().as_str())? })
    }

    /// As `Descriptor::is_match`: a possible length, and a match starting at the first digit.
    fn is_match(&self, cache: &mut Cache, nsn: &str) -> bool {
        (self.lengths.is_empty() || self.lengths.contains(&(nsn.len() as u16))) && starts_with_match(&self.regex, cache, nsn)
    }
}

/// phonenumber builds its regexes with ignore_whitespace; so must we.
fn builder() -> Builder {
    let mut b = Regex::builder();
    b.syntax(syntax::Config::new().ignore_whitespace(true));
    b
}

/// phonenumber asks `find(s)` and keeps a match that starts at 0; "some match starts at 0" is
/// exactly an anchored match, which stops as soon as it knows and never scans past the start.
fn compile(pattern: &str) -> Option<Regex> {
    builder().build(&anchored(pattern)).ok()
}

fn anchored(pattern: &str) -> String {
    // The pattern goes in a group of its own line so that a trailing `#` comment in it cannot
    // swallow the bracket.
    format!("^(?:{pattern}\n)")
}

fn starts_with_match(regex: &Regex, cache: &mut Cache, s: &str) -> bool {
    regex.search_half_with(cache, &Input::new(s).earliest(true)).is_some()
}

struct Region {
    leading_digits: Option<Regex>,
    general: Pattern,
    /// Every type's pattern, matched in one pass (all that match, as a regex set does); then
    /// each matched type's lengths are checked.
    types: Regex,
    type_lengths: Vec<Vec<u16>>,
}

/// A thread's scratch space for one region's regexes. Each thread keeps its own, so validating
/// on many threads at once (a scrub on every core, two HTTP workers) never waits on a shared pool.
struct Scratch {
    leading_digits: Option<Cache>,
    general: Cache,
    types: Cache,
    matched: PatternSet,
}

impl Region {
    fn scratch(&self) -> Scratch {
        Scratch {
            leading_digits: self.leading_digits.as_ref().map(Regex::create_cache),
            general: self.general.regex.create_cache(),
            types: self.types.create_cache(),
            matched: PatternSet::new(self.types.pattern_len()),
        }
    }

    /// As `number_type(..) != Type::Unknown`.
    fn has_type(&self, scratch: &mut Scratch, nsn: &str) -> bool {
        if !self.general.is_match(&mut scratch.general, nsn) {
            return false;
        }
        let len = nsn.len() as u16;
        scratch.matched.clear();
        self.types.which_overlapping_matches_with(&mut scratch.types, &Input::new(nsn), &mut scratch.matched);
        scratch.matched.iter().any(|i| self.type_lengths[i.as_usize()].is_empty() || self.type_lengths[i.as_usize()].contains(&len))
    }
}

thread_local! {
    /// This thread's scratch space, one per region of [`UK`] (the one `UkNumbers` there is).
    static SCRATCH: RefCell<Vec<Scratch>> = const { RefCell::new(Vec::new()) };
}

/// The +44 regions in phonenumber's order (the main country first).
pub struct UkNumbers {
    regions: Vec<Region>,
}

impl UkNumbers {
    fn load() -> Option<UkNumbers> {
        let mut regions = Vec::new();
        for id in DATABASE.region(&44)? {
            let meta = DATABASE.by_id(id)?;
            let d = meta.descriptors();
            let types = [
                d.premium_rate(),
                d.toll_free(),
                d.shared_cost(),
                d.voip(),
                d.personal_number(),
                d.pager(),
                d.uan(),
                d.voicemail(),
                d.fixed_line(),
                d.mobile(),
            ];
            let types: Vec<&Descriptor> = types.into_iter().flatten().collect();
            let patterns: Vec<String> = types.iter().map(|t| anchored(t.national_number().as_str())).collect();
            let mut set = builder();
            set.configure(Regex::config().match_kind(MatchKind::All));
            regions.push(Region {
                leading_digits: match meta.leading_digits() {
                    Some(l) => Some(compile(l.as_str())?),
                    None => None,
                },
                general: Pattern::new(d.general())?,
                types: set.build_many(&patterns).ok()?,
                type_lengths: types.iter().map(|t| t.possible_length().to_vec()).collect(),
            });
        }
        (!regions.is_empty()).then_some(UkNumbers { regions })
    }

    /// Whether phonenumber would call `+44{nsn}` valid. `nsn`: the national significant number.
    pub fn is_valid(&self, nsn: &str) -> bool {
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() != self.regions.len() {
                *scratch = self.regions.iter().map(Region::scratch).collect();
            }
            for (region, s) in self.regions.iter().zip(scratch.iter_mut()) {
                // Whether the region's leading digits match; None: it has none.
                let leads = match (&region.leading_digits, s.leading_digits.as_mut()) {
                    (Some(leading), Some(cache)) => Some(starts_with_match(leading, cache, nsn)),
                    _ => None,
                };
                match leads {
                    Some(true) => return region.has_type(s, nsn),
                    Some(false) => {}
                    None if region.has_type(s, nsn) => return true,
                    None => {}
                }
            }
            false
        })
    }
}

/// Loaded on first use; `None` (metadata not as expected) means every number takes the slow path.
pub static UK: LazyLock<Option<UkNumbers>> = LazyLock::new(UkNumbers::load);

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country;

    fn slow(nsn: &str) -> bool {
        phonenumber::parse(Some(country::Id::GB), format!("+44{nsn}")).is_ok_and(|n| phonenumber::is_valid(&n))
    }

    #[test]
    fn loads_the_four_regions() {
        let uk = UK.as_ref().expect("metadata loads");
        assert_eq!(uk.regions.len(), 4);
    }

    /// Every 4-digit prefix with several tails at 9 and 10 digits: the validator and phonenumber
    /// give the same verdict.
    #[test]
    fn agrees_with_phonenumber_over_every_four_digit_prefix() {
        let uk = UK.as_ref().expect("metadata loads");
        let mut valid = 0;
        for prefix in 1000..10_000u32 {
            for tail in ["000000", "123456", "960001", "900123", "555555", "999999"] {
                for len in [9, 10] {
                    let nsn: String = format!("{prefix}{tail}").chars().take(len).collect();
                    let want = slow(&nsn);
                    valid += usize::from(want);
                    assert_eq!(uk.is_valid(&nsn), want, "+44{nsn}");
                }
            }
        }
        // The sweep reached both verdicts in number.
        assert!(valid > 10_000, "{valid}");
    }
}
