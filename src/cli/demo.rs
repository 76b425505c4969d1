//! `suppress demo`: the service on its embedded default with sample data, for a first look.

use anyhow::Context;

use super::ServeArgs;
use crate::app::{imports, keys, users, ErrorCode};
use crate::config::DEFAULT_DATABASE_URL;
use crate::domain::access::Role;
use crate::domain::time::today_uk;
use crate::domain::Register;
use crate::registers::import::{Kind, Request};
use crate::store::Store;

/// The sample statements shipped in the repository (`imports/sample/opt-outs.csv`).
const SAMPLE: &str = include_str!("../../imports/sample/opt-outs.csv");
/// Sample register files (`imports/make-samples.sh`), loaded as of today so calls are answerable.
const SAMPLE_REGISTERS: [(Register, Kind, &[u8]); 4] = [
    (Register::Tps, Kind::Full, include_bytes!("../../imports/sample/tps-2026-11-23.txt")),
    (Register::Tps, Kind::Delta, include_bytes!("../../imports/sample/tps-2026-11-24-delta.txt")),
    (Register::Ctps, Kind::Full, include_bytes!("../../imports/sample/ctps-2026-11-23.txt")),
    (Register::Mps, Kind::Full, include_bytes!("../../imports/sample/mps-2026-11-23.dat")),
];
const DEMO_DATABASE: &str = "data/demo.db";

pub fn run(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    // The demo keeps its own file unless told otherwise, so it never touches real data.
    let url = if database_url == DEFAULT_DATABASE_URL { DEMO_DATABASE } else { database_url };
    let settings = args.settings(url)?;
    let store = Store::open(url, settings.pool_size)?;
    let fresh = keys::list(&store)?.iter().all(|k| !k.name.starts_with("demo-"));
    if fresh {
        let report = imports::bulk_load(&store, SAMPLE.as_bytes(), false, "demo")
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("loading the sample statements")?;
        println!("loaded {} sample statements into {url}", report.statements);
    }
    for (register, kind, bytes) in SAMPLE_REGISTERS {
        let req = Request { register, as_of: today_uk(), kind, force: true, max_removal_percent: 100.0 };
        let report = imports::import_register(&store, &req, bytes, |_| {}, &crate::app::mail::Mail::off())
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("loading the sample registers")?;
        if !report.already_imported {
            println!("loaded the sample {register} {kind} file as of {}: {} entries", report.as_of, report.entries_after);
        }
    }
    println!("demo keys (new each start; earlier demo keys are revoked):");
    for role in [Role::Admin, Role::Agent, Role::Campaign, Role::Compliance] {
        let name = format!("demo-{role}");
        keys::revoke(&store, &name).or_else(|e| if e.code == ErrorCode::NotFound { Ok(()) } else { Err(e) })?;
        let key = keys::create(&store, &name, role)?;
        println!("  {:<10} {key}", role.as_str());
    }
    println!("demo users for the pages at http://{} (the same passwords at every start):", settings.bind);
    for role in [Role::Admin, Role::Agent, Role::Campaign, Role::Compliance] {
        let (name, password) = (format!("demo-{role}"), format!("demo-{role}-password"));
        match users::create(&store, &name, role, None, Some(&password)) {
            Err(e) if e.code == ErrorCode::UserNameTaken => users::set_known_password(&store, &name, &password)?,
            other => drop(other?),
        }
        println!("  {:<10} name {name:<16} password {password}", role.as_str());
    }
    println!("try: curl -s -H 'Authorization: Bearer <agent key>' 'http://{}/v1/preferences?phone=020%207946%200018'", settings.bind);
    println!(
        "     curl -s -H 'Authorization: Bearer <agent key>' 'http://{}/v1/check?phone=020%207946%200002&channel=call'",
        settings.bind
    );
    drop(store);
    super::serve(settings)
}
