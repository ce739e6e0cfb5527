//! `sync-server admin user ...`: create staff accounts and set passwords.

use clap::Subcommand;
use serde_json::json;

use super::{CliError, Output, read_secret};
use crate::staff::hash_password;
use crate::store::pg::PgStore;
use crate::store::{Role, StaffStore, UserRecord, Who};

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account. The password comes from SYNC_PASSWORD, else from standard input.
    Create {
        #[arg(long)]
        username: String,
        /// admin or coordinator.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// Set a new password (ends the account's sessions). Password as for create.
    SetPassword {
        #[arg(long)]
        username: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: use admin or coordinator"))
}

pub async fn run(store: &PgStore, command: UserCommand, out: Output) -> Result<(), CliError> {
    match command {
        UserCommand::Create { username, role } => {
            let username = username.trim().to_owned();
            crate::staff::check_username(&username).map_err(CliError::Invalid)?;
            let password = read_secret("SYNC_PASSWORD", "password")?;
            let password_hash =
                hash_password(&password).map_err(|e| CliError::Invalid(e.to_string()))?;
            let user = UserRecord {
                id: uuid::Uuid::now_v7(),
                username: username.clone(),
                password_hash,
                role,
                disabled: false,
            };
            let audit = Who::cli().entry(
                "user.create",
                Some(username.clone()),
                json!({ "role": role }),
            );
            store.create_user(&user, &audit).await?;
            out.print(
                &json!({ "id": user.id, "username": username, "role": role }),
                || format!("created {} {username}", role.as_str()),
            );
        }
        UserCommand::SetPassword { username } => {
            let password = read_secret("SYNC_PASSWORD", "new password")?;
            let password_hash =
                hash_password(&password).map_err(|e| CliError::Invalid(e.to_string()))?;
            let audit = Who::cli().entry("user.set_password", Some(username.clone()), json!({}));
            store
                .set_password(&username, &password_hash, &audit)
                .await?;
            out.print(&json!({ "username": username }), || {
                format!("password of {username} changed; its sessions ended")
            });
        }
    }
    Ok(())
}
