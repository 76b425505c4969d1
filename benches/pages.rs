//! The pages benchmark (issue 12): page render times under wrk with full-size registers, and a
//! 1M-row realistic list uploaded through the page and through the API in the same run.
//!
//! cargo bench --bench pages                                    # SQLite
//! BENCH_DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench pages   # PostgreSQL
//!
//! Options after `--`: `--numbers N` (TPS entries, default 17,000,000; CTPS is 1.3M),
//! `--rows N` (list rows, 1,000,000), `--wrk-seconds N` (20). Needs `wrk` on the PATH.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step ends the run

use std::io::{BufWriter, Read, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

use diesel::{Connection, PgConnection, RunQueryDsl};

#[path = "common/mod.rs"]
mod common;
use common::{numbers, ListStyle};

const BIN: &str = env!("CARGO_BIN_EXE_suppress");

fn run(db: &str, args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env("SUPPRESS_DATABASE_URL", db).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "suppress {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A TPS/CTPS file of these numbers (fixed width, as the registers send them).
fn register_file(path: &std::path::Path, nsns: &[u64]) {
    let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    for n in nsns {
        write!(f, "{:<12}\r\n", format!("0{n}")).unwrap();
    }
    f.flush().unwrap();
}

/// The value of the hidden field `name` in a page.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker).unwrap_or_else(|| panic!("no {name} field in {html}"));
    html[at + marker.len()..].split('"').next().unwrap().to_owned()
}

/// A signed-in person's cookie and form token.
struct Session {
    cookie: String,
    csrf: String,
}

fn sign_in(base: &str, name: &str, password: &str, new_password: Option<&str>) -> Session {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let form = agent.get(&format!("{base}/")).call().unwrap();
    let jar = form.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let token = hidden(&form.into_string().unwrap(), "token");
    let signed = agent
        .post(&format!("{base}/sign-in"))
        .set("Cookie", &jar)
        .set("Origin", base)
        .send_form(&[("name", name), ("password", password), ("token", &token), ("next", "/")])
        .unwrap();
    let cookie = signed.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
    let page = |path: &str| agent.get(&format!("{base}{path}")).set("Cookie", &cookie).call().unwrap().into_string().unwrap();
    let csrf = hidden(&page("/password"), "csrf");
    if let Some(new) = new_password {
        let r = agent
            .post(&format!("{base}/password"))
            .set("Cookie", &cookie)
            .set("Origin", base)
            .send_form(&[("csrf", &csrf), ("current", password), ("password", new), ("confirm", new)])
            .unwrap();
        assert_eq!(r.status(), 303);
    }
    Session { cookie, csrf }
}

/// A multipart/form-data body: the text fields, then the file.
fn multipart(fields: &[(&str, &str)], file: &std::path::Path) -> (String, Vec<u8>) {
    let boundary = "----suppress-bench-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").unwrap();
    }
    write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"list.csv\"\r\nContent-Type: text/csv\r\n\r\n")
        .unwrap();
    std::fs::File::open(file).unwrap().read_to_end(&mut body).unwrap();
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// `wrk -t1 -c64` on one page with the session's cookie: the figures as one line.
fn wrk_page(dir: &std::path::Path, base: &str, cookie: &str, path: &str, seconds: u64) -> String {
    let script = dir.join("wrk-page.lua");
    std::fs::write(
        &script,
        format!("wrk.headers[\"Cookie\"] = \"{cookie}\"\nrequest = function() return wrk.format(\"GET\", \"{path}\") end\n"),
    )
    .unwrap();
    let go = |seconds: u64| {
        Command::new("wrk").args(["-t1", "-c64", &format!("-d{seconds}s"), "--latency", "-s", script.to_str().unwrap(), base]).output()
    };
    let _ = go(3);
    match go(seconds) {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let pick = |p: &str| text.lines().find(|l| l.trim_start().starts_with(p)).map(|l| l.trim().to_owned()).unwrap_or_default();
            let errors = pick("Non-2xx");
            format!(
                "{} | latency {} | {} | {}",
                pick("Requests/sec"),
                pick("50%"),
                pick("99%"),
                if errors.is_empty() { "no non-2xx answers".into() } else { errors }
            )
        }
        Err(e) => format!("wrk not run ({e}); install it with apt-get install wrk"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str, default: usize| {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let (n, rows, seconds) = (get("--numbers", 17_000_000), get("--rows", 1_000_000), get("--wrk-seconds", 20) as u64);
    let guard = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into())).unwrap();
    let root = guard.path().to_owned();
    let (db, pg) = match std::env::var("BENCH_DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(admin) => {
            let name = format!("suppress_pagebench_{}", std::process::id());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&name);
            (url.to_string(), Some((admin, name)))
        }
        None => (root.join("bench.db").to_string_lossy().into_owned(), None),
    };
    println!("# pages benchmark ({}; TPS {n}, CTPS 1,300,000, list {rows} rows)", if pg.is_some() { "postgres" } else { "sqlite" });
    run(&db, &["migrate"]);
    let today = chrono::Utc::now().date_naive();
    let t = Instant::now();
    let listed = numbers(n);
    let tps = root.join(format!("tps-{today}.txt"));
    register_file(&tps, &listed);
    let ctps = root.join(format!("ctps-{today}.txt"));
    register_file(&ctps, &numbers(1_300_000).iter().map(|x| x + 11).collect::<Vec<_>>());
    let tps_report = run(&db, &["import", "tps", tps.to_str().unwrap()]);
    let ctps_report = run(&db, &["import", "ctps", ctps.to_str().unwrap()]);
    println!("registers generated and imported in {:.0} s: TPS {tps_report}; CTPS {ctps_report}", t.elapsed().as_secs_f64());

    // The realistic list (every spelling, extensions, diacritics, quoted notes, CRM headers).
    let list = root.join("list.csv");
    {
        let style = ListStyle::Realistic { extensions: true };
        let mut f = BufWriter::with_capacity(1 << 20, std::fs::File::create(&list).unwrap());
        writeln!(f, "{}", style.header()).unwrap();
        for i in 0..rows {
            let nsn = if i % 10 == 0 { listed[(i * 7919) % listed.len()] } else { listed[(i * 104_729) % listed.len()] + 1 };
            writeln!(f, "{}", style.row(i, nsn)).unwrap();
        }
        f.flush().unwrap();
    }
    drop(listed);

    let agent_password = run(&db, &["users", "create", "--role", "agent", "--name", "bench-agent"]);
    let campaign_password = run(&db, &["users", "create", "--role", "campaign", "--name", "bench-campaign"]);
    let admin_key = run(&db, &["keys", "create", "--role", "admin", "--name", "bench-admin"]);
    let mut command = Command::new(BIN);
    command.args(["serve", "--bind", "127.0.0.1:0"]).env("SUPPRESS_DATABASE_URL", &db).env("RUST_LOG", "warn,suppress::cli=info");
    let (mut server, addr) = common::start_server(command);
    let base = format!("http://{addr}");
    let agent = sign_in(&base, "bench-agent", &agent_password, Some("bench agent's own password"));
    let campaign = sign_in(&base, "bench-campaign", &campaign_password, Some("bench campaign's own password"));

    // A customer with 20 statements of history, looked up by a spelling with spaces.
    let phone = "020 7946 0018";
    for i in 0..20 {
        let (path, body) = if i % 2 == 0 {
            (
                "/v1/opt-outs",
                serde_json::json!({"phone": phone, "channels": ["call"], "source": "call_centre", "note": format!("call {i}: asked not to be called")}),
            )
        } else {
            (
                "/v1/consents",
                serde_json::json!({"phone": phone, "channels": ["call"], "source": "web", "evidence": format!("web form {i}, ticked box")}),
            )
        };
        let r = ureq::post(&format!("{base}{path}")).set("Authorization", &format!("Bearer {admin_key}")).send_json(body).unwrap();
        assert_eq!(r.status(), 201);
    }

    // The list through the API and through the page, alternately, three times each.
    let (content_type, body) =
        multipart(&[("csrf", &campaign.csrf), ("name", "bench list"), ("channel", "call"), ("mode", "strict")], &list);
    let campaign_key = run(&db, &["keys", "create", "--role", "campaign", "--name", "bench-campaign-key"]);
    let http = ureq::AgentBuilder::new().redirects(0).build();
    let (mut api_times, mut page_times, mut list_id) = (Vec::new(), Vec::new(), String::new());
    for _ in 0..3 {
        let start = Instant::now();
        let r = http
            .post(&format!("{base}/v1/scrubs?channel=call&mode=strict"))
            .set("Authorization", &format!("Bearer {campaign_key}"))
            .set("Content-Type", "text/csv")
            .send(std::fs::File::open(&list).unwrap())
            .unwrap();
        assert_eq!(r.status(), 201);
        api_times.push(start.elapsed().as_secs_f64());
        let start = Instant::now();
        let r = http
            .post(&format!("{base}/lists"))
            .set("Cookie", &campaign.cookie)
            .set("Origin", &base)
            .set("Content-Type", &content_type)
            .send_bytes(&body)
            .unwrap();
        assert_eq!(r.status(), 303, "the page upload was not accepted");
        page_times.push(start.elapsed().as_secs_f64());
        list_id = r.header("location").unwrap().to_owned();
    }
    api_times.sort_by(f64::total_cmp);
    page_times.sort_by(f64::total_cmp);
    println!(
        "1M-row realistic list ({:.0} MB), upload to answer: API median {:.2} s (best {:.2}); page median {:.2} s (best {:.2})",
        std::fs::metadata(&list).unwrap().len() as f64 / 1e6,
        api_times[1],
        api_times[0],
        page_times[1],
        page_times[0]
    );

    let q = format!("/people?q={}", url::form_urlencoded::byte_serialize(phone.as_bytes()).collect::<String>());
    let people = http.get(&format!("{base}{q}")).set("Cookie", &agent.cookie).call().unwrap().into_string().unwrap();
    assert!(people.matches("<tr").count() >= 20, "the look-up shows the 20 statements");
    for (who, path) in [(&agent, q.as_str()), (&campaign, list_id.as_str()), (&agent, "/registers")] {
        let status = http.get(&format!("{base}{path}")).set("Cookie", &who.cookie).call().unwrap().status();
        assert_eq!(status, 200, "{path}");
        println!("GET {path} (wrk -t1 -c64 -d{seconds}s): {}", wrk_page(&root, &base, &who.cookie, path, seconds));
    }
    server.kill().unwrap();
    let _ = server.wait();
    if let Some((admin, name)) = pg {
        let mut conn = PgConnection::establish(&admin).unwrap();
        let _ = diesel::sql_query(format!("DROP DATABASE {name} WITH (FORCE)")).execute(&mut conn);
    }
}
