//! `suppress users create | list | disable | reset`, through `app::users`.

use super::UsersCommand;
use crate::app::users;
use crate::domain::time::rfc3339;
use crate::store::Store;

pub fn run(store: &Store, cmd: UsersCommand) -> anyhow::Result<()> {
    match cmd {
        UsersCommand::Create { role, name, email } => {
            let password = users::create(store, &name, role.into(), email.as_deref(), None)?;
            eprintln!("{name} must change this one-time password at their first sign-in:");
            println!("{password}");
        }
        UsersCommand::List => {
            println!("{:<24} {:<10} {:<26} {:<9} disabled", "name", "role", "created", "password");
            for u in users::list(store)? {
                println!(
                    "{:<24} {:<10} {:<26} {:<9} {}",
                    u.name,
                    u.role.as_str(),
                    rfc3339(u.created_at),
                    if u.must_change_password { "one-time" } else { "set" },
                    u.disabled_at.map(rfc3339).unwrap_or_else(|| "-".into())
                );
            }
        }
        UsersCommand::Disable { name } => {
            users::disable(store, &name)?;
            println!("disabled {name}; their sessions have ended");
        }
        UsersCommand::Reset { name } => {
            let password = users::reset(store, &name)?;
            eprintln!("{name}'s sessions have ended; they must change this one-time password at their next sign-in:");
            println!("{password}");
        }
    }
    Ok(())
}
