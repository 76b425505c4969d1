//! The wire: what a client sends on a connection, framed and checked here before actix's HTTP/1
//! codec reads it (CONTRACT §9: errors the HTTP layer raises itself get the contract's shape too,
//! and no request, whatever its pace, holds a connection for ever).
//!
//! actix answers a head it cannot take (a target or header block too long, `Content-Length` with
//! `Transfer-Encoding`, a malformed request line) with an empty 400 from inside its codec, where no
//! code of ours runs, and it drains a refused body with no timer. So every connection's bytes
//! pass through a [`Wire`] first, which follows the requests' framing as actix will:
//!
//! - A request's head is held until it is whole, then checked with the same parser actix uses
//!   (`httparse`) and the same rules, under tighter bounds: a request line of at most
//!   [`LINE`] bytes (else 414), a head of at most [`HEAD`] bytes and [`FIELDS`] fields (else 431),
//!   whole within [`HEAD_TIMEOUT`] of its first byte (else 408). A head actix would refuse never
//!   reaches it: actix gets a stand-in request instead, `GET /v1/_refused` (or `/_refused` for a
//!   page), which [`refused`] answers in the contract's shape (or as a page) through the same
//!   middleware as every other answer, after any answers still owed on the connection; then the
//!   connection ends.
//!   A head that is already wrong before it ends (another protocol on this port) is refused at
//!   once.
//! - A body is followed to its end (`Content-Length`, or chunk by chunk with actix's own chunked
//!   grammar, so both agree where the next request begins; a test holds the two to agreeing on a
//!   corpus of heads and bodies). A body must bring [`MIN_PROGRESS`] bytes, or end, within each
//!   window of the upload idle timeout plus [`GRACE`]: an upload being read is answered 408 by its
//!   handler first (`upload`). A chunked body whose framing breaks, or whose size lines or
//!   trailers grow past [`HEAD`], ends there (its handler answers that the body could not be
//!   read).
//! - An answer that closes the connection (every refusal of a request with a body: `request_id`)
//!   tells the wire through [`Conn`], and the body is read no further: actix would otherwise drain
//!   a refused chunked body for as long as it comes. The connection then lingers ([`LINGER`]),
//!   reading and dropping what the client still sends, so that closing with its bytes unread
//!   does not reset the connection before the client has read the answer.
//!
//! The common case costs one scan of the head and no timer: a head that arrives whole is checked
//! and passed in the read that brought it, and a kept-alive connection with nothing to read is
//! left to actix's keep-alive timer.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use actix_web::http::{Method, Uri};
use actix_web::rt::time::{sleep_until, Instant, Sleep};
use actix_web::web::{Buf, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::{ApiError, ErrorCode};

/// The longest request line (method, target, version): longer is 414.
pub const LINE: usize = 8 << 10;
/// The largest head (request line and header fields), and the most a chunked body's size line or
/// trailer section may take: larger is 431 (a head) or the body's end (a chunked body).
pub const HEAD: usize = 32 << 10;
/// The most header fields a head may have (actix takes 96 at most): more is 431.
pub const FIELDS: usize = 64;
/// How long a head may take from its first byte (or, for a connection's first request, from the
/// connection's start): longer is 408.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// The least a body must bring within each window (the same rule as an upload's, in `upload`).
pub use super::upload::MIN_PROGRESS;
/// What a body's window adds to the upload idle timeout, so that an upload being read is
/// answered 408 by its handler before its connection is ended here.
pub const GRACE: Duration = Duration::from_secs(5);

/// A head's first bytes, checked on every piece as they arrive.
const EARLY: usize = 64;

/// The most bytes of blank lines taken before a request line (RFC 9112 §2.2: a server should
/// take at least one, which a client may send after a body).
const BLANK: usize = 8;

/// How long a closing connection reads and drops what the client still sends.
pub const LINGER: Duration = Duration::from_secs(2);

/// A connection's clocks: [`HEAD_TIMEOUT`], a body's window (the upload idle timeout plus
/// [`GRACE`]) and [`LINGER`], shorter in tests.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub head: Duration,
    pub body_window: Duration,
    pub linger: Duration,
}

impl Timing {
    /// `upload_idle`: how long an upload may go without [`MIN_PROGRESS`] (`upload`).
    pub fn new(upload_idle: Duration) -> Timing {
        Timing { head: HEAD_TIMEOUT, body_window: upload_idle + GRACE, linger: LINGER }
    }
}
/// The most a closing connection reads and drops.
pub const LINGER_BYTES: usize = 4 << 20;

/// The path of the stand-in request for a refused head (an API client's).
pub const REFUSED_API: &str = "/v1/_refused";
/// The path of the stand-in request for a refused head (a page's).
pub const REFUSED_PAGE: &str = "/_refused";

/// Why a head was refused. Each says what was wrong, never what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    TargetTooLong,
    HeadTooLarge,
    TooManyFields,
    /// Not well-formed HTTP/1.x; the phrase says where.
    Malformed(&'static str),
    /// An HTTP/1.0 body without `Content-Length`.
    LengthRequired,
    /// The head did not arrive in time.
    Timeout,
}

/// A refused head, and whether it was for the API (JSON) or a page (HTML).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub why: Refusal,
    pub api: bool,
}

impl Refusal {
    pub fn error(self) -> ApiError {
        match self {
            Refusal::TargetTooLong => ApiError::new(
                ErrorCode::UriTooLong,
                format!("the request line is longer than {LINE} bytes; send long input in a body (POST) instead"),
            )
            .details(json!({ "limit_bytes": LINE })),
            Refusal::HeadTooLarge => ApiError::new(
                ErrorCode::RequestHeaderFieldsTooLarge,
                format!("the request's header fields are larger than {HEAD} bytes together"),
            )
            .details(json!({ "limit_bytes": HEAD })),
            Refusal::TooManyFields => {
                ApiError::new(ErrorCode::RequestHeaderFieldsTooLarge, format!("the request has more than {FIELDS} header fields"))
                    .details(json!({ "limit_fields": FIELDS }))
            }
            Refusal::Malformed(what) => ApiError::new(ErrorCode::BadRequest, format!("the request is not well-formed HTTP/1.1: {what}"))
                .details(json!({ "problem": what })),
            Refusal::LengthRequired => ApiError::new(ErrorCode::LengthRequired, "an HTTP/1.0 request with a body must send Content-Length"),
            Refusal::Timeout => ApiError::new(
                ErrorCode::RequestTimeout,
                format!("the request's head did not arrive within {} seconds", HEAD_TIMEOUT.as_secs()),
            )
            .details(json!({ "timeout_seconds": HEAD_TIMEOUT.as_secs() })),
        }
        .closing()
    }
}

