//! `countersign admin …`: roles, users and tokens, straight on the broker's data
//! directory. Safe beside a running broker: SQLite serialises the writers and the
//! broker picks up changes on its next call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::broker::store::{self, Location, Store, UserChange};
use crate::broker::{roles, tokens};
use crate::model::User;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// The broker's data directory (SQLite; also where `ssh ca` finds the key).
    #[arg(
        long,
        env = "COUNTERSIGN_DATA_DIR",
        required_unless_present = "database"
    )]
    pub data_dir: Option<PathBuf>,
    /// The store as a URL instead: postgres://… or sqlite:DIR.
    #[arg(long, env = "COUNTERSIGN_DATABASE")]
    pub database: Option<String>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Apply or list roles.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Add, list or remove users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Issue new tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// The notification outbox: list, and retry what failed.
    #[command(subcommand)]
    Notifications(super::notifications::NotificationsCommand),
    /// The SSH user CA.
    #[command(subcommand)]
    Ssh(SshCommand),
    /// Copy this SQLite data directory's whole history into an empty PostgreSQL
    /// database (`--data-dir DIR --to postgres://…`), and verify the copy.
    Migrate(super::migrate::MigrateArgs),
}

#[derive(Debug, Subcommand)]
pub enum SshCommand {
    /// Print the SSH user CA's public key, for sshd's TrustedUserCAKeys.
    Ca {
        /// The CA key file, when broker.toml names one ([ssh] ca_key).
        #[arg(long)]
        ca_key: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RolesCommand {
    /// Validate a role file and, if it is wholly valid, make it the roles in force.
    Apply { file: PathBuf },
    /// List the roles in force.
    Ls,
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user; prints its token as the last line (only its hash is stored).
    Add {
        name: String,
        /// Static roles, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// A trait (claim) as key=value; repeat for more values or keys.
        #[arg(long = "trait", value_name = "KEY=VALUE")]
        traits: Vec<String>,
    },
    /// List users.
    Ls,
    /// Remove a user (their requests stay in the history).
    Rm { name: String },
    /// Change a user's static roles and traits; the token stays as it is.
    SetRoles {
        name: String,
        /// The new static roles, comma-separated (replacing the old ones).
        #[arg(long, value_delimiter = ',')]
        roles: Option<Vec<String>>,
        /// Sets a trait's values as KEY=VALUE (repeat the key for several values);
        /// KEY= alone removes the trait. Other traits stay.
        #[arg(long = "trait", value_name = "KEY=VALUE")]
        traits: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Replace a user's token; the old one stops working at once.
    Rotate { name: String },
}

pub fn run(args: AdminArgs) -> anyhow::Result<ExitCode> {
    // Migrating reads the data directory without opening (or creating) a store there.
    let command = match args.command {
        AdminCommand::Migrate(migrate) => {
            return super::migrate::run(args.data_dir.as_deref(), migrate);
        }
        command => command,
    };
    // Printing the CA needs no database: answer before opening (or creating) one.
    let location = Location::choose(args.database.as_deref(), args.data_dir.as_deref())?;
    if let AdminCommand::Ssh(SshCommand::Ca { ca_key }) = &command {
        let dir = args.data_dir.clone().unwrap_or_default();
        return print_ca(&dir, ca_key.as_deref());
    }
    let store = store::open(&location)?;
    let store = store.as_ref();
    let now = chrono::Utc::now();
    match command {
        AdminCommand::Roles(RolesCommand::Apply { file }) => {
            let (version, set) = roles::apply_file(store, &file, now)?;
            let names: Vec<&str> = set.roles().map(|r| r.name.as_str()).collect();
            println!(
                "applied {} roles from {} (version {version}): {}",
                names.len(),
                file.display(),
                names.join(", ")
            );
        }
        AdminCommand::Roles(RolesCommand::Ls) => {
            let Some(stored) = store.roles()? else {
                println!("no roles applied yet: countersign admin --data-dir DIR roles apply FILE");
                return Ok(ExitCode::SUCCESS);
            };
            let set = roles::compile(&stored.source_name, &stored.text)?;
            println!("# version {} from {}", stored.version, stored.source_name);
            println!("{:<28} {:<10} PROMPT", "ROLE", "TTL");
            for role in set.roles() {
                println!(
                    "{:<28} {:<10} {}",
                    role.name,
                    role.max_session_ttl
                        .map(|d| d.to_string())
                        .unwrap_or_else(|| "-".into()),
                    role.request_prompt.as_deref().unwrap_or("")
                );
            }
        }
        AdminCommand::Users(UsersCommand::Add {
            name,
            roles: role_names,
            traits,
        }) => {
            let user = User {
                name: name.clone(),
                roles: role_names,
                traits: parse_traits(&traits)?,
            };
            if name.trim().is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                anyhow::bail!(
                    "user name {name:?} must be non-empty, without spaces or control characters"
                );
            }
            warn_unknown_roles(store, &user.roles)?;
            let token = tokens::generate();
            let change = UserChange::Add {
                user: user.clone(),
                token_hash: tokens::hash(&token),
            };
            store.change_user(&change, &actor(), now)?;
            eprintln!(
                "added {name} with roles {}; the token is shown once:",
                user.roles.join(",")
            );
            println!("{token}");
        }
        AdminCommand::Users(UsersCommand::Ls) => {
            println!("{:<20} {:<40} {:<30} CREATED", "USER", "ROLES", "TRAITS");
            for record in store.users()? {
                println!(
                    "{:<20} {:<40} {:<30} {}",
                    record.user.name,
                    record.user.roles.join(","),
                    traits_text(&record.user.traits),
                    record.created_at.format("%Y-%m-%d %H:%M")
                );
            }
        }
        AdminCommand::Users(UsersCommand::Rm { name }) => {
            let change = UserChange::Remove { name: name.clone() };
            if store.change_user(&change, &actor(), now)?.is_none() {
                anyhow::bail!("no user {name:?}");
            }
            println!("removed {name}; their requests stay in the history");
        }
        AdminCommand::Users(UsersCommand::SetRoles {
            name,
            roles: role_names,
            traits,
        }) => {
            if role_names.is_none() && traits.is_empty() {
                anyhow::bail!("nothing to change: give --roles R1,R2 and/or --trait KEY=VALUE");
            }
            if let Some(role_names) = &role_names {
                if role_names.iter().all(|r| r.trim().is_empty()) {
                    anyhow::bail!("--roles needs at least one role");
                }
                warn_unknown_roles(store, role_names)?;
            }
            let change = UserChange::Edit {
                name: name.clone(),
                roles: role_names,
                traits: parse_trait_edits(&traits)?,
            };
            let Some(user) = store.change_user(&change, &actor(), now)? else {
                anyhow::bail!("no user {name:?}");
            };
            println!(
                "{name} now has roles {} and traits {}; the token is unchanged",
                user.roles.join(","),
                traits_text(&user.traits)
            );
        }
        AdminCommand::Ssh(SshCommand::Ca { ca_key }) => {
            return print_ca(&args.data_dir.unwrap_or_default(), ca_key.as_deref());
        }
        AdminCommand::Notifications(command) => super::notifications::run(store, command)?,
        AdminCommand::Migrate(_) => {
            anyhow::bail!("migrate was answered above")
        }
        AdminCommand::Tokens(TokensCommand::Rotate { name }) => {
            let token = tokens::generate();
            let change = UserChange::RotateToken {
                name: name.clone(),
                token_hash: tokens::hash(&token),
            };
            if store.change_user(&change, &actor(), now)?.is_none() {
                anyhow::bail!("no user {name:?}");
            }
            eprintln!("new token for {name}; the old one no longer works:");
            println!("{token}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_ca(
    data_dir: &std::path::Path,
    ca_key: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let path = match ca_key {
        Some(path) => path.to_path_buf(),
        None => data_dir.join(crate::broker::ssh::CA_FILE),
    };
    if ca_key.is_none() && !path.exists() {
        anyhow::bail!(
            "no SSH user CA in {} yet: the broker creates it at its first start",
            data_dir.display()
        );
    }
    let ca = crate::broker::ssh::UserCa::load(&path)?;
    println!("{}", ca.public_line());
    Ok(ExitCode::SUCCESS)
}

/// Who the audit log names for an admin command: the operating-system account
/// that ran it, since the admin CLI has no token.
fn actor() -> String {
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("admin:{who}")
}

fn warn_unknown_roles(store: &dyn Store, names: &[String]) -> anyhow::Result<()> {
    if let Some(stored) = store.roles()? {
        let set = roles::compile(&stored.source_name, &stored.text)?;
        for role in names {
            if set.get(role).is_none() {
                eprintln!("warning: role {role:?} is not among the roles in force");
            }
        }
    }
    Ok(())
}

/// `team=unseen region=eu|us`, or `-` for none.
fn traits_text(traits: &BTreeMap<String, Vec<String>>) -> String {
    if traits.is_empty() {
        return "-".into();
    }
    traits
        .iter()
        .map(|(k, v)| format!("{k}={}", v.join("|")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `--trait` edits: each key's new values; `KEY=` alone means no values (removed).
fn parse_trait_edits(pairs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut edits: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in pairs {
        let (key, value) = trait_pair(pair)?;
        let values = edits.entry(key).or_default();
        if !value.is_empty() {
            values.push(value.to_string());
        }
    }
    Ok(edits)
}

fn parse_traits(pairs: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut traits: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in pairs {
        let (key, value) = trait_pair(pair)?;
        traits.entry(key).or_default().push(value.to_string());
    }
    Ok(traits)
}

/// One `--trait KEY=VALUE`: the trimmed key (never empty) and the value as given.
fn trait_pair(pair: &str) -> anyhow::Result<(String, &str)> {
    let (key, value) = pair
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("--trait {pair:?}: expected KEY=VALUE"))?;
    if key.trim().is_empty() {
        anyhow::bail!("--trait {pair:?}: the key is empty");
    }
    Ok((key.trim().to_string(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn traits_gather_values_by_trimmed_key() {
        let traits = parse_traits(&pairs(&["team=watch", " team =night", "email=a@b"])).unwrap();
        assert_eq!(traits["team"], vec!["watch", "night"]);
        assert_eq!(traits["email"], vec!["a@b"]);
    }

    #[test]
    fn an_edit_with_no_value_clears_the_trait() {
        let edits = parse_trait_edits(&pairs(&["team=", "email=a@b"])).unwrap();
        assert!(edits["team"].is_empty());
        assert_eq!(edits["email"], vec!["a@b"]);
    }

    #[test]
    fn a_pair_without_equals_or_key_is_refused_by_name() {
        for bad in ["team", "=watch", "  =watch"] {
            let add = parse_traits(&pairs(&[bad])).unwrap_err().to_string();
            let edit = parse_trait_edits(&pairs(&[bad])).unwrap_err().to_string();
            assert!(add.contains(bad) && edit.contains(bad), "{add} / {edit}");
        }
        assert!(
            parse_traits(&pairs(&["team"]))
                .unwrap_err()
                .to_string()
                .contains("expected KEY=VALUE")
        );
    }
}
