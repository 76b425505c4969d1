//! `suppress scrub`: a list in, the kept rows out (and optionally the suppressed and annotated
//! rows), the summary on stdout as JSON.

use std::fs::File;
use std::io::BufWriter;

use anyhow::Context;

use super::ScrubArgs;
use crate::domain::time::{parse_date, today_uk};
use crate::registers::Registers;
use crate::scrub::engine::{self, Knowledge, Outputs, Request};
use crate::scrub::input::{self, ColumnNames};

pub fn run(database_url: &str, args: Box<ScrubArgs>) -> anyhow::Result<()> {
    let args = *args;
    let channel = args.channel.parse().map_err(anyhow::Error::msg)?;
    let contact_date = args.contact_date.as_deref().map(parse_date).transpose().map_err(anyhow::Error::msg)?.unwrap_or_else(today_uk);
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
        },
    };
    let store = super::open_store(database_url)?;
    let registers = Registers::load(&store, args.lead_times.parse()?)?;
    let (in_house, statements_up_to) = crate::store::statements::all_in_force(&mut *store.conn()?, channel.as_str())?;
    let knowledge = Knowledge { in_house, statements_up_to, registers: registers.view() };

    let list = File::open(&args.input).with_context(|| format!("cannot open {}", args.input.display()))?;
    let create = |p: &std::path::PathBuf| File::create(p).map(BufWriter::new).with_context(|| format!("cannot create {}", p.display()));
    let mut outputs = Outputs { clean: Some(Outputs::writer(create(&args.out)?)), ..Outputs::default() };
    if let Some(p) = &args.suppressed {
        outputs.suppressed = Some(Outputs::writer(create(p)?));
    }
    if let Some(p) = &args.annotated {
        outputs.annotated = Some(Outputs::writer(create(p)?));
    }
    let summary =
        engine::scrub(list, &req, &knowledge, &mut outputs).with_context(|| format!("{} was not scrubbed", args.input.display()))?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
