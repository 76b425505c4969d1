//! A scrub's result as the engine produces it and the store keeps it: one record per row holding
//! its CSV-ready pieces, so that the annotated, clean and suppressed files (CONTRACT §5) are each
//! rendered by copying bytes, and the CLI's files and the HTTP downloads come from one rendering.
//!
//! A run of rows is a sequence of records, each: a flags byte (bit 0: kept), then four byte
//! strings, each preceded by its length as a LEB128 varint:
//! - `data`: the row's fields as a CSV line, without its terminator;
//! - `reason`: the reason code, or empty;
//! - `key`: the key as a CSV field (empty: no key);
//! - `detail`: the detail as a CSV field.
//!
//! The first record of a result is its header: its `data` is the header row. Stored, each run is
//! one LZ4 block ([`seal`], [`open`]).

use crate::bytes::{push_varint, read_varint};

/// One record of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row<'a> {
    pub kept: bool,
    pub data: &'a [u8],
    pub reason: &'a [u8],
    pub key: &'a [u8],
    pub detail: &'a [u8],
}

/// A stored result that cannot be read back: written by something else, or damaged.
#[derive(Debug, thiserror::Error)]
#[error("a stored scrub result is damaged: {0}")]
pub struct Corrupt(&'static str);

/// Whether a field must be quoted, as the `csv` crate's writer decides (`QuoteStyle::Necessary`
/// with a comma delimiter): it holds a delimiter, a quote or a line break.
pub fn needs_quotes(field: &[u8]) -> bool {
    field.iter().any(|&b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
}

/// Append one CSV field, quoted where needed, exactly as `csv::Writer` writes it.
pub fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    if !needs_quotes(field) {
        out.extend_from_slice(field);
        return;
    }
    out.push(b'"');
    for &b in field {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Append a record: its flags, then its pieces.
pub fn encode(out: &mut Vec<u8>, row: &Row<'_>) {
    out.push(u8::from(row.kept));
    for piece in [row.data, row.reason, row.key, row.detail] {
        push_varint(out, piece.len() as u64);
        out.extend_from_slice(piece);
    }
}

/// The records of a run, in order.
pub fn decode(run: &[u8]) -> impl Iterator<Item = Result<Row<'_>, Corrupt>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= run.len() {
            return None;
        }
        let record = (|| {
            let flags = run[at];
            at += 1;
            let mut pieces = [&run[..0]; 4];
            for piece in &mut pieces {
                let (len, next) = read_varint(run, at).ok_or(Corrupt("a length is cut short"))?;
                let end = usize::try_from(len).ok().and_then(|len| next.checked_add(len)).filter(|&end| end <= run.len());
                let end = end.ok_or(Corrupt("a record runs past the end of its block"))?;
                *piece = &run[next..end];
                at = end;
            }
            let [data, reason, key, detail] = pieces;
            Ok(Row { kept: flags & 1 == 1, data, reason, key, detail })
        })();
        if record.is_err() {
            at = run.len(); // nothing after a damaged record can be trusted
        }
        Some(record)
    })
}

/// The files a result is rendered as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Every row, plus `suppress_status`, `suppress_reason`, `suppress_key`, `suppress_detail`.
    Annotated,
    /// The kept rows as uploaded.
    Clean,
    /// The suppressed rows, plus `suppress_reason`, `suppress_detail`.
    Suppressed,
}

impl Part {
    /// Append the part's line for a record (the header's when `header`); nothing when the row
    /// is not in this part.
    pub fn render(self, row: &Row<'_>, header: bool, out: &mut Vec<u8>) {
        let lines: &[&[u8]] = match (self, header) {
            (Part::Annotated, true) => &[row.data, b",suppress_status,suppress_reason,suppress_key,suppress_detail"],
            (Part::Suppressed, true) => &[row.data, b",suppress_reason,suppress_detail"],
            (Part::Clean, true) => &[row.data],
            (Part::Annotated, false) => {
                let status: &[u8] = if row.kept { b",kept," } else { b",suppressed," };
                &[row.data, status, row.reason, b",", row.key, b",", row.detail]
            }
            // A record of one empty field is written `""`, as csv does, so it is not a blank line.
            (Part::Clean, false) if row.kept && row.data.is_empty() => &[b"\"\""],
            (Part::Clean, false) if row.kept => &[row.data],
            (Part::Suppressed, false) if !row.kept => &[row.data, b",", row.reason, b",", row.detail],
            _ => return,
        };
        for piece in lines {
            out.extend_from_slice(piece);
        }
        out.push(b'\n');
    }
}

