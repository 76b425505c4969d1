//! CONTRACT §9 for what the HTTP layer refuses itself (issue 10, findings 7 and 13): a head too
//! long, too large, malformed or too slow is answered in the contract's shape (or as a page), in
//! turn after the requests before it on its connection; a body nobody reads any more cannot hold
//! its connection; a broken chunked body gets one answer in the contract's shape.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{error_code, raw_answer, TestApp};

/// One answer read off a connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {:?} {}", self.head, String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// The answers in `raw`, one after another (each with a `Content-Length`).
fn answers(raw: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((status, head, body, end)) = raw_answer(raw, at) {
        out.push(Answer { status, head, body });
        at = end;
    }
    out
}

/// How a connection ended, seen from the client.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ended {
    /// The server closed it cleanly (FIN) after this long.
    Closed(Duration),
    /// It was reset after this long: an answer not yet read may have been lost.
    Reset(Duration),
    /// It was still open when the test stopped waiting.
    Open,
}

impl Ended {
    fn within(self, limit: Duration) -> bool {
        matches!(self, Ended::Closed(t) | Ended::Reset(t) if t < limit)
    }
}

/// Write `bytes` on a new connection, send nothing more, and read until the server closes it or
/// `wait` passes: the answers, and how the connection ended.
fn exchange(app: &TestApp, bytes: &[u8], wait: Duration) -> (Vec<Answer>, Ended) {
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    let started = Instant::now();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    // A server may answer and close before it has read everything: a failed write is fine.
    let _ = stream.write_all(bytes);
    let (mut raw, mut buf) = (Vec::new(), [0u8; 8192]);
    let ended = loop {
        let left = wait.saturating_sub(started.elapsed());
        if left.is_zero() {
            break Ended::Open;
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => break Ended::Closed(started.elapsed()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => break Ended::Open,
            Err(_) => break Ended::Reset(started.elapsed()),
        }
    };
    (answers(&raw), ended)
}

/// An answer in the contract's shape, with the connection closed after it and a request id.
fn refused(answer: &Answer, status: u16) -> String {
    assert_eq!(answer.header("content-type").as_deref(), Some("application/json"), "{answer:?}");
    assert_eq!(answer.header("connection").as_deref(), Some("close"), "{answer:?}");
    assert!(answer.header("x-request-id").is_some_and(|id| !id.is_empty()), "{answer:?}");
    error_code(answer.status, &answer.json(), status)
}

#[test]
fn errors_in_a_request_head_are_answered_in_the_contract_shape() {
    let app = TestApp::spawn();
    let fields: String = (0..70).map(|i| format!("X-Field-{i}: 1\r\n")).collect();
    let heads = [
        (format!("GET /v1/check?phone={} HTTP/1.1\r\nHost: t\r\n\r\n", "1".repeat(70_000)), 414, "uri_too_long"),
        (format!("GET /health HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "b".repeat(200_000)), 431, "request_header_fields_too_large"),
        (format!("GET /health HTTP/1.1\r\nHost: t\r\n{fields}\r\n"), 431, "request_header_fields_too_large"),
        (
            "POST /v1/opt-outs HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_owned(),
            400,
            "bad_request",
        ),
        ("POST /v1/opt-outs HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n".to_owned(), 400, "bad_request"),
        ("POST /v1/opt-outs HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_owned(), 400, "bad_request"),
        ("GET /health HTTP/1.1\r\n\r\n".to_owned(), 400, "bad_request"),
        ("THIS IS NOT HTTP\r\n\r\n".to_owned(), 400, "bad_request"),
        ("GET /health HTTP/1.1\r\nHost: t\r\nBad Name: 1\r\n\r\n".to_owned(), 400, "bad_request"),
        ("POST /v1/opt-outs HTTP/1.0\r\n\r\n".to_owned(), 411, "length_required"),
    ];
    for (head, status, code) in heads {
        let (answers, ended) = exchange(&app, head.as_bytes(), Duration::from_secs(6));
        assert_eq!(answers.len(), 1, "{answers:?} for {}", &head[..30]);
        assert_eq!(refused(&answers[0], status), code, "for {}", &head[..30]);
        // Closed cleanly, even with the rest of the request unread (the server lingers to read
        // it), so that no reset can destroy the answer before the client reads it.
        assert!(matches!(ended, Ended::Closed(t) if t < Duration::from_secs(4)), "{ended:?} after {}", &head[..30]);
        let text = String::from_utf8_lossy(&answers[0].body).into_owned();
        assert!(!text.contains("1111") && !text.contains("bbbb"), "the answer echoes the request: {text}");
    }
    assert_eq!(app.get("/health", None).0, 200);
}

#[test]
fn a_page_whose_address_is_too_long_is_answered_as_a_page() {
    let app = TestApp::spawn();
    let head = format!("GET /people?q={} HTTP/1.1\r\nHost: t\r\n\r\n", "1".repeat(20_000));
    let (answers, ended) = exchange(&app, head.as_bytes(), Duration::from_secs(5));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(answers[0].status, 414);
    assert!(answers[0].header("content-type").is_some_and(|t| t.starts_with("text/html")), "{answers:?}");
    let page = String::from_utf8_lossy(&answers[0].body).into_owned();
    assert!(page.contains("longer than 8192 bytes"), "{page}");
    assert!(ended.within(Duration::from_secs(4)), "{ended:?}");
}

#[test]
fn a_head_that_does_not_arrive_in_time_is_answered_408() {
    let app = TestApp::spawn();
    let (answers, ended) = exchange(&app, b"GET /v1/check?phone=07700900123 HTTP/1.1\r\nHost: t\r\n", Duration::from_secs(12));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(refused(&answers[0], 408), "request_timeout");
    assert!(matches!(ended, Ended::Closed(t) if t >= Duration::from_secs(5) && t < Duration::from_secs(10)), "{ended:?}");
}

#[test]
fn requests_before_a_bad_head_on_a_connection_are_answered_first() {
    let app = TestApp::spawn();
    let good = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";
    let bad = "GET /health HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    let (answers, ended) = exchange(&app, format!("{good}{good}{bad}{good}").as_bytes(), Duration::from_secs(5));
    assert_eq!(answers.iter().map(|a| a.status).collect::<Vec<_>>(), [200, 200, 400], "{answers:?}");
    assert_eq!(refused(&answers[2], 400), "bad_request");
    assert!(ended.within(Duration::from_secs(4)), "{ended:?}");
}

#[test]
fn a_refused_body_that_never_ends_loses_its_connection() {
    let app = TestApp::spawn();
    let head = "POST /v1/scrubs?channel=sms HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nobody\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nphone\n\r\n";
    let (answers, ended) = exchange(&app, head.as_bytes(), Duration::from_secs(15));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(error_code(answers[0].status, &answers[0].json(), 401), "unauthorized");
    // The answer closes the connection: the body is read no further, and the server lingers
    // (`wire::LINGER`, 2 s) only for the client to read the answer.
    assert!(ended.within(Duration::from_secs(4)), "{ended:?}");
}

/// A refused chunked body sent as fast as the server takes it, for ever: actix would drain it
/// for as long as it comes.
#[test]
fn a_refused_body_sent_fast_and_for_ever_loses_its_connection() {
    let app = TestApp::spawn();
    let mut stream = TcpStream::connect(app.base.trim_start_matches("http://")).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let head = "POST /v1/scrubs?channel=sms HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer nobody\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let _ = reader.read_to_end(&mut raw);
        raw
    });
    let mut piece = format!("{:x}\r\n", 64 << 10).into_bytes();
    piece.extend(std::iter::repeat_n(b'7', 64 << 10));
    piece.extend_from_slice(b"\r\n");
    let started = Instant::now();
    let mut sent = 0u64;
    while started.elapsed() < Duration::from_secs(15) && stream.write_all(&piece).is_ok() {
        sent += piece.len() as u64;
    }
    let took = started.elapsed();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let answers = answers(&answer.join().unwrap());
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(error_code(answers[0].status, &answers[0].json(), 401), "unauthorized");
    assert!(took < Duration::from_secs(6), "the server was still taking the body after {took:?} ({sent} bytes)");
}

/// Bytes that are not HTTP at all (here the start of a TLS handshake) are refused at once, not
/// when a head would have had to end.
#[test]
fn another_protocol_on_the_port_is_refused_at_once() {
    let app = TestApp::spawn();
    let hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    let (answers, ended) = exchange(&app, hello, Duration::from_secs(6));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(refused(&answers[0], 400), "bad_request");
    assert!(ended.within(Duration::from_secs(3)), "{ended:?}");
}

#[test]
fn a_broken_chunked_body_gets_one_answer_in_the_contract_shape() {
    let app = TestApp::spawn();
    let head = format!(
        "POST /v1/check HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n[1,2,XX",
        app.campaign
    );
    let (answers, ended) = exchange(&app, head.as_bytes(), Duration::from_secs(10));
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(error_code(answers[0].status, &answers[0].json(), 400), "bad_body");
    assert!(ended.within(Duration::from_secs(4)), "{ended:?}");
    assert_eq!(app.get("/health", None).0, 200);
}

#[test]
fn the_stand_in_path_is_nothing_without_a_refusal() {
    let app = TestApp::spawn();
    let (status, body) = app.get("/v1/_refused", None);
    assert_eq!(error_code(status, &body, 404), "not_found");
}