/// What the framer makes of the bytes at the front of what is unread.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// The first this many bytes may go to actix as they are.
    Pass(usize),
    /// A head is not whole yet: nothing may go until more arrives.
    More,
    /// A head is refused.
    Refuse(Refused),
    /// The body's framing is broken (or its size lines or trailers too large): nothing more.
    Broken,
}

/// Where a chunked body is, in actix's own grammar (actix-http `h1/chunked.rs`), so that the two
/// agree byte for byte on where it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    SizeFirst,
    SizeRest,
    SizeLws,
    Extension,
    SizeLf,
    Body,
    BodyCr,
    BodyLf,
    Trailer,
    TrailerLf,
    EndCr,
    EndLf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a head: looked at up to `scanned` (for the end of a line).
    Head {
        scanned: usize,
    },
    /// A body of this many bytes more.
    Length(u64),
    /// A chunked body: where in it, what is left of the current chunk, and how many bytes the
    /// current size line or trailer section has taken.
    Chunked {
        at: Chunk,
        left: u64,
        taken: usize,
    },
    /// Everything from here is the request's (an upgrade, or CONNECT): actix reads it to the end.
    Stream,
    Broken,
}

const NEW_HEAD: State = State::Head { scanned: 0 };

/// The framing of one connection's requests. Pure: fed bytes, says what may go.
#[derive(Debug)]
pub struct Framer {
    state: State,
    /// A head with a body has just been passed (taken by [`Framer::body_started`]).
    body_started: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Framer { state: NEW_HEAD, body_started: false }
    }
}

impl Framer {
    /// Look at `input` (never empty), which starts where the last [`Framed::Pass`] ended.
    pub fn read(&mut self, input: &[u8]) -> Framed {
        match self.state {
            State::Head { .. } => self.head(input),
            State::Length(left) => {
                let n = left.min(input.len() as u64);
                self.state = if n == left { NEW_HEAD } else { State::Length(left - n) };
                Framed::Pass(n as usize)
            }
            State::Chunked { .. } => self.chunked(input),
            State::Stream => Framed::Pass(input.len()),
            State::Broken => Framed::Broken,
        }
    }

    /// Whether the bytes expected next are a body's.
    pub fn in_body(&self) -> bool {
        !matches!(self.state, State::Head { .. } | State::Broken)
    }

    /// How many more bytes of a `Content-Length` body are expected (`None` outside one): they
    /// may be read straight to actix.
    pub fn length_left(&self) -> Option<u64> {
        match self.state {
            State::Length(left) => Some(left),
            State::Stream => Some(u64::MAX),
            _ => None,
        }
    }

    /// Bytes of a `Content-Length` body (or a stream) read straight to actix.
    pub fn passed(&mut self, n: usize) {
        if let State::Length(left) = self.state {
            let left = left.saturating_sub(n as u64);
            self.state = if left == 0 { NEW_HEAD } else { State::Length(left) };
        }
    }

    /// Whether a head with a body was passed since the last call.
    pub fn body_started(&mut self) -> bool {
        std::mem::take(&mut self.body_started)
    }

