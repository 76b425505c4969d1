//! `suppress demo`: the service on its embedded default with sample data, for a first look.

use anyhow::Context;

use super::ServeArgs;
use crate::config::DEFAULT_DATABASE_URL;
use crate::domain::access::Role;
use crate::inhouse::bulk_load;
use crate::store::{keys, Store};

/// The sample statements shipped in the repository (`imports/sample/opt-outs.csv`).
const SAMPLE: &str = include_str!("../../imports/sample/opt-outs.csv");
const DEMO_DATABASE: &str = "data/demo.db";

pub fn run(database_url: &str, args: ServeArgs) -> anyhow::Result<()> {
    // The demo keeps its own file unless told otherwise, so it never touches real data.
    let url = if database_url == DEFAULT_DATABASE_URL { DEMO_DATABASE } else { database_url };
    let settings = args.settings(url)?;
    let store = Store::open(url, settings.pool_size)?;
    let fresh = {
        let mut conn = store.conn()?;
        keys::list(&mut conn)?.iter().all(|k| !k.name.starts_with("demo-"))
    };
    if fresh {
        let report = bulk_load::load(&store, SAMPLE.as_bytes(), false, "demo")
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("loading the sample statements")?;
        println!("loaded {} sample statements into {url}", report.statements);
    }
    println!("demo keys (new each start; earlier demo keys are revoked):");
    for role in [Role::Admin, Role::Agent, Role::Campaign] {
        let name = format!("demo-{role}");
        let mut conn = store.conn()?;
        keys::revoke(&mut conn, &name, crate::domain::time::now_utc())?;
        let key = super::keys::create(&store, &name, role)?;
        println!("  {role:<8} {key}");
    }
    println!("try: curl -s -H 'Authorization: Bearer <agent key>' 'http://{}/v1/preferences?phone=020%207946%200018'", settings.bind);
    drop(store);
    super::serve(settings)
}
