//! `suppress scrub`: a list in, the kept rows out (and optionally the suppressed and annotated
//! rows), the summary on stdout as JSON.

use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;

use super::ScrubArgs;
use crate::inhouse::in_force;
use crate::registers::Registers;
use crate::scrub::engine::{self, Files, Knowledge, Request};
use crate::scrub::input::{self, ColumnNames};
use crate::scrub::results::Part;

pub fn run(database_url: &str, args: Box<ScrubArgs>) -> anyhow::Result<()> {
    let args = *args;
    let channel = args.channel.parse().map_err(anyhow::Error::msg)?;
    let contact_date = engine::contact_date(args.contact_date.as_deref()).map_err(anyhow::Error::msg)?;
    let mode = args.mode.parse().map_err(anyhow::Error::msg)?;
    let delimiter = args.delimiter.as_deref().map(input::delimiter).transpose()?;
    let req = Request {
        channel,
        contact_date,
        mode,
        delimiter,
        columns: ColumnNames {
            phone: args.phone_column,
            email: args.email_column,
            postcode: args.postcode_column,
            surname: args.surname_column,
            address: args.address_columns,
            mail_level: args.mail_level.parse().map_err(anyhow::Error::msg)?,
        },
    };
    let store = super::open_store(database_url)?;
    let registers = Registers::load(&store, args.lead_times.parse()?)?;
    let in_house = in_force::read_now(&mut *store.conn()?)?.on(channel);
    let knowledge = Knowledge { in_house, registers: registers.view() };

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
    let result = engine::scrub(bar.wrap_read(list), &req, &knowledge, &mut outputs);
    bar.finish_and_clear();
    drop(outputs);
    if result.is_err() {
        // A refused list leaves no output behind: no file a campaign could mistake for a result.
        for path in [Some(&args.out), args.suppressed.as_ref(), args.annotated.as_ref()].into_iter().flatten() {
            let _ = std::fs::remove_file(path);
        }
    }
    let summary = result.with_context(|| format!("{} was not scrubbed", args.input.display()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