/// A kept row's link from its key (as text), for one last column (CONTRACT §11:
/// `unsubscribe_url`); empty when the row has no key it can be made for.
pub type Link = Box<dyn Fn(&str) -> String + Send>;

/// Renders the runs of one result, in order, as one part.
pub struct Renderer {
    part: Part,
    header_done: bool,
    /// The clean part with one more column, `unsubscribe_url`.
    link: Option<Link>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer").field("part", &self.part).field("link", &self.link.is_some()).finish()
    }
}

impl Renderer {
    pub fn new(part: Part) -> Renderer {
        Renderer { part, header_done: false, link: None }
    }

    /// The kept rows as uploaded, each with its `unsubscribe_url` last.
    pub fn clean_with_links(link: Link) -> Renderer {
        Renderer { part: Part::Clean, header_done: false, link: Some(link) }
    }

    /// Append the part's lines for a run's records.
    pub fn render(&mut self, run: &[u8], out: &mut Vec<u8>) -> Result<(), Corrupt> {
        if let Some(link) = &self.link {
            for row in decode(run) {
                let row = row?;
                if !self.header_done {
                    out.extend_from_slice(row.data);
                    out.extend_from_slice(b",unsubscribe_url\n");
                    self.header_done = true;
                } else if row.kept {
                    out.extend_from_slice(row.data);
                    out.push(b',');
                    push_field(out, link(&unquote(row.key)).as_bytes());
                    out.push(b'\n');
                }
            }
            return Ok(());
        }
        for row in decode(run) {
            self.part.render(&row?, !self.header_done, out);
            self.header_done = true;
        }
        Ok(())
    }
}

/// A CSV field as its text (a key is stored as a field, quoted where needed).
fn unquote(field: &[u8]) -> String {
    let text = String::from_utf8_lossy(field);
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => text.into_owned(),
    }
}

/// The largest run a stored block may claim to hold: what reading one back may allocate.
const MAX_RUN: usize = 256 << 20;

/// The largest row a list may hold (its fields' bytes as read); a list with a larger one is
/// refused before anything of it is stored.
pub const MAX_ROW: usize = 1 << 20;

/// A run ends before this many bytes of rows as read (or [`RUN`] rows, whichever comes first).
pub const RUN_BYTES: usize = 4 << 20;

/// Rows in a run at most.
pub const RUN: usize = 2_048;

// Whatever a run holds, its block can be read back: a row renders to at most about 3 bytes per
// byte read (Windows-1252 decoded to UTF-8, or a quote doubled) in its data and as much again in
// its detail, plus its reason and key; a run holds under RUN_BYTES and one row more.
const _: () = assert!(8 * (RUN_BYTES + MAX_ROW) + RUN * 1024 < MAX_RUN);

/// A run as stored: one LZ4 block, its length first.
pub fn seal(run: &[u8]) -> Vec<u8> {
    lz4_flex::block::compress_prepend_size(run)
}

/// Whether a sealed block can be opened by [`open`] as far as its size goes: checked before it
/// is stored, so that nothing is stored that cannot be read back.
pub fn openable(sealed: &[u8]) -> Result<(), Corrupt> {
    let claimed = sealed.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).ok_or(Corrupt("a block is empty"))?;
    if claimed > MAX_RUN {
        return Err(Corrupt("a block claims more than a run can hold"));
    }
    Ok(())
}

