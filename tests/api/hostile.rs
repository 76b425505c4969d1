//! CONTRACT §9 against a hostile client: no request, whatever its headers, parts or pace, holds
//! more memory than the limits allow, stops other clients from being answered, or is accepted and
//! then impossible to read back (issue 10: findings 1, 2, 7, 13).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{error_code, raw_answer, TestApp};

/// An answer read off a raw connection.
struct Answer {
    status: u16,
    head: String,
    body: Value,
    /// Body bytes the client had sent when the answer arrived.
    sent_when_answered: u64,
}

fn parse(raw: &[u8]) -> Option<(u16, String, Vec<u8>)> {
    raw_answer(raw, 0).map(|(status, head, body, _)| (status, head, body))
}

/// Send `head`, then the body pieces `next` gives (None: no more; an empty piece: nothing this
/// time) as fast as the server takes them, reading the answer meanwhile. Stops sending at the
/// answer or at `deadline`; waits a few seconds more for an answer.
fn send_raw(addr: &str, head: &str, mut next: impl FnMut(u64) -> Option<Vec<u8>>, deadline: Duration) -> Option<Answer> {
    let mut stream = TcpStream::connect(addr).unwrap();
    // A server that neither reads nor closes cannot hold the test: the write fails instead.
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut reader = stream.try_clone().unwrap();
    let (answered, sent) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
    let (tx, rx) = mpsc::channel();
    {
        let (answered, sent) = (answered.clone(), sent.clone());
        std::thread::spawn(move || {
            let (mut raw, mut buf) = (Vec::new(), [0u8; 8192]);
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => raw.extend_from_slice(&buf[..n]),
                }
                if let Some((status, head, body)) = parse(&raw) {
                    answered.store(true, Ordering::SeqCst);
                    let body = serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into()));
                    let _ = tx.send(Answer { status, head, body, sent_when_answered: sent.load(Ordering::SeqCst) });
                    return;
                }
            }
        });
    }
    let started = Instant::now();
    if stream.write_all(head.as_bytes()).is_ok() {
        while !answered.load(Ordering::SeqCst) && started.elapsed() < deadline {
            let Some(piece) = next(sent.load(Ordering::SeqCst)) else { break };
            if stream.write_all(&piece).is_err() {
                break;
            }
            sent.fetch_add(piece.len() as u64, Ordering::SeqCst);
        }
    }
    let answer = rx.recv_timeout(Duration::from_secs(10)).ok();
    let _ = stream.shutdown(std::net::Shutdown::Both);
    answer
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

