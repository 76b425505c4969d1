//! `suppress keys create | list | revoke`, through `app::keys`.

use super::{KeysCommand, RoleArg};
use crate::app::{keys, AppError, ErrorCode};
use crate::domain::access::Role;
use crate::domain::time::rfc3339;
use crate::store::Store;

pub fn run(store: &Store, cmd: KeysCommand) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Create { role, name } => {
            let key = keys::create(store, &name, role.into()).map_err(flag)?;
            println!("{key}");
        }
        KeysCommand::List => {
            println!("{:<24} {:<10} {:<26} revoked", "name", "role", "created");
            for k in keys::list(store)? {
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
            keys::revoke(store, &name)?;
            println!("revoked {name}");
        }
    }
    Ok(())
}

/// A refused name, told as the flag that gave it.
fn flag(e: AppError) -> anyhow::Error {
    match e.code {
        ErrorCode::InvalidText | ErrorCode::TextTooLong => anyhow::anyhow!("--name: {e}"),
        _ => e.into(),
    }
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
