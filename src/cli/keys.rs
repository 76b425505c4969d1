//! `suppress keys create | list | revoke`.

use anyhow::{bail, Context};

use super::{KeysCommand, RoleArg};
use crate::domain::access::{generate_key, hash_key, Role};
use crate::domain::time::{now_utc, rfc3339};
use crate::store::{is_unique_violation, keys, Store};

pub fn run(store: &Store, cmd: KeysCommand) -> anyhow::Result<()> {
    let mut conn = store.conn()?;
    match cmd {
        KeysCommand::Create { role, name } => {
            let key = create(store, &name, role.into())?;
            println!("{key}");
        }
        KeysCommand::List => {
            println!("{:<24} {:<10} {:<26} revoked", "name", "role", "created");
            for k in keys::list(&mut conn)? {
                println!(
                    "{:<24} {:<10} {:<26} {}",
                    k.name,
                    k.role.as_str(),
                    rfc3339(k.created_at),
                    k.revoked_at.map(rfc3339).unwrap_or_else(|| "-".into())
                );
            }
        }
        KeysCommand::Revoke { name } => {
            if keys::revoke(&mut conn, &name, now_utc())? == 0 {
                bail!("no key in use is named {name:?} (see suppress keys list)");
            }
            println!("revoked {name}");
        }
    }
    Ok(())
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Campaign => Role::Campaign,
            RoleArg::Agent => Role::Agent,
            RoleArg::Compliance => Role::Compliance,
        }
    }
}

/// Create a key and return it; only its hash is stored.
pub fn create(store: &Store, name: &str, role: Role) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty() {
        bail!("a key needs a name");
    }
    crate::domain::text::check("--name", name, crate::domain::text::NAME)?;
    let key = generate_key();
    let mut conn = store.conn()?;
    match keys::insert(&mut conn, name, role, &hash_key(&key), now_utc()) {
        Ok(()) => Ok(key),
        Err(e) if is_unique_violation(&e) => {
            bail!("a key named {name:?} is already in use: revoke it first or choose another name")
        }
        Err(e) => Err(e).context("cannot store the key"),
    }
}