    fn head(&mut self, input: &[u8]) -> Framed {
        let State::Head { scanned } = self.state else { return Framed::More };
        // A line ended since the last look: the head may be whole now.
        let line_ended = memchr::memchr(b'\n', &input[scanned..]).is_some();
        self.state = State::Head { scanned: input.len() };
        let blank = input.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
        if blank > BLANK {
            return refuse(Refusal::Malformed("more blank lines come before the request line than a client sends"), b"");
        }
        let rest = &input[blank..];
        let line = match memchr::memchr(b'\n', rest) {
            Some(end) => rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]),
            None => rest,
        };
        if line.len() > LINE {
            return refuse(Refusal::TargetTooLong, line);
        }
        // httparse is asked once a line ends, and on every piece of a head's first few bytes (so
        // that a head already wrong — TLS or another protocol on this port — is refused at once,
        // not when it would have ended; httparse's verdict on a prefix is final): a head
        // trickled a byte at a time costs a bounded amount of parsing.
        if !line_ended && input.len() > EARLY {
            return if input.len() > HEAD { refuse(Refusal::HeadTooLarge, line) } else { Framed::More };
        }
        let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; FIELDS];
        let mut request = httparse::Request::new(&mut []);
        match request.parse_with_uninit_headers(input, &mut fields) {
            Ok(httparse::Status::Complete(n)) if n <= HEAD => {
                self.state = NEW_HEAD;
                self.check(&request, n, line)
            }
            Ok(httparse::Status::Partial) if input.len() <= HEAD => Framed::More,
            Ok(_) => refuse(Refusal::HeadTooLarge, line),
            Err(httparse::Error::TooManyHeaders) => refuse(Refusal::TooManyFields, line),
            Err(e) => refuse(Refusal::Malformed(parse_problem(e)), line),
        }
    }

    /// A whole head of `len` bytes, parsed: checked as actix will check it (actix-http
    /// `h1/decoder.rs`), under our bounds.
    fn check(&mut self, request: &httparse::Request<'_, '_>, len: usize, line: &[u8]) -> Framed {
        let (Some(method), Some(target), Some(version)) = (request.method, request.path, request.version) else {
            return refuse(Refusal::Malformed("the request line is incomplete"), line);
        };
        let Ok(method) = Method::from_bytes(method.as_bytes()) else {
            return refuse(Refusal::Malformed("the method is not valid"), line);
        };
        if !plain(target.as_bytes()) && Uri::try_from(target).is_err() {
            return refuse(Refusal::Malformed("the request target is not a valid URI"), line);
        }
        let http11 = version == 1;
        let (mut length, mut chunked, mut te, mut host, mut websocket) = (None, false, false, false, false);
        for field in request.headers.iter() {
            // A value is read only for the fields that frame the request.
            let text = || visible(field.value).map(str::trim);
            let name = field.name;
            if name.eq_ignore_ascii_case("content-length") {
                match text() {
                    _ if length.is_some() => return refuse(Refusal::Malformed("Content-Length is given twice"), line),
                    Some(v) if !v.starts_with('+') => match v.parse::<u64>() {
                        Ok(n) => length = Some(n),
                        Err(_) => return refuse(Refusal::Malformed("Content-Length is not a number"), line),
                    },
                    _ => return refuse(Refusal::Malformed("Content-Length is not a number"), line),
                }
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                if te {
                    return refuse(Refusal::Malformed("Transfer-Encoding is given twice"), line);
                }
                te = true;
                if !http11 {
                    return refuse(Refusal::Malformed("HTTP/1.0 has no Transfer-Encoding"), line);
                }
                match text() {
                    Some(v) if v.eq_ignore_ascii_case("chunked") => chunked = true,
                    _ => return refuse(Refusal::Malformed("the only Transfer-Encoding taken is chunked"), line),
                }
            } else if name.eq_ignore_ascii_case("host") {
                if host {
                    return refuse(Refusal::Malformed("Host is given twice"), line);
                }
                host = true;
            } else if name.eq_ignore_ascii_case("upgrade") {
                websocket |= text().is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            }
        }
        if http11 && !host {
            return refuse(Refusal::Malformed("an HTTP/1.1 request must send Host"), line);
        }
        if te && length.is_some() {
            return refuse(Refusal::Malformed("Content-Length and Transfer-Encoding are both given"), line);
        }
        if !http11 && method == Method::POST && length.is_none() && !websocket {
            return refuse(Refusal::LengthRequired, line);
        }
        self.state = if chunked {
            State::Chunked { at: Chunk::SizeFirst, left: 0, taken: 0 }
        } else if websocket {
            State::Stream
        } else if let Some(n) = length.filter(|n| *n > 0) {
            State::Length(n)
        } else if method == Method::CONNECT {
            State::Stream
        } else {
            NEW_HEAD
        };
        self.body_started = self.in_body();
        Framed::Pass(len)
    }

    fn chunked(&mut self, input: &[u8]) -> Framed {
        let State::Chunked { mut at, mut left, mut taken } = self.state else { return Framed::Broken };
        let mut i = 0;
        while i < input.len() {
            if at == Chunk::Body {
                let n = left.min((input.len() - i) as u64);
                (i, left) = (i + n as usize, left - n);
                if left == 0 {
                    at = Chunk::BodyCr;
                }
                continue;
            }
            let b = input[i];
            i += 1;
            taken += 1;
            let next = match (at, b) {
                (Chunk::SizeFirst, _) => hex(b).map(|d| {
                    left = u64::from(d);
                    Chunk::SizeRest
                }),
                (Chunk::SizeRest, b'\t' | b' ') | (Chunk::SizeLws, b'\t' | b' ') => Some(Chunk::SizeLws),
                (Chunk::SizeRest | Chunk::SizeLws, b';') => Some(Chunk::Extension),
                (Chunk::SizeRest | Chunk::SizeLws | Chunk::Extension, b'\r') => Some(Chunk::SizeLf),
                (Chunk::SizeRest, _) => match (hex(b), left.checked_mul(16)) {
                    (Some(d), Some(n)) => {
                        left = n + u64::from(d);
                        Some(Chunk::SizeRest)
                    }
                    _ => None,
                },
                (Chunk::SizeLws, _) => None,
                (Chunk::Extension, 0x00..=0x08 | 0x0a..=0x1f | 0x7f) => None,
                (Chunk::Extension, _) => Some(Chunk::Extension),
                (Chunk::SizeLf, b'\n') if left > 0 => {
                    taken = 0;
                    Some(Chunk::Body)
                }
                (Chunk::SizeLf, b'\n') => {
                    taken = 0;
                    Some(Chunk::EndCr)
                }
                (Chunk::SizeLf, _) => None,
                (Chunk::BodyCr, b'\r') => Some(Chunk::BodyLf),
                (Chunk::BodyLf, b'\n') => {
                    taken = 0;
                    Some(Chunk::SizeFirst)
                }
                (Chunk::BodyCr | Chunk::BodyLf, _) => None,
                (Chunk::Trailer, b'\r') => Some(Chunk::TrailerLf),
                (Chunk::Trailer, _) => Some(Chunk::Trailer),
                (Chunk::TrailerLf, b'\n') => Some(Chunk::EndCr),
                (Chunk::TrailerLf, _) => None,
                (Chunk::EndCr, b'\r') => Some(Chunk::EndLf),
                (Chunk::EndCr, _) => Some(Chunk::Trailer),
                (Chunk::EndLf, b'\n') => {
                    self.state = NEW_HEAD;
                    return Framed::Pass(i);
                }
                (Chunk::EndLf, _) | (Chunk::Body, _) => None,
            };
            match next {
                Some(next) if taken <= HEAD => at = next,
                _ => {
                    // What came before the fault is passed; then the body ends.
                    self.state = State::Broken;
                    return if i > 1 { Framed::Pass(i - 1) } else { Framed::Broken };
                }
            }
        }
        self.state = State::Chunked { at, left, taken };
        Framed::Pass(i)
    }
}

