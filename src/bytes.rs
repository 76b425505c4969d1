//! Byte-level helpers that know nothing of the domain, shared by `registers` (snapshots, the
//! register file's hash) and `scrub` (stored results, the list's hash): LEB128 varints, a
//! reader that hashes what passes through it, and the CSV quote watcher every CSV reader of the
//! service reads through (lists, MPS files, legacy opt-outs).

use std::io::{self, Read};

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

/// A quoted field may span at most this many lines (CONTRACT §5): past it, or unclosed at the
/// end, the file is unreadable rather than read with rows swallowed into one field.
pub const MAX_QUOTED_LINES: u32 = 100;

/// Where the bytes watched stand with respect to CSV quoting (as the csv crate reads it: a quote
/// opens a field only at the field's start; `""` inside is a quote; anywhere else it is text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    Outside,
    Inside,
    /// Inside, and the last byte was a quote: closed, unless the next byte is another quote.
    QuoteInside,
}

/// A quote that never closes, or that spans too many lines: the read fails, the first time at the
/// byte where that became known, so the record being read when it fails is the one it opened in.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("an unclosed quoted field")]
pub struct QuoteTrouble {
    pub unterminated: bool,
}

/// Watches the bytes the CSV reader takes for a quoted field that never closes, or that spans
/// more than [`MAX_QUOTED_LINES`] lines (CR, LF or CRLF each one line end). Outside quotes it
/// only looks at quote bytes (`memchr`), so an ordinary list costs next to nothing.
pub struct Watch<R> {
    inner: R,
    delimiter: u8,
    quoting: Quoting,
    /// The byte before the current buffer (a line end before the first).
    last: u8,
    /// Line ends inside the open quoted field.
    lines: u32,
    failed: Option<QuoteTrouble>,
}

impl<R: Read> Watch<R> {
    pub fn new(inner: R, delimiter: u8) -> Watch<R> {
        Watch { inner, delimiter, quoting: Quoting::Outside, last: b'\n', lines: 0, failed: None }
    }

    /// Follow the quoting through `buf`; the index of the byte at which a quoted field became
    /// too long, if one did.
    fn scan(&mut self, buf: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < buf.len() {
            match self.quoting {
                Quoting::Outside => {
                    let Some(j) = memchr::memchr(b'"', &buf[i..]) else { break };
                    let at = i + j;
                    let before = if at == 0 { self.last } else { buf[at - 1] };
                    if before == self.delimiter || before == b'\n' || before == b'\r' {
                        (self.quoting, self.lines) = (Quoting::Inside, 0);
                    }
                    i = at + 1;
                }
                Quoting::Inside => {
                    let Some(j) = memchr::memchr3(b'"', b'\r', b'\n', &buf[i..]) else { break };
                    let at = i + j;
                    let before = if at == 0 { self.last } else { buf[at - 1] };
                    match buf[at] {
                        b'"' => self.quoting = Quoting::QuoteInside,
                        b'\n' if before == b'\r' => {} // the end of a CRLF, counted at its CR
                        _ => {
                            self.lines += 1;
                            if self.lines >= MAX_QUOTED_LINES {
                                return Some(at);
                            }
                        }
                    }
                    i = at + 1;
                }
                Quoting::QuoteInside => {
                    self.quoting = if buf[i] == b'"' { Quoting::Inside } else { Quoting::Outside };
                    i += 1;
                }
            }
        }
        None
    }
}

impl<R: Read> Read for Watch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(trouble) = self.failed {
            return Err(io::Error::new(io::ErrorKind::InvalidData, trouble));
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            if self.quoting == Quoting::Inside {
                let trouble = QuoteTrouble { unterminated: true };
                self.failed = Some(trouble);
                return Err(io::Error::new(io::ErrorKind::InvalidData, trouble));
            }
            return Ok(0);
        }
        match self.scan(&buf[..n]) {
            None => {
                self.last = buf[n - 1];
                Ok(n)
            }
            // What comes before that byte is read; the next read fails.
            Some(at) => {
                let trouble = QuoteTrouble { unterminated: false };
                self.failed = Some(trouble);
                if at == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, trouble));
                }
                Ok(at)
            }
        }
    }
}
