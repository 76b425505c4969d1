//! `suppress scrub`: a list in, the kept rows out (and optionally the suppressed and annotated
//! rows), the summary on stdout as JSON; with `--store`, also stored as `POST /v1/scrubs` stores
//! it (`app::scrubs`), and the stored summary printed.

use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;

use super::ScrubArgs;
use crate::app::params::ScrubParams;
use crate::app::scrubs::{self, AlsoToFiles, Origin};
use crate::app::{App, AppError};
use crate::config::Settings;
use crate::domain::time::parse_duration;
use crate::scrub::engine::{self, Files};
use crate::scrub::results::Part;

pub fn run(database_url: &str, args: Box<ScrubArgs>) -> anyhow::Result<()> {
    let args = *args;
    let params = ScrubParams {
        channel: args.channel.clone(),
        contact_date: args.contact_date.clone(),
        mode: Some(args.mode.clone()),
        name: args.name.clone(),
        delimiter: args.delimiter.clone(),
        phone_column: args.phone_column.clone(),
        email_column: args.email_column.clone(),
        postcode_column: args.postcode_column.clone(),
        surname_column: args.surname_column.clone(),
        address_columns: args.address_columns.clone(),
        mail_level: Some(args.mail_level.clone()),
    };
    let req = params.request()?;
    let settings = Settings {
        database_url: database_url.to_owned(),
        lead_times: args.lead_times.parse()?,
        result_retention: parse_duration(&args.result_retention).map_err(anyhow::Error::msg).context("SUPPRESS_RESULT_RETENTION")?,
        ..Settings::default()
    };
    let app = App::open(super::open_store(database_url)?, settings)?;

    let list = File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let size = list.metadata().map(|m| m.len()).ok();
    let create = |p: &std::path::PathBuf| File::create(p).map(BufWriter::new).with_context(|| format!("cannot create {}", p.display()));
    let mut outputs = Files::default().with(Part::Clean, create(&args.out)?);
    if let Some(p) = &args.suppressed {
        outputs = outputs.with(Part::Suppressed, create(p)?);
    }
    if let Some(p) = &args.annotated {
        outputs = outputs.with(Part::Annotated, create(p)?);
    }
    // A bar on a terminal (bytes of the list read), nothing otherwise.
    let bar = super::file_bar(size);
    let result = if args.store {
        let origin = Origin { name: args.name.clone(), created_by: format!("cli:{}", user()), received_in: std::time::Duration::ZERO };
        scrubs::scrub_and_store(&app, bar.wrap_read(list), &req, origin, |store| AlsoToFiles::new(store, outputs))
            .and_then(|document| pretty(&document))
    } else {
        app.knowledge(&mut *app.store.conn()?, req.channel).and_then(|knowledge| {
            let summary = engine::scrub(bar.wrap_read(list), &req, &knowledge, &mut outputs).map_err(scrubs::scrub_error);
            drop(outputs);
            pretty(&summary?)
        })
    };
    bar.finish_and_clear();
    if result.is_err() {
        // A refused list leaves no output behind: no file a campaign could mistake for a result.
        for path in [Some(&args.out), args.suppressed.as_ref(), args.annotated.as_ref()].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
    }
    let summary = result.with_context(|| format!("{} was not scrubbed", args.input.display()))?;
    println!("{summary}");
    Ok(())
}

fn pretty(summary: &impl serde::Serialize) -> Result<String, AppError> {
    serde_json::to_string_pretty(summary).map_err(AppError::internal)
}

/// Who runs the command, as a stored scrub's `created_by` names them (`cli:USER`).
fn user() -> String {
    let name = std::env::var("USER").or_else(|_| std::env::var("USERNAME")).unwrap_or_default();
    match crate::domain::text::check("USER", &name, crate::domain::text::NAME) {
        Ok(()) if !name.trim().is_empty() => name.trim().to_owned(),
        _ => "unknown".into(),
    }
}