fn upload_head(app: &TestApp, path: &str, content_type: &str, framing: &str) -> String {
    format!("POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\n{framing}\r\n", app.campaign)
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// A multipart body that begins with `start` and then goes on with one byte for ever (bounded
/// by `max` bytes), sent chunked as fast as the server takes it.
fn endless(app: &TestApp, start: &str, fill: u8, max: u64, deadline: Duration) -> Option<Answer> {
    let head = upload_head(app, "/v1/scrubs?channel=sms", "multipart/form-data; boundary=XYZ", "Transfer-Encoding: chunked\r\n");
    let filler = chunk(&vec![fill; 1 << 20]);
    let start = chunk(start.as_bytes());
    send_raw(
        &addr(app),
        &head,
        |sent| match sent {
            0 => Some(start.clone()),
            s if s < max => Some(filler.clone()),
            _ => None,
        },
        deadline,
    )
}

fn check_latency(app: &TestApp) -> Duration {
    let t = Instant::now();
    let (s, b) = app.get("/v1/check?phone=07912345678&channel=sms", Some(&app.agent));
    assert_eq!(s, 200, "{b}");
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Finding 1: a part whose headers never end is cut off after a bounded number of bytes, with a
/// 413 in the error shape, and another client's checks keep their latency meanwhile.
#[test]
fn an_endless_part_header_is_cut_off_and_other_clients_are_answered_meanwhile() {
    // One worker: the hostile upload and the checks share it.
    let app = Arc::new(TestApp::spawn_with(|s| s.workers = 1));
    let baseline = median((0..60).map(|_| check_latency(&app)).collect());

    let done = Arc::new(AtomicBool::new(false));
    let hostile = {
        let (app, done) = (app.clone(), done.clone());
        std::thread::spawn(move || {
            // Again and again for a few seconds, each as fast as the server takes it.
            let started = Instant::now();
            let mut answers = Vec::new();
            while started.elapsed() < Duration::from_secs(3) {
                let start = "--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\nX-Pad: ";
                answers.push(endless(&app, start, b'a', 256 << 20, Duration::from_secs(20)));
            }
            done.store(true, Ordering::SeqCst);
            answers
        })
    };
    let mut during = Vec::new();
    while !done.load(Ordering::SeqCst) || during.len() < 20 {
        during.push(check_latency(&app));
    }
    let answers = hostile.join().unwrap();
    assert!(!answers.is_empty());
    for answer in answers {
        let answer = answer.expect("the hostile upload was answered");
        assert_eq!(error_code(answer.status, &answer.body, 413), "part_headers_too_large");
        // The rest of the body is not waited for: the connection is closed.
        assert!(answer.head.to_ascii_lowercase().contains("connection: close"), "{}", answer.head);
        // Refused while the body was still coming: the server did not wait for its end.
        assert!(answer.sent_when_answered < 256 << 20, "answered only after {} bytes", answer.sent_when_answered);
    }
    // The machine is shared (other tests run alongside): the baseline is the slower of the
    // medians before and after, and the factor generous; a stalled worker is 1000 times slower.
    let after = median((0..60).map(|_| check_latency(&app)).collect());
    let baseline = baseline.max(after);
    let during = median(during);
    assert!(during <= baseline * 50, "checks took {during:?} (median) during the hostile uploads, {baseline:?} without");
}

/// Finding 1: the preamble, a boundary line and the count of tiny parts are bounded alike.
#[test]
fn a_multipart_body_of_endless_framing_is_413() {
    let app = TestApp::spawn();
    let part = "\r\n--XYZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nx";
    let cases: [(&str, &str, u8); 3] = [
        ("an endless preamble", "preamble ", b'a'),
        ("an endless boundary line", "--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nphone\r\n--XYZ", b'a'),
        ("endless tiny parts", "--XYZ\r\nContent-Disposition: form-data; name=\"n\"\r\n\r\nx", b'-'),
    ];
    for (what, start, fill) in cases {
        let answer = if fill == b'-' {
            let head = upload_head(&app, "/v1/scrubs?channel=sms", "multipart/form-data; boundary=XYZ", "Transfer-Encoding: chunked\r\n");
            let parts = chunk(part.repeat(10_000).as_bytes());
            let start = chunk(start.as_bytes());
            send_raw(&addr(&app), &head, |sent| Some(if sent == 0 { start.clone() } else { parts.clone() }), Duration::from_secs(20))
        } else {
            endless(&app, start, fill, 256 << 20, Duration::from_secs(20))
        };
        let answer = answer.unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(answer.status, 413, "{what}: {}", answer.body);
        assert_eq!(error_code(answer.status, &answer.body, 413), "part_headers_too_large", "{what}");
        assert!(answer.sent_when_answered < 256 << 20, "{what}: answered only after {} bytes", answer.sent_when_answered);
    }
}

/// Finding 13: a part other than the list is bounded, whatever the upload limit.
#[test]
fn a_large_non_file_part_is_413() {
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 1 << 20);
    for size in [200 << 10, 5 << 20] {
        let body = format!(
            "--XYZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n{}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nphone\n07912345678\n\r\n--XYZ--\r\n",
            "n".repeat(size)
        );
        let head = upload_head(
            &app,
            "/v1/scrubs?channel=sms",
            "multipart/form-data; boundary=XYZ",
            &format!("Content-Length: {}\r\n", body.len()),
        );
        let body = body.into_bytes();
        let answer = send_raw(&addr(&app), &head, |sent| (sent == 0).then(|| body.clone()), Duration::from_secs(20)).expect("answered");
        let code = error_code(answer.status, &answer.body, 413);
        assert!(code == "part_too_large" || code == "body_too_large", "{size}: {code}");
    }
}

/// A declared Content-Length over the limit is refused before any of the body is read.
#[test]
fn a_declared_length_over_the_limit_is_413_at_once() {
    let app = TestApp::spawn_with(|s| s.max_upload_bytes = 1_000);
    for path in ["/v1/scrubs?channel=sms", "/v1/registers/tps/imports?as_of=2026-01-01"] {
        let key = if path.contains("registers") { &app.admin } else { &app.campaign };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {key}\r\nContent-Type: text/csv\r\nContent-Length: 1000000000\r\n\r\n"
        );
        // No body at all: the answer must not wait for it.
        let answer = send_raw(&addr(&app), &head, |_| None, Duration::from_secs(5)).expect("answered without the body");
        assert_eq!(error_code(answer.status, &answer.body, 413), "body_too_large", "{path}");
    }
}