/// A stored block back as its run.
pub fn open(sealed: &[u8]) -> Result<Vec<u8>, Corrupt> {
    openable(sealed)?;
    lz4_flex::block::decompress_size_prepended(sealed).map_err(|_| Corrupt("a block does not decompress"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// How `csv::Writer` writes a record.
    fn csv_line(fields: &[Vec<u8>]) -> Vec<u8> {
        let mut w = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
        w.write_record(fields).unwrap();
        w.into_inner().unwrap()
    }

    fn our_line(fields: &[Vec<u8>]) -> Vec<u8> {
        let mut data = Vec::new();
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                data.push(b',');
            }
            push_field(&mut data, f);
        }
        let mut out = Vec::new();
        Part::Clean.render(&Row { kept: true, data: &data, reason: b"", key: b"", detail: b"" }, false, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Any record is written byte for byte as the csv crate writes it: quoting, doubled
        /// quotes, line breaks, empty fields, a lone empty field.
        #[test]
        fn fields_are_written_as_csv_writes_them(fields in proptest::collection::vec(proptest::collection::vec(prop_oneof![
            Just(b','), Just(b'"'), Just(b'\r'), Just(b'\n'), Just(b' '), Just(b';'), Just(b'a'), Just(0xc3u8), Just(0xa9u8)
        ], 0..6), 1..5)) {
            prop_assert_eq!(our_line(&fields), csv_line(&fields));
        }

        /// Records come back as they went in, in order.
        #[test]
        fn records_round_trip(rows in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..300), "[A-Z_]{0,12}", proptest::collection::vec(any::<u8>(), 0..40), proptest::collection::vec(any::<u8>(), 0..200)), 0..20)) {
            let mut run = Vec::new();
            for (kept, data, reason, key, detail) in &rows {
                encode(&mut run, &Row { kept: *kept, data, reason: reason.as_bytes(), key, detail });
            }
            let opened = open(&seal(&run)).unwrap();
            let back: Vec<Row<'_>> = decode(&opened).collect::<Result<_, _>>().unwrap();
            prop_assert_eq!(back.len(), rows.len());
            for (got, (kept, data, reason, key, detail)) in back.iter().zip(&rows) {
                prop_assert_eq!(got, &Row { kept: *kept, data, reason: reason.as_bytes(), key, detail });
            }
        }
    }

    #[test]
    fn each_part_renders_its_rows() {
        let mut run = Vec::new();
        encode(&mut run, &Row { kept: true, data: b"id,phone", reason: b"", key: b"", detail: b"" });
        encode(&mut run, &Row { kept: true, data: b"1,020 7946 0018", reason: b"", key: b"+442079460018", detail: b"" });
        encode(&mut run, &Row { kept: false, data: b"2,x", reason: b"INVALID_PHONE", key: b"", detail: b"not a phone number" });
        encode(&mut run, &Row { kept: true, data: b"3,07700 900123", reason: b"TPS_GRACE", key: b"+447700900123", detail: b"\"a, b\"" });
        let render = |part| {
            let mut out = Vec::new();
            Renderer::new(part).render(&run, &mut out).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(render(Part::Clean), "id,phone\n1,020 7946 0018\n3,07700 900123\n");
        assert_eq!(render(Part::Suppressed), "id,phone,suppress_reason,suppress_detail\n2,x,INVALID_PHONE,not a phone number\n");
        assert_eq!(
            render(Part::Annotated),
            "id,phone,suppress_status,suppress_reason,suppress_key,suppress_detail\n\
             1,020 7946 0018,kept,,+442079460018,\n\
             2,x,suppressed,INVALID_PHONE,,not a phone number\n\
             3,07700 900123,kept,TPS_GRACE,+447700900123,\"a, b\"\n"
        );
    }

    #[test]
    fn damaged_blocks_and_records_are_errors_not_panics() {
        let mut run = Vec::new();
        encode(&mut run, &Row { kept: true, data: b"a,b", reason: b"", key: b"", detail: b"" });
        for cut in 0..run.len() {
            let results: Vec<_> = decode(&run[..cut]).collect();
            assert!(results.iter().all(|r| r.is_err()) || cut == 0, "cut at {cut}");
        }
        assert!(open(b"").is_err());
        assert!(open(&[0xff, 0xff, 0xff, 0x7f, 1, 2, 3]).is_err());
        let mut sealed = seal(b"hello hello hello hello");
        let n = sealed.len();
        sealed.truncate(n - 3);
        assert!(open(&sealed).is_err());
    }
}