/// The bytes http's URI parser takes anywhere in an origin-form target, path or query, as they
/// are: a target of only these, after its `/`, needs no parse (which copies it) to be known valid.
/// A test holds http to this.
const PLAIN: [bool; 256] = {
    let marks = b"-._~/%?=&+,;:@!$'()*";
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = (i as u8).is_ascii_alphanumeric();
        i += 1;
    }
    let mut i = 0;
    while i < marks.len() {
        table[marks[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether a request target is an origin-form one of [`PLAIN`] bytes only.
fn plain(target: &[u8]) -> bool {
    target.first() == Some(&b'/') && target.iter().all(|&b| PLAIN[b as usize])
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// A header value as actix reads it (`HeaderValue::to_str`: visible ASCII and tabs), or `None`.
fn visible(value: &[u8]) -> Option<&str> {
    if value.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)) {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
}

/// The request line at the head's start (blank lines before it skipped), whole or in part.
fn request_line(head: &[u8]) -> &[u8] {
    let start = head.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(head.len());
    let rest = &head[start..];
    &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())]
}

impl Refused {
    /// A refusal of the head whose request line (whole or in part) is `line`, answered as the
    /// API's or as a page's by the target's path where the line shows one: a path outside the
    /// API is a page's; anything else (no path, not HTTP) the API's.
    fn of(why: Refusal, line: &[u8]) -> Refused {
        let target = line.split(|&b| b == b' ').nth(1).unwrap_or_default();
        let path = &target[..memchr::memchr(b'?', target).unwrap_or(target.len())];
        let page = path.starts_with(b"/") && !std::str::from_utf8(path).is_ok_and(super::is_api);
        Refused { why, api: !page }
    }
}

/// The framer's answer for a refused head.
fn refuse(why: Refusal, line: &[u8]) -> Framed {
    Framed::Refuse(Refused::of(why, line))
}

fn parse_problem(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "a header field's name is not valid",
        httparse::Error::HeaderValue => "a header field's value is not valid",
        httparse::Error::NewLine => "a line does not end as HTTP's lines do",
        httparse::Error::Status => "the status is not valid",
        httparse::Error::Token => "the method is not valid",
        httparse::Error::TooManyHeaders => "there are too many header fields",
        httparse::Error::Version => "the version is not HTTP/1.0 or HTTP/1.1",
    }
}

/// What a connection's wire and its requests tell each other: the refusal the wire made (for the
/// stand-in request's handler to answer), and that an answer closes the connection (so whatever
/// the client still sends is not read on, and not waited for).
#[derive(Clone, Default)]
pub struct Conn(Rc<ConnState>);

#[derive(Default)]
struct ConnState {
    refused: Cell<Option<Refused>>,
    closing: Cell<bool>,
    /// The connection's task, while it waits for a body's bytes: woken when the answer closes
    /// the connection, so that a body which never comes does not keep it waiting.
    waiting: Cell<Option<Waker>>,
}

impl Conn {
    /// The connection ends with the answer being made: the wire reads nothing more for actix
    /// (a body being drained ends here), and lingers only to let the client read the answer.
    pub fn closing(&self) {
        self.0.closing.set(true);
        if let Some(waker) = self.0.waiting.take() {
            waker.wake();
        }
    }
}

/// A connection's bytes, framed and checked on their way to actix. Writes pass straight through.
pub struct Wire<S> {
    io: S,
    framer: Framer,
    /// Read from the socket and not yet given to actix: the first `passable` bytes may go; after
    /// them, a head not yet whole (`fresh`: with bytes the framer has not seen).
    held: BytesMut,
    passable: usize,
    fresh: bool,
    /// What stopped the framing, acted on once the bytes before it have gone to actix.
    stopped: Option<Stop>,
    /// Nothing more is read from the socket: what is left of the stand-in request, then the end.
    ending: Option<Bytes>,
    conn: Conn,
    timer: Option<Pin<Box<Sleep>>>,
    /// Once the connection is being shut down: until when the client's bytes are read and
    /// dropped, and how many have been.
    linger: Option<(Instant, usize)>,
    /// When the head being read began (for a connection's first request, when it opened).
    head_since: Option<Instant>,
    /// The body's current window: when it began, and what has arrived in it.
    window: (Instant, u64),
    timing: Timing,
}

impl<S> Wire<S> {
    pub fn new(io: S, timing: Timing) -> Wire<S> {
        let now = Instant::now();
        Wire {
            io,
            framer: Framer::default(),
            held: BytesMut::new(),
            passable: 0,
            fresh: false,
            stopped: None,
            ending: None,
            conn: Conn::default(),
            timer: None,
            linger: None,
            head_since: Some(now),
            window: (now, 0),
            timing,
        }
    }

