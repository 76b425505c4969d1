//! The wire's cost a request (`src/http/wire.rs`): every head a server takes is framed and checked
//! once more before actix parses it. Heads as the service's clients send them — a dialler's
//! `GET /v1/check` with its key, a CRM's batch check and an agent's opt-out with JSON bodies, a
//! browser's page request with its cookies and a dozen fields, and a list upload's multipart head
//! — each framed whole, as they arrive on a kept-alive connection, and then a byte at a time (a
//! hostile trickle), which must stay bounded.
//!
//! cargo bench --bench wire [-- --rounds N]

use std::hint::black_box;
use std::time::Instant;

use suppress::http::wire::{Framed, Framer};

fn heads() -> Vec<(&'static str, Vec<u8>)> {
    let key = "sk_live_4f9a2c7e1b3d5a6f8e0c9b7a2d4f6e8c";
    let check = format!(
        "GET /v1/check?phone=%2B447700900123&channel=call HTTP/1.1\r\nHost: suppress.internal:8080\r\nAuthorization: Bearer {key}\r\nUser-Agent: dialler/4.2\r\nAccept: application/json\r\nX-Request-Id: call-0001-7700900123\r\n\r\n"
    );
    let body = r#"{"phone": "+44 (0)7700 900123", "email": "Zoë.Renée@example.co.uk", "channels": ["call", "sms", "email"], "source": "call centre", "note": "asked on the phone, \"never again\"", "recorded_by": "Siân Łukasz"}"#;
    let opt_out = format!(
        "POST /v1/opt-outs HTTP/1.1\r\nHost: suppress.internal:8080\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nUser-Agent: crm-connector/1.9\r\n\r\n{body}",
        body.len()
    );
    let page = "GET /people?q=07700%20900123 HTTP/1.1\r\nHost: suppress.example.co.uk\r\nConnection: keep-alive\r\nsec-ch-ua: \"Chromium\";v=\"131\", \"Not_A Brand\";v=\"24\"\r\nsec-ch-ua-mobile: ?0\r\nsec-ch-ua-platform: \"Windows\"\r\nUpgrade-Insecure-Requests: 1\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nAccept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: navigate\r\nSec-Fetch-User: ?1\r\nSec-Fetch-Dest: document\r\nReferer: https://suppress.example.co.uk/people\r\nAccept-Encoding: gzip, deflate, br, zstd\r\nAccept-Language: en-GB,en;q=0.9\r\nCookie: suppress_session=Yk2mJ8v0r4qXcZl9Tn3wHf6uDs1aPe7gR5oBiKj2LyM; theme=light\r\n\r\n".to_owned();
    let upload = "POST /lists HTTP/1.1\r\nHost: suppress.example.co.uk\r\nContent-Length: 100663296\r\nContent-Type: multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW\r\nOrigin: https://suppress.example.co.uk\r\nCookie: suppress_session=Yk2mJ8v0r4qXcZl9Tn3wHf6uDs1aPe7gR5oBiKj2LyM\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\n\r\n".to_owned();
    vec![
        ("GET /v1/check", check.into_bytes()),
        ("POST /v1/opt-outs + body", opt_out.into_bytes()),
        ("page GET", page.into_bytes()),
        ("upload head", upload.into_bytes()),
    ]
}

/// Frame one request arriving whole: its head, then its body if any. Returns the bytes passed.
fn whole(input: &[u8]) -> usize {
    let mut framer = Framer::default();
    let mut at = 0;
    while at < input.len() {
        match framer.read(&input[at..]) {
            Framed::Pass(n) => at += n,
            other => panic!("{other:?}"),
        }
    }
    at
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize =
        args.iter().position(|a| a == "--rounds").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    println!("# the wire's framing, {rounds} requests each (one thread)");
    for (name, input) in heads() {
        let started = Instant::now();
        let mut passed = 0;
        for _ in 0..rounds {
            passed += whole(black_box(&input));
        }
        let ns = started.elapsed().as_nanos() as f64 / rounds as f64;
        assert_eq!(passed, rounds * input.len());
        println!("{name:<28} {:>5} bytes: {ns:>7.0} ns a request", input.len());
    }
    // A head trickled a byte at a time: the framer is asked once a byte.
    for (name, input) in heads() {
        let head = input.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(input.len()) + 4;
        let rounds = rounds / 100;
        let started = Instant::now();
        for _ in 0..rounds {
            let mut framer = Framer::default();
            for end in 1..head {
                assert_eq!(framer.read(black_box(&input[..end])), Framed::More);
            }
            assert_eq!(framer.read(&input[..head]), Framed::Pass(head));
        }
        let us = started.elapsed().as_nanos() as f64 / rounds as f64 / 1000.0;
        println!("{name:<28} trickled a byte at a time ({head} reads): {us:>7.1} µs a head");
    }
}
