//! `/registers` (every role): each register's snapshot, how long it vouches for, and the import
//! history (CONTRACT §10).

use actix_web::{web, HttpResponse};
use askama::Template;

use super::{day, Chrome, PageError, Signed};
use crate::app::imports;
use crate::domain::time::today_uk;
use crate::http::AppState;

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.route("/registers", web::get().to(registers));
}

/// A register as the page shows it.
pub struct Row {
    pub name: String,
    pub channel: String,
    pub lead_time: String,
    pub as_of: String,
    pub entries: String,
    pub valid_until: String,
    /// "ok", "soon" (3 days or fewer left) or "stale": the badge's class.
    pub state: &'static str,
    /// The same in words (colour is never the only sign).
    pub words: String,
}

pub struct Imported {
    pub register: String,
    pub as_of: String,
    pub kind: String,
    pub status: String,
    pub added: i64,
    pub removed: i64,
    pub entries_after: i64,
    pub imported_at: String,
    pub error: String,
}

#[derive(Template)]
#[template(path = "registers.html")]
struct RegistersPage {
    chrome: Chrome,
    rows: Vec<Row>,
    history: Vec<Imported>,
}

/// Thousands separated, as people read counts.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn rows(state: &AppState) -> Vec<Row> {
    let today = today_uk();
    state
        .registers
        .status()
        .into_iter()
        .map(|s| {
            let left = s.valid_until.map(|u| (u - today).num_days());
            let (badge, words) = match (s.as_of, left) {
                (None, _) => ("stale", "never imported".to_owned()),
                (_, Some(d)) if d < 0 => ("stale", format!("stale: expired {} day{} ago", -d, if d == -1 { "" } else { "s" })),
                (_, Some(0)) => ("soon", "last day: import a new file today".to_owned()),
                (_, Some(d)) if d <= 3 => ("soon", format!("{d} day{} left", if d == 1 { "" } else { "s" })),
                (_, Some(d)) => ("ok", format!("{d} days left")),
                (_, None) => ("stale", "stale".to_owned()),
            };
            Row {
                name: s.name.as_str().to_uppercase(),
                channel: s.channel.to_string(),
                lead_time: s.lead_time,
                as_of: s.as_of.map(day).unwrap_or_else(|| "—".into()),
                entries: count(s.entries),
                valid_until: s.valid_until.map(day).unwrap_or_else(|| "—".into()),
                state: badge,
                words,
            }
        })
        .collect()
}

async fn registers(state: web::Data<AppState>, signed: Signed) -> Result<HttpResponse, PageError> {
    let history = crate::http::call(&state.store, |conn| imports::history(conn, None, 30)).await?;
    let history = history
        .into_iter()
        .map(|r| Imported {
            register: r.register.as_str().to_uppercase(),
            as_of: day(r.as_of),
            kind: r.kind.to_string(),
            status: r.status.to_string(),
            added: r.added,
            removed: r.removed,
            entries_after: r.entries_after,
            imported_at: r.imported_at.format("%-d %b %Y %H:%M").to_string(),
            // Errors are written never to echo file content (CONTRACT §9); reports, which may,
            // are not shown here.
            error: r.error.map(|e| super::sentence(&e)).unwrap_or_default(),
        })
        .collect();
    Ok(super::ok(&RegistersPage { chrome: Chrome::new(&state, &signed, "/registers"), rows: rows(&state), history }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_read_with_thousands() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(17_000_001), "17,000,001");
    }
}