    /// What the connection's requests see of it (`HttpRequest::conn_data`).
    pub fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Answer `why` with a stand-in request, then the end of the stream.
    fn refuse(&mut self, refused: Refused) {
        tracing::info!(refusal = ?refused.why, "refused a request's head");
        self.conn.0.refused.set(Some(refused));
        let path = if refused.api { REFUSED_API } else { REFUSED_PAGE };
        self.ending = Some(Bytes::from(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")));
        self.held.clear();
        (self.passable, self.fresh) = (0, false);
    }

    fn end(&mut self) {
        self.ending = Some(Bytes::new());
        self.held.clear();
        (self.passable, self.fresh) = (0, false);
    }

    /// Frame `input` from its start, request after request: how many bytes may go to actix, and
    /// what stopped the framing before the end, if anything did.
    fn frame(&mut self, input: &[u8]) -> (usize, Option<Stop>) {
        let mut at = 0;
        while at < input.len() {
            let was_head = !self.framer.in_body();
            match self.framer.read(&input[at..]) {
                Framed::Pass(n) => {
                    at += n;
                    if self.framer.body_started() {
                        self.window = (Instant::now(), 0);
                    }
                    if was_head {
                        self.head_since = None;
                    }
                }
                Framed::More => {
                    // A head begun: its clock starts (for a connection's first, it runs already).
                    self.head_since.get_or_insert_with(Instant::now);
                    return (at, None);
                }
                Framed::Refuse(refused) => return (at, Some(Stop::Refuse(refused))),
                Framed::Broken => return (at, Some(Stop::Broken)),
            }
        }
        (at, None)
    }

    /// Whether `deadline` has passed; if not, the task is woken when it does.
    fn expired(&mut self, cx: &mut Context<'_>, deadline: Instant) -> bool {
        if Instant::now() >= deadline {
            return true;
        }
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }

    /// Bytes arrived from the socket: a body's window fills.
    fn arrived(&mut self, n: usize) {
        if self.framer.in_body() {
            self.window.1 += n as u64;
            if self.window.1 >= MIN_PROGRESS {
                self.window = (Instant::now(), 0);
            }
        }
    }

    /// Nothing to read now: whether the head or the body has run out of time (and what then).
    fn waited_too_long(&mut self, cx: &mut Context<'_>) -> bool {
        if self.framer.in_body() {
            let waker = match self.conn.0.waiting.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.conn.0.waiting.set(Some(waker));
            let deadline = self.window.0 + self.timing.body_window;
            if self.expired(cx, deadline) {
                tracing::info!(window_seconds = self.timing.body_window.as_secs(), "ended a connection whose body stalled");
                self.end();
                return true;
            }
        } else if let Some(since) = self.head_since {
            if self.expired(cx, since + self.timing.head) {
                if self.held.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    // Nothing was sent (or only the blank lines a client may send between
                    // requests): the connection just ends.
                    self.end();
                } else {
                    let refused = Refused::of(Refusal::Timeout, request_line(&self.held));
                    self.refuse(refused);
                }
                return true;
            }
        }
        false
    }
}

/// What stopped a connection's framing.
#[derive(Debug, Clone, Copy)]
enum Stop {
    Refuse(Refused),
    Broken,
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    /// Bytes are read straight into actix's buffer and framed where they land; what may not go
    /// yet (a head not whole, or anything after a refusal) is taken back out and held. A
    /// `Content-Length` body is read no further than its end, and needs no framing.
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.ending.is_none() && this.conn.0.closing.get() {
            // The answer closes the connection: nothing more is read for actix.
            this.end();
        }
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if this.passable > 0 {
                let n = this.passable.min(buf.remaining());
                buf.put_slice(&this.held[..n]);
                this.held.advance(n);
                this.passable -= n;
                return Poll::Ready(Ok(()));
            }
            match this.stopped.take() {
                Some(Stop::Refuse(refused)) => this.refuse(refused),
                Some(Stop::Broken) => {
                    tracing::info!("ended a connection whose chunked body is broken");
                    this.end();
                }
                None => {}
            }
            if let Some(ending) = &mut this.ending {
                let n = ending.len().min(buf.remaining());
                buf.put_slice(&ending.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if this.fresh {
                this.fresh = false;
                let held = std::mem::take(&mut this.held);
                let (n, stop) = this.frame(&held);
                (this.held, this.passable, this.stopped) = (held, n, stop);
                continue;
            }
            let polled = if this.held.is_empty() {
                let before = buf.filled().len();
                let left = this.framer.length_left();
                let polled = match left {
                    Some(left) if left < buf.remaining() as u64 => {
                        let mut part = ReadBuf::new(buf.initialize_unfilled_to(left as usize));
                        let polled = Pin::new(&mut this.io).poll_read(cx, &mut part);
                        let n = part.filled().len();
                        buf.advance(n);
                        polled
                    }
                    _ => Pin::new(&mut this.io).poll_read(cx, buf),
                };
                if let Poll::Ready(Ok(())) = polled {
                    let n = buf.filled().len() - before;
                    if n == 0 {
                        // The client closed its side.
                        this.end();
                        continue;
                    }
                    this.arrived(n);
                    if left.is_some() {
                        this.framer.passed(n);
                        return Poll::Ready(Ok(()));
                    }
                    let (k, stop) = this.frame(&buf.filled()[before..]);
                    if k < n {
                        this.held.extend_from_slice(&buf.filled()[before + k..]);
                        buf.set_filled(before + k);
                    }
                    this.stopped = stop;
                    if k > 0 {
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                polled
            } else {
                // A head not yet whole is held: the rest of it joins it.
                if this.held.capacity() - this.held.len() < 4096 {
                    this.held.reserve(16 << 10);
                }
                match tokio_util::io::poll_read_buf(Pin::new(&mut this.io), cx, &mut this.held) {
                    Poll::Ready(Ok(0)) => {
                        // The client closed its side: a head not whole is dropped.
                        this.end();
                        continue;
                    }
                    Poll::Ready(Ok(n)) => {
                        this.arrived(n);
                        this.fresh = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Pending => Poll::Pending,
                }
            };
            match polled {
                Poll::Pending if this.waited_too_long(cx) => continue,
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => return Poll::Ready(result),
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// The answer is sent and the write side closed (FIN). If the client may still be sending
    /// (a refusal, a body not read to its end, a head begun), what it sends is then read and
    /// dropped, for at most [`LINGER`] or [`LINGER_BYTES`], until it closes too: closing with its
    /// bytes unread would reset the connection, and a reset can destroy the answer before the
    /// client reads it. A connection closed between requests (its keep-alive over) just closes.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            std::task::ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            let unread = this.conn.0.closing.get() || this.ending.is_some() || this.framer.in_body() || !this.held.is_empty();
            if !unread {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some((Instant::now() + this.timing.linger, 0));
        }
        let mut scratch = [0u8; 8192];
        loop {
            let Some((until, dropped)) = this.linger else { return Poll::Ready(Ok(())) };
            let mut space = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut space) {
                Poll::Ready(Ok(())) if !space.filled().is_empty() && dropped + space.filled().len() < LINGER_BYTES => {
                    this.linger = Some((until, dropped + space.filled().len()));
                }
                // The client closed, failed, or sent too much.
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending if this.expired(cx, until) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The stand-in request's answer: the refusal its connection's wire made, in the contract's
/// shape (or as a page). Without one (a client asking for the path itself), there is nothing here.
pub async fn refused(req: HttpRequest) -> Result<HttpResponse, actix_web::Error> {
    let refused = req.conn_data::<Conn>().and_then(|c| c.0.refused.take());
    match refused {
        Some(Refused { why, api: true }) => Err(why.error().into()),
        Some(Refused { why, api: false }) => {
            let (error, _) = why.error().into_parts();
            Err(crate::pages::PageError::from(error).into())
        }
        None => super::not_found(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(framer: &mut Framer, input: &[u8]) -> Vec<Framed> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let step = framer.read(&input[at..]);
            match step {
                Framed::Pass(n) => at += n,
                _ => {
                    out.push(step);
                    return out;
                }
            }
            out.push(Framed::Pass(at));
        }
        out
    }

    fn refusal(input: &[u8]) -> Option<Refusal> {
        match Framer::default().read(input) {
            Framed::Refuse(r) => Some(r.why),
            _ => None,
        }
    }

    #[test]
    fn pipelined_requests_are_framed_one_after_another() {
        let mut f = Framer::default();
        let get = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n";
        let post = b"POST /v1/opt-outs HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
        let chunked = b"POST /v1/check HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n";
        let input = [&get[..], &post[..], &chunked[..], &get[..]].concat();
        let ends: Vec<_> = frame(&mut f, &input).into_iter().collect();
        let chunked_head = chunked.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let heads_and_bodies = [
            get.len(),
            get.len() + post.len() - 5,
            get.len() + post.len(),
            get.len() + post.len() + chunked_head,
            get.len() + post.len() + chunked.len(),
            input.len(),
        ];
        assert_eq!(ends, heads_and_bodies.iter().map(|&n| Framed::Pass(n)).collect::<Vec<_>>());
        assert!(!f.in_body());
    }

    #[test]
    fn a_head_in_pieces_waits_and_then_passes_whole() {
        let head = b"\r\nGET /v1/check?phone=1 HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut f = Framer::default();
        for end in 1..head.len() {
            assert_eq!(f.read(&head[..end]), Framed::More, "at {end}");
        }
        assert_eq!(f.read(head), Framed::Pass(head.len()));
    }

    #[test]
    fn heads_actix_would_refuse_are_refused_here() {
        let cases: &[(&[u8], Refusal)] = &[
            (b"THIS IS NOT HTTP\r\n\r\n", Refusal::Malformed("the version is not HTTP/1.0 or HTTP/1.1")),
            (b"GET / HTTP/1.1\r\n\r\n", Refusal::Malformed("an HTTP/1.1 request must send Host")),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Refusal::Malformed("Host is given twice")),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                Refusal::Malformed("Content-Length and Transfer-Encoding are both given"),
            ),
            (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Refusal::Malformed("Content-Length is not a number")),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Refusal::Malformed("Content-Length is given twice"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Refusal::Malformed("the only Transfer-Encoding taken is chunked"),
            ),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Refusal::Malformed("HTTP/1.0 has no Transfer-Encoding")),
            (b"POST / HTTP/1.0\r\n\r\n", Refusal::LengthRequired),
            (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Refusal::Malformed("the version is not HTTP/1.0 or HTTP/1.1")),
            (b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", Refusal::Malformed("a header field's name is not valid")),
        ];
        for (head, why) in cases {
            assert_eq!(refusal(head), Some(*why), "{}", String::from_utf8_lossy(head));
        }
        let many = format!("GET / HTTP/1.1\r\nHost: a\r\n{}\r\n", "X: 1\r\n".repeat(FIELDS));
        assert_eq!(refusal(many.as_bytes()), Some(Refusal::TooManyFields));
    }

    #[test]
    fn sizes_are_refused_before_the_head_ends() {
        let long = format!("GET /v1/check?phone={}", "1".repeat(LINE));
        assert_eq!(Framer::default().read(long.as_bytes()), Framed::Refuse(Refused { why: Refusal::TargetTooLong, api: true }));
        let page = format!("GET /people?q={}", "1".repeat(LINE));
        assert_eq!(Framer::default().read(page.as_bytes()), Framed::Refuse(Refused { why: Refusal::TargetTooLong, api: false }));
        let big = format!("GET /health HTTP/1.1\r\nHost: a\r\nX-Big: {}", "b".repeat(HEAD));
        assert_eq!(refusal(big.as_bytes()), Some(Refusal::HeadTooLarge));
        let blanks = "\r\n".repeat(5);
        assert_eq!(
            refusal(blanks.as_bytes()),
            Some(Refusal::Malformed("more blank lines come before the request line than a client sends"))
        );
        let fields = format!("GET /health HTTP/1.1\r\nHost: a\r\n{}", format!("X-Field: {}\r\n", "1".repeat(1024)).repeat(40));
        assert_eq!(refusal(fields.as_bytes()), Some(Refusal::HeadTooLarge));
    }

    #[test]
    fn a_head_within_the_bounds_passes() {
        let fields: String = (0..FIELDS - 1).map(|i| format!("X-{i}: {}\r\n", "v".repeat(100))).collect();
        let head = format!("GET /v1/check?phone={} HTTP/1.1\r\nHost: a\r\n{fields}\r\n", "1".repeat(LINE - 40));
        assert_eq!(Framer::default().read(head.as_bytes()), Framed::Pass(head.len()));
    }

    #[test]
    fn a_broken_chunked_body_passes_what_came_before_and_ends() {
        let head = b"POST /v1/check HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        for (body, good) in [(&b"5\r\nhelloXX"[..], 8), (b"zz\r\n", 0), (b"5\r\nhello\r\n0\r\n\rX", 14), (b"5 x\r\n", 2)] {
            let mut f = Framer::default();
            assert_eq!(f.read(head), Framed::Pass(head.len()));
            if good > 0 {
                assert_eq!(f.read(body), Framed::Pass(good), "{}", String::from_utf8_lossy(body));
            }
            assert_eq!(f.read(&body[good..]), Framed::Broken, "{}", String::from_utf8_lossy(body));
        }
        let mut f = Framer::default();
        f.read(head);
        let endless = format!("5;{}", "e".repeat(HEAD));
        assert!(matches!(f.read(endless.as_bytes()), Framed::Pass(n) if n <= HEAD));
    }

    /// What actix's own HTTP/1 codec makes of `input`: the head's length (or `None` if it
    /// refuses it, `Some(None)` if it wants more), and then how its body is framed — `Some(n)`: a
    /// body of n bytes to its end, `None`: none, or a stream to the connection's end
    /// (`u64::MAX`), or refused (`u64::MAX - 1`).
    fn actix(input: &[u8]) -> Option<Option<(usize, Option<u64>)>> {
        use actix_http::h1::{Codec, Message, MessageType};
        use tokio_util::codec::Decoder;
        let mut codec = Codec::default();
        let mut buf = BytesMut::from(input);
        match codec.decode(&mut buf) {
            Err(_) => return None,
            Ok(None) => return Some(None),
            Ok(Some(_)) => {}
        }
        let head = input.len() - buf.len();
        let body = match codec.message_type() {
            MessageType::None => None,
            MessageType::Stream => Some(u64::MAX),
            MessageType::Payload => loop {
                match codec.decode(&mut buf) {
                    Ok(Some(Message::Chunk(Some(_)))) => {}
                    Ok(Some(Message::Chunk(None))) => break Some((input.len() - head - buf.len()) as u64),
                    Ok(_) => break Some(u64::MAX - 2),
                    Err(_) => break Some(u64::MAX - 1),
                }
            },
        };
        Some(Some((head, body)))
    }

    /// The same, by the framer: the bytes passed before the body's end, or the fault.
    fn ours(input: &[u8]) -> Option<Option<(usize, Option<u64>)>> {
        let mut f = Framer::default();
        let head = match f.read(input) {
            Framed::Pass(n) => n,
            Framed::More => return Some(None),
            Framed::Refuse(_) | Framed::Broken => return None,
        };
        if !f.in_body() {
            return Some(Some((head, None)));
        }
        if f.length_left() == Some(u64::MAX) {
            return Some(Some((head, Some(u64::MAX))));
        }
        let mut at = head;
        loop {
            if at == input.len() {
                return Some(Some((head, Some(u64::MAX - 2))));
            }
            match f.read(&input[at..]) {
                Framed::Pass(n) if f.state != State::Broken => at += n,
                _ => return Some(Some((head, Some(u64::MAX - 1)))),
            }
            if !f.in_body() {
                return Some(Some((head, Some((at - head) as u64))));
            }
        }
    }

    /// Every head in a corpus of request lines, header sets and line ends, and every chunked
    /// body in another, framed by actix's codec and by the framer: they agree on what is refused,
    /// where each head ends and where each body ends.
    #[actix_web::test] // actix's codec keeps a date clock on the runtime
    async fn the_framer_agrees_with_actix_on_heads_and_bodies() {
        let lines: &[&str] = &[
            "GET / HTTP/1.1",
            "GET / HTTP/1.0",
            "POST /v1/check HTTP/1.1",
            "POST / HTTP/1.0",
            "CONNECT a:443 HTTP/1.1",
            "GET /a b HTTP/1.1",
            "get / HTTP/1.1",
            "GET  / HTTP/1.1",
            "GET / HTTP/2.0",
            "GET /\x7f HTTP/1.1",
            "GET / HTTP/1.1 ",
            "\r\nGET / HTTP/1.1",
            "GET http://a/b?c HTTP/1.1",
            "OPTIONS * HTTP/1.1",
            "GET /%zz?x=%ZZ HTTP/1.1",
            "GET / HTTP/1.1\r",
        ];
        let fields: &[&[&str]] = &[
            &[],
            &["Host: a"],
            &["Host: a", "Host: b"],
            &["host: a", "Content-Length: 5"],
            &["Host: a", "Content-Length: 0"],
            &["Host: a", "Content-Length: +5"],
            &["Host: a", "Content-Length: 5", "Content-Length: 5"],
            &["Host: a", "Content-Length:  5 "],
            &["Host: a", "Content-Length: 5x"],
            &["Host: a", "Content-Length: 99999999999999999999999"],
            &["Host: a", "Transfer-Encoding: chunked"],
            &["Host: a", "transfer-encoding: Chunked "],
            &["Host: a", "Transfer-Encoding: identity"],
            &["Host: a", "Transfer-Encoding: gzip, chunked"],
            &["Host: a", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
            &["Host: a", "Transfer-Encoding: chunked", "Content-Length: 5"],
            &["Host: a", "Upgrade: websocket"],
            &["Host: a", "Upgrade: websocket", "Content-Length: 3"],
            &["Host: a", "Upgrade: WebSocket", "Transfer-Encoding: chunked"],
            &["Host: a", "X: caf\u{e9}"],
            &["Host: a", " folded"],
            &["Host: a", "Bad Name: 1"],
            &["Host: a", "Expect: 100-continue", "Content-Length: 1"],
            &["Host: a", "Content-Length: 5", "Connection: close"],
            &["Host: a", "X:"],
        ];
        let bodies: &[&str] = &[
            "",
            "hello",
            "5\r\nhello\r\n0\r\n\r\n",
            "5;ext=1\r\nhello\r\n0\r\n\r\n",
            "5 \r\nhello\r\n0\r\n\r\n",
            "5\t;x\r\nhello\r\n0\r\nT: 1\r\n\r\n",
            "A\r\n0123456789\r\n0\r\n\r\n",
            "0\r\n\r\n",
            "0\r\nX: y\r\nZ: w\r\n\r\n",
            "5\r\nhelloXX",
            "5\nhello\r\n0\r\n\r\n",
            "ffffffffffffffffff\r\n",
            "5\r\nhello\n0\r\n\r\n",
            "0;\u{1}\r\n\r\n",
            "0\r\n\r\r\n",
            "5 5\r\nhello\r\n0\r\n\r\n",
            "0\r\n\n",
        ];
        let mut compared = 0;
        for line in lines {
            for set in fields {
                for end in ["\r\n", "\n"] {
                    for body in bodies {
                        let mut head = format!("{line}{end}");
                        for f in *set {
                            head.push_str(&format!("{f}{end}"));
                        }
                        let input = format!("{head}{end}{body}GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                        let (a, o) = (actix(input.as_bytes()), ours(input.as_bytes()));
                        assert_eq!(o, a, "framer and actix differ on {input:?}");
                        compared += 1;
                        // Every prefix of a head actix takes waits for more: nothing taken is
                        // refused early.
                        if let (Some(Some((head, _))), true) = (a, body.is_empty()) {
                            for cut in 1..head {
                                let part = &input.as_bytes()[..cut];
                                assert_eq!(
                                    Framer::default().read(part),
                                    Framed::More,
                                    "a prefix refused: {:?}",
                                    String::from_utf8_lossy(part)
                                );
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(compared, lines.len() * fields.len() * 2 * bodies.len());
    }

    const SHORT: Timing =
        Timing { head: Duration::from_millis(150), body_window: Duration::from_millis(300), linger: Duration::from_millis(100) };

    /// A wire over one end of a real local TCP connection, and the other end.
    fn wire_with(timing: Timing) -> (Wire<actix_web::rt::net::TcpStream>, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client.set_nodelay(true).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let server = actix_web::rt::net::TcpStream::from_std(server).unwrap();
        (Wire::new(server, timing), client)
    }

    fn wire() -> (Wire<actix_web::rt::net::TcpStream>, std::net::TcpStream) {
        wire_with(SHORT)
    }

    /// One read through the wire into a buffer of `size` bytes: what it gave (empty: the end).
    async fn read(wire: &mut Wire<actix_web::rt::net::TcpStream>, size: usize) -> Vec<u8> {
        let mut space = vec![0u8; size];
        let n = std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut space);
            match Pin::new(&mut *wire).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => Poll::Ready(buf.filled().len()),
                Poll::Ready(Err(e)) => panic!("read failed: {e}"),
                Poll::Pending => Poll::Pending,
            }
        });
        let n = actix_web::rt::time::timeout(Duration::from_secs(3), n).await.expect("the wire answered within 3 s");
        space.truncate(n);
        space
    }

    /// Read through the wire until `want` bytes have come, in reads of `size` bytes.
    async fn read_exactly(wire: &mut Wire<actix_web::rt::net::TcpStream>, want: usize, size: usize) -> Vec<u8> {
        let mut got = Vec::new();
        while got.len() < want {
            let piece = read(wire, size).await;
            assert!(!piece.is_empty(), "the stream ended after {} of {want} bytes", got.len());
            got.extend(piece);
        }
        got
    }

    #[actix_web::test]
    async fn pipelined_requests_pass_whole_and_in_order_through_small_reads() {
        use std::io::Write;
        let (mut wire, mut client) = wire();
        let input: &[u8] = b"GET /health HTTP/1.1\r\nHost: a\r\n\r\nPOST /v1/check HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloPOST /v1/check HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\n\r\n";
        for piece in input.chunks(7) {
            client.write_all(piece).unwrap();
        }
        assert_eq!(read_exactly(&mut wire, input.len(), 3).await, input);
    }

    #[actix_web::test]
    async fn a_head_too_slow_becomes_the_stand_in_request_and_then_the_end() {
        use std::io::Write;
        let (mut wire, mut client) = wire();
        let started = Instant::now();
        client.write_all(b"GET /v1/check?phone=1 HTTP/1.1\r\nHost:").unwrap();
        let stand_in = read_exactly(&mut wire, 20, 64).await;
        assert!(started.elapsed() >= SHORT.head, "refused after {:?}", started.elapsed());
        assert!(stand_in.starts_with(b"GET /v1/_refused HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&stand_in));
        let rest = read(&mut wire, 4096).await;
        assert!(rest.is_empty() || read(&mut wire, 4096).await.is_empty());
        assert_eq!(wire.conn().0.refused.take(), Some(Refused { why: Refusal::Timeout, api: true }));
    }

    #[actix_web::test]
    async fn blank_lines_after_a_body_end_the_connection_quietly() {
        use std::io::Write;
        let (mut wire, mut client) = wire();
        let request: &[u8] = b"POST /v1/check HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}";
        let started = Instant::now();
        client.write_all(&[request, b"\r\n"].concat()).unwrap();
        assert_eq!(read_exactly(&mut wire, request.len(), 4096).await, request);
        // The blank line is not a head that never came: no stand-in, just the end.
        assert_eq!(read(&mut wire, 4096).await, b"");
        assert!(started.elapsed() >= SHORT.head, "ended after {:?}", started.elapsed());
        assert_eq!(wire.conn().0.refused.take(), None);
    }

    #[actix_web::test]
    async fn a_stalled_body_ends_the_stream() {
        use std::io::Write;
        let (mut wire, mut client) = wire();
        let head: &[u8] = b"POST /v1/check HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n";
        let started = Instant::now();
        client.write_all(&[head, b"0123456789"].concat()).unwrap();
        assert_eq!(read_exactly(&mut wire, head.len() + 10, 4096).await.len(), head.len() + 10);
        assert_eq!(read(&mut wire, 4096).await, b"");
        assert!(started.elapsed() >= SHORT.body_window, "ended after {:?}", started.elapsed());
    }

    #[actix_web::test]
    async fn an_answer_that_closes_ends_a_body_being_waited_for() {
        use std::io::Write;
        // A long body window: only the answer can end the wait.
        let (mut wire, mut client) = wire_with(Timing { body_window: Duration::from_secs(10), ..SHORT });
        let head: &[u8] = b"POST /v1/scrubs HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        client.write_all(head).unwrap();
        assert_eq!(read_exactly(&mut wire, head.len(), 4096).await, head);
        let conn = wire.conn();
        actix_web::rt::spawn(async move {
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
            conn.closing();
        });
        let started = Instant::now();
        assert_eq!(read(&mut wire, 4096).await, b"");
        assert!(started.elapsed() < Duration::from_secs(2), "the read waited {:?} for a body nobody reads", started.elapsed());
    }

    /// Every plain byte is taken by http's URI parser, at any place in a path or a query.
    #[test]
    fn plain_targets_are_valid_uris() {
        let plain_bytes: String = (0u8..=255).filter(|b| PLAIN[*b as usize]).map(char::from).collect();
        assert_eq!(plain_bytes.len(), 62 + 20);
        for target in [format!("/{plain_bytes}"), format!("/a?{plain_bytes}"), format!("/{plain_bytes}?{plain_bytes}"), "/".to_owned()] {
            assert!(plain(target.as_bytes()), "{target}");
            assert!(Uri::try_from(target.as_str()).is_ok(), "http refuses {target}");
        }
        for target in ["/a b", "/a\"b", "/a#b", "/a<b", "*", "http://a/b"] {
            assert!(!plain(target.as_bytes()), "{target}");
        }
    }

    #[test]
    fn zero_length_and_connect_and_upgrades_frame_as_actix_does() {
        let mut f = Framer::default();
        let zero = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(f.read(zero), Framed::Pass(zero.len()));
        assert!(!f.in_body());
        let ws = b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(f.read(ws), Framed::Pass(ws.len()));
        assert_eq!(f.length_left(), Some(u64::MAX));
        let mut f = Framer::default();
        let connect = b"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(f.read(connect), Framed::Pass(connect.len()));
        assert_eq!(f.length_left(), Some(u64::MAX));
    }
}
