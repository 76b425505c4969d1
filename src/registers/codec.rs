//! A sorted set of numbers as bytes: each the difference from the one before, as a LEB128 varint.
//! 17 million TPS numbers (NSNs ~10^10 apart on average ~600) take ~2 bytes each: ~35 MB
//! instead of 136 MB as plain u64s.

pub use crate::bytes::{push_varint, read_varint};

/// Encode a strictly increasing sequence.
pub fn encode(sorted: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(sorted.len() * 3);
    let mut prev = 0u64;
    for &n in sorted {
        push_varint(&mut out, n.wrapping_sub(prev));
        prev = n;
    }
    out
}

/// Decode; `None` if the bytes end inside a number or a value overflows.
pub fn decode(bytes: &[u8]) -> Option<Vec<u64>> {
    let mut out = Vec::with_capacity(bytes.len() / 2);
    let mut prev = 0u64;
    let mut delta = 0u64;
    let mut shift = 0u32;
    for &b in bytes {
        if shift >= 64 {
            return None;
        }
        delta |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            prev = prev.checked_add(delta)?;
            out.push(prev);
            delta = 0;
            shift = 0;
        } else {
            shift += 7;
        }
    }
    (shift == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trips(mut v in proptest::collection::vec(any::<u64>(), 0..500)) {
            v.sort_unstable();
            v.dedup();
            prop_assert_eq!(decode(&encode(&v)), Some(v));
        }
    }

    #[test]
    fn is_compact_and_rejects_a_cut() {
        let v: Vec<u64> = (0..1000u64).map(|i| 1_000_000_000 + i * 600).collect();
        let bytes = encode(&v);
        assert!(bytes.len() < 2_100, "{}", bytes.len());
        // A cut inside a number is refused.
        assert_eq!(decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(decode(&[0x80]), None);
    }
}

/// MPS entries: (key hash, meta) sorted by hash. The hashes as `encode` writes them, preceded by
/// their count, then each meta as a varint.
pub fn encode_entries(entries: &[(u64, u32)]) -> Vec<u8> {
    let hashes: Vec<u64> = entries.iter().map(|e| e.0).collect();
    let mut out = Vec::with_capacity(entries.len() * 10);
    push_varint(&mut out, entries.len() as u64);
    out.extend(encode(&hashes));
    for e in entries {
        push_varint(&mut out, u64::from(e.1));
    }
    out
}

pub fn decode_entries(bytes: &[u8]) -> Option<Vec<(u64, u32)>> {
    let (count, mut at) = read_varint(bytes, 0)?;
    let count = usize::try_from(count).ok()?;
    // The hashes end where `count` varints have been read.
    let mut end = at;
    for _ in 0..count {
        end = read_varint(bytes, end)?.1;
    }
    let hashes = decode(&bytes[at..end])?;
    at = end;
    let mut out = Vec::with_capacity(count);
    for h in hashes {
        let (meta, next) = read_varint(bytes, at)?;
        out.push((h, u32::try_from(meta).ok()?));
        at = next;
    }
    (at == bytes.len()).then_some(out)
}

#[cfg(test)]
mod entry_tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entries_round_trip(mut v in proptest::collection::vec((any::<u64>(), any::<u32>()), 0..300)) {
            v.sort_unstable_by_key(|e| e.0);
            v.dedup_by_key(|e| e.0);
            let bytes = encode_entries(&v);
            prop_assert_eq!(decode_entries(&bytes), Some(v));
            if !bytes.is_empty() {
                prop_assert_eq!(decode_entries(&bytes[..bytes.len() - 1]), None);
            }
        }
    }
}