/// Finding 7: slow uploads are cut off after the idle timeout (408), no more run at once than
/// the setting allows (503 with Retry-After, at once), and other clients are answered meanwhile.
#[test]
fn slow_uploads_are_cut_off_and_do_not_crowd_out_other_clients() {
    let app = Arc::new(TestApp::spawn_with(|s| {
        s.upload_idle_timeout = Duration::from_secs(1);
        s.max_uploads = 3;
    }));
    let slow: Vec<_> = (0..12)
        .map(|_| {
            let app = app.clone();
            std::thread::spawn(move || {
                let head = upload_head(&app, "/v1/scrubs?channel=sms", "text/csv", "Content-Length: 100000\r\n");
                let started = Instant::now();
                // A few bytes, then nothing more (bounded by the deadline).
                let answer = send_raw(
                    &addr(&app),
                    &head,
                    |sent| {
                        if sent == 0 {
                            Some(b"phone\n0791".to_vec())
                        } else {
                            std::thread::sleep(Duration::from_millis(50));
                            Some(Vec::new())
                        }
                    },
                    Duration::from_secs(15),
                );
                (answer, started.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Meanwhile other clients are answered.
    for _ in 0..10 {
        check_latency(&app);
    }
    let (mut timed_out, mut busy) = (0, 0);
    for handle in slow {
        let (answer, took) = handle.join().unwrap();
        let answer = answer.expect("a slow upload was answered");
        match answer.status {
            408 => {
                assert_eq!(error_code(408, &answer.body, 408), "upload_timeout");
                assert!(took < Duration::from_secs(10), "cut off after {took:?}");
                timed_out += 1;
            }
            _ => {
                assert_eq!(error_code(answer.status, &answer.body, 503), "too_many_uploads");
                assert!(answer.head.to_ascii_lowercase().contains("retry-after:"), "{}", answer.head);
                busy += 1;
            }
        }
    }
    assert!(timed_out <= 3 && timed_out + busy == 12, "{timed_out} timed out, {busy} refused as busy");
    // The slots are free again.
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), "phone\n07912345678\n");
    assert_eq!(s, 201, "{b}");
}

/// One client (a key) holds at most half the upload slots, rounded up: a client sending slowly
/// cannot take the slots another client needs.
#[test]
fn one_client_cannot_take_every_upload_slot() {
    let app = Arc::new(TestApp::spawn_with(|s| {
        s.upload_idle_timeout = Duration::from_secs(3);
        s.max_uploads = 2;
    }));
    let slow = {
        let app = app.clone();
        std::thread::spawn(move || {
            let head = upload_head(&app, "/v1/scrubs?channel=sms", "text/csv", "Content-Length: 100000\r\n");
            let mut first = true;
            let next = move |_| {
                if std::mem::take(&mut first) {
                    Some(b"phone\n0791".to_vec())
                } else {
                    std::thread::sleep(Duration::from_millis(50));
                    Some(Vec::new())
                }
            };
            send_raw(&addr(&app), &head, next, Duration::from_secs(15))
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let list = "phone\n07912345678\n";
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), list);
    assert_eq!(error_code(s, &b, 503), "too_many_uploads");
    assert_eq!(b["error"]["details"]["running_at_most_per_client"], 1, "{b}");
    // Another client still gets the other slot.
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.admin), Some("text/csv"), list);
    assert_eq!(s, 201, "{b}");
    let answer = slow.join().unwrap().expect("the slow upload was answered");
    assert_eq!(error_code(answer.status, &answer.body, 408), "upload_timeout");
    // Its slot is the client's again.
    let (s, b) = app.raw("POST", "/v1/scrubs?channel=sms", Some(&app.campaign), Some("text/csv"), list);
    assert_eq!(s, 201, "{b}");
}

/// A body trickled a byte at a time keeps no upload slot: progress within each idle window is
/// 16 KiB, not one byte, so a client cannot hold the slots others need (CONTRACT §9).
#[test]
fn a_trickled_upload_is_cut_off() {
    let app = TestApp::spawn_with(|s| s.upload_idle_timeout = Duration::from_secs(2));
    let head = upload_head(&app, "/v1/scrubs?channel=sms", "text/csv", "Content-Length: 100000\r\n");
    let started = Instant::now();
    let answer = send_raw(
        &addr(&app),
        &head,
        |sent| {
            if sent > 0 {
                std::thread::sleep(Duration::from_millis(200));
            }
            Some(if sent == 0 { b"phone\n".to_vec() } else { b"0".to_vec() })
        },
        Duration::from_secs(12),
    )
    .expect("the trickled upload was answered");
    assert_eq!(error_code(answer.status, &answer.body, 408), "upload_timeout");
    assert!(started.elapsed() < Duration::from_secs(8), "cut off after {:?}", started.elapsed());
}

/// A reader of a CSV download, counting its records and checking each row's wide field.
fn count_rows(app: &TestApp, path: &str, width: usize) -> usize {
    let response = ureq::get(&format!("{}{path}", app.base)).set("Authorization", &format!("Bearer {}", app.campaign)).call().unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(response.into_reader());
    let mut rows = 0;
    for record in reader.byte_records() {
        let record = record.unwrap_or_else(|e| panic!("{path}: row {rows} unreadable: {e}"));
        assert_eq!(record[1].len(), width, "{path}: row {rows}");
        rows += 1;
    }
    rows
}

/// A list of wide rows as a reader: header, then rows of a phone and a wide field.
struct WideList {
    rows: usize,
    width: usize,
    fill: u8,
    at: usize,
    line: Vec<u8>,
    pos: usize,
}

impl Read for WideList {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() {
            if self.at > self.rows {
                return Ok(0);
            }
            self.line = if self.at == 0 {
                b"phone,note\n".to_vec()
            } else {
                let mut l = format!("0791234{:04},", self.at).into_bytes();
                l.resize(l.len() + self.width, self.fill);
                l.push(b'\n');
                l
            };
            self.at += 1;
            self.pos = 0;
        }
        let n = buf.len().min(self.line.len() - self.pos);
        buf[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn upload_wide(app: &TestApp, rows: usize, width: usize) -> (u16, Value) {
    upload_filled(app, rows, width, b'w')
}

fn upload_filled(app: &TestApp, rows: usize, width: usize, fill: u8) -> (u16, Value) {
    let list = WideList { rows, width, fill, at: 0, line: Vec::new(), pos: 0 };
    let response = ureq::post(&format!("{}/v1/scrubs?channel=sms", app.base))
        .set("Authorization", &format!("Bearer {}", app.campaign))
        .set("Content-Type", "text/csv")
        .send(list);
    let response = match response {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("upload failed: {e}"),
    };
    (response.status(), response.into_json().unwrap())
}

/// Finding 2: a list of wide rows (2,100 rows of 140 KB, 294 MB) is downloadable whole: every
/// part reads back completely and holds every row.
#[test]
fn a_list_of_wide_rows_is_downloadable_whole() {
    let app = TestApp::spawn();
    let (rows, width) = (2_100, 140_000);
    let (s, summary) = upload_wide(&app, rows, width);
    assert_eq!(s, 201, "{summary}");
    assert_eq!(summary["rows"], rows);
    let links = &summary["links"];
    let clean = count_rows(&app, links["clean"].as_str().unwrap(), width);
    let suppressed = count_rows(&app, links["suppressed"].as_str().unwrap(), width);
    assert_eq!(clean + suppressed, rows);
    assert_eq!(count_rows(&app, links["annotated"].as_str().unwrap(), width), rows);
}

/// A refused list leaves nothing: no scrub is listed.
fn assert_no_scrub_stored(app: &TestApp) {
    let (s, b) = app.get("/v1/scrubs", Some(&app.campaign));
    assert_eq!(s, 200);
    assert_eq!(b["scrubs"].as_array().map(Vec::len), Some(0), "{b}");
}

/// Finding 2: a row larger than a row may hold is refused before anything is stored.
#[test]
fn a_row_over_the_row_limit_is_refused() {
    let app = TestApp::spawn();
    for (rows, width) in [(1, 2 << 20), (3, 10 << 20)] {
        let (s, b) = upload_wide(&app, rows, width);
        assert_eq!(error_code(s, &b, 422), "unreadable_list", "{width}");
        assert!(!b.to_string().contains("www"), "the error echoes the list: {b}");
    }
    assert_no_scrub_stored(&app);
}

/// Finding 2, by delimiters: rows of nothing but delimiters (2,100 rows of 140,000 empty fields,
/// 294 MB) weigh their fields, not only their bytes: refused as unreadable before anything is
/// stored, never accepted into a result that cannot be read back (a 500 before).
#[test]
fn rows_of_empty_fields_are_bounded_like_wide_rows() {
    let app = TestApp::spawn();
    let (s, b) = upload_filled(&app, 2_100, 140_000, b',');
    assert_eq!(error_code(s, &b, 422), "unreadable_list", "{b}");
    assert_no_scrub_stored(&app);
}

/// Finding 7: a request with a body refused before the body is read (no key, a wrong role, a bad
/// parameter) is answered with `Connection: close` in the error shape, and the connection ends
/// when the client stops sending. (A client that neither finishes nor closes is held by actix,
/// which drains a dropped body with no timer: see the README's limits.)
#[test]
fn a_refused_upload_says_the_connection_closes() {
    let app = TestApp::spawn();
    for (path, key) in [
        ("/v1/scrubs?channel=sms", None),
        ("/v1/scrubs?channel=sms", Some(app.agent.as_str())),
        ("/v1/scrubs?channel=fax", Some(app.campaign.as_str())),
        ("/v1/registers/tps/imports?as_of=2026-01-01", Some(app.campaign.as_str())),
    ] {
        let auth = key.map(|k| format!("Authorization: Bearer {k}\r\n")).unwrap_or_default();
        let head = format!("POST {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n");
        let mut stream = TcpStream::connect(addr(&app)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&chunk(b"phone\n07912345678\n")).unwrap();
        let (mut raw, mut buf) = (Vec::new(), [0u8; 8192]);
        let answer = loop {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break parse(&raw),
                Ok(n) => raw.extend_from_slice(&buf[..n]),
            }
            if let Some(answer) = parse(&raw) {
                break Some(answer);
            }
        };
        let (status, head, body) = answer.unwrap_or_else(|| panic!("{path}: no answer: {}", String::from_utf8_lossy(&raw)));
        assert!((400..500).contains(&status), "{path}: {status}");
        error_code(status, &serde_json::from_slice(&body).unwrap(), status);
        assert!(head.to_ascii_lowercase().contains("connection: close"), "{path} ({status}): {head}");
        // The client stops sending: the server ends the connection.
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let ended = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => {}
                Err(_) => break false,
            }
        };
        assert!(ended, "{path} ({status}): the connection stayed open after the client stopped");
    }
}
