//! Byte-level helpers that know nothing of the domain, shared by `registers` (snapshots, the
//! register file's hash) and `scrub` (stored results, the list's hash): LEB128 varints, and a
//! reader that hashes what passes through it.

use std::io::Read;

use sha2::{Digest, Sha256};

/// Append `v` as LEB128.
#[inline]
pub fn push_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The LEB128 value at `at`, and where the next one starts.
#[inline]
pub fn read_varint(bytes: &[u8], mut at: usize) -> Option<(u64, usize)> {
    let mut v = 0u64;
    let mut shift = 0u32;
    loop {
        let b = *bytes.get(at)?;
        at += 1;
        if shift >= 64 {
            return None;
        }
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some((v, at));
        }
        shift += 7;
    }
}

/// A reader that hashes (SHA-256) everything read through it.
pub struct Hashing<R> {
    inner: R,
    sha: Sha256,
}

impl<R> Hashing<R> {
    pub fn new(inner: R) -> Hashing<R> {
        Hashing { inner, sha: Sha256::new() }
    }

    /// The SHA-256 of everything read, in hex.
    pub fn finish(self) -> String {
        hex::encode(self.sha.finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_a_cut_is_refused() {
        let mut out = Vec::new();
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            push_varint(&mut out, v);
        }
        let mut at = 0;
        for v in [0, 1, 127, 128, 300, u64::MAX] {
            let (got, next) = read_varint(&out, at).expect("a varint");
            assert_eq!(got, v);
            at = next;
        }
        assert_eq!(at, out.len());
        assert_eq!(read_varint(&out[..out.len() - 1], out.len() - 10), None);
    }

    #[test]
    fn hashing_hashes_what_is_read() {
        let mut r = Hashing::new(&b"abc"[..]);
        let mut s = String::new();
        r.read_to_string(&mut s).expect("read");
        assert_eq!(s, "abc");
        assert_eq!(r.finish(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
