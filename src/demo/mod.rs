//! `countersign demo`: an embedded broker on a free loopback port with a temporary
//! data dir, the runbook's roles and people, a seeded week of history and a live
//! queue that keeps moving. The console opens on it as a reviewer.

mod actor;
mod live;
mod seed;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;

use crate::broker::store::{SqliteStore, Store};
use crate::broker::{BrokerConfig, RunningBroker, roles, tokens};
use crate::model::User;

pub use actor::Actor;

const ROLES: &str = include_str!("../../assets/demo/roles.yaml");
const CAST: &str = include_str!("../../assets/demo/users.toml");

#[derive(Debug, Deserialize)]
struct Cast {
    user: Vec<CastMember>,
    reasons: Reasons,
}

#[derive(Debug, Deserialize)]
struct CastMember {
    name: String,
    roles: Vec<String>,
    #[serde(default)]
    console: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Reasons {
    pub ticketed: Vec<String>,
    pub unticketed: Vec<String>,
    pub emergency: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Keep the queue moving (new requests, votes, emergencies).
    pub live: bool,
    /// Seed of the live queue's choices.
    pub seed: u64,
    /// Seconds between live actions, at least.
    pub pace_secs: u64,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            live: true,
            seed: 47,
            pace_secs: 4,
        }
    }
}

pub struct Demo {
    pub url: String,
    /// (user, token, roles) for every demo user.
    pub users: Vec<(String, String, Vec<String>)>,
    pub console_user: String,
    pub data_dir: std::path::PathBuf,
    /// `export` lines for the broker URL and every user's token, for a second
    /// terminal: `source` it.
    pub env_file: std::path::PathBuf,
    _dir: tempfile::TempDir,
    running: RunningBroker,
    driver: Option<tokio::task::JoinHandle<()>>,
}

impl Demo {
    pub async fn start(options: DemoOptions) -> anyhow::Result<Demo> {
        let cast: Cast = toml::from_str(CAST).map_err(|e| anyhow::anyhow!("demo cast: {e}"))?;
        let dir = tempfile::Builder::new()
            .prefix("countersign-demo-")
            .tempdir()?;
        let role_set = roles::compile("assets/demo/roles.yaml", ROLES)?;
        let mut users = Vec::new();
        let mut people = BTreeMap::new();
        let mut console_user = None;
        {
            let store = SqliteStore::open(dir.path())?;
            let now = chrono::Utc::now();
            store.put_roles("assets/demo/roles.yaml", ROLES, now)?;
            for member in &cast.user {
                let user = User {
                    name: member.name.clone(),
                    roles: member.roles.clone(),
                    traits: BTreeMap::new(),
                };
                let token = tokens::generate();
                store.add_user(&user, &tokens::hash(&token), now)?;
                if member.console {
                    console_user = Some(member.name.clone());
                }
                users.push((member.name.clone(), token, member.roles.clone()));
                people.insert(member.name.clone(), user);
            }
            let actor = Actor::new(&store, &role_set, &people);
            seed::week(&actor, now)?;
        }
        let config = BrokerConfig {
            listen: "127.0.0.1:0".parse()?,
            data_dir: Some(dir.path().to_path_buf()),
            ..BrokerConfig::default()
        };
        let running = crate::broker::start(config).await?;
        let driver = if options.live {
            let store: Arc<dyn Store> = running.store.clone();
            Some(tokio::spawn(live::run(
                store,
                Arc::new(role_set),
                people,
                cast.reasons.clone(),
                options,
            )))
        } else {
            None
        };
        let console_user = console_user.unwrap_or_else(|| "carrot".into());
        let env_file = dir.path().join("demo.env");
        write_private(&env_file, &environment(&running.url, &users, &console_user))?;
        Ok(Demo {
            url: running.url.clone(),
            users,
            console_user,
            data_dir: dir.path().to_path_buf(),
            env_file,
            _dir: dir,
            running,
            driver,
        })
    }

    pub fn token(&self, user: &str) -> Option<&str> {
        self.users
            .iter()
            .find(|(name, _, _)| name == user)
            .map(|(_, token, _)| token.as_str())
    }

    /// What to print so a second terminal can use the CLI against this broker.
    pub fn banner(&self) -> String {
        let mut out = format!(
            "countersign demo: broker at {} (data in {}, removed on exit)\n\
             In another terminal: source {}\n  export COUNTERSIGN_BROKER={}\n",
            self.url,
            self.data_dir.display(),
            self.env_file.display(),
            self.url
        );
        for (name, token, roles) in &self.users {
            out.push_str(&format!(
                "  {name:<12} {:<36} COUNTERSIGN_TOKEN={token}\n",
                roles.join(",")
            ));
        }
        out.push_str(
            "SSH: with an approved request's requester's token, get its certificate and log in
               countersign login --request <id> --identity /tmp/demo_ed25519   (logins: deploy, app)
               ssh -i /tmp/demo_ed25519 deploy@<host>   on a host whose sshd has
               TrustedUserCAKeys = `countersign ssh ca` and RevokedKeys = `countersign ssh krl --out FILE`
",
        );
        out
    }

    /// The environment file's lines, as written.
    pub fn environment(&self) -> String {
        environment(&self.url, &self.users, &self.console_user)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
        self.running.stop().await
    }
}

/// The shell name of a user's token variable: `COUNTERSIGN_TOKEN_ALICE`.
fn token_variable(user: &str) -> String {
    let name: String = user
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("COUNTERSIGN_TOKEN_{name}")
}

/// `export` lines: the broker, every user's token by name, and the console
/// user's as `COUNTERSIGN_TOKEN`, with how to become someone else.
fn environment(url: &str, users: &[(String, String, Vec<String>)], console_user: &str) -> String {
    let mut out = String::from(
        "# countersign demo: `source` this file, then use the CLI as any demo user.\n",
    );
    out.push_str(&format!("export COUNTERSIGN_BROKER={url}\n"));
    for (name, token, roles) in users {
        out.push_str(&format!(
            "export {}={token}  # {}\n",
            token_variable(name),
            roles.join(",")
        ));
    }
    if let Some((_, token, _)) = users.iter().find(|(name, _, _)| name == console_user) {
        out.push_str(&format!(
            "export COUNTERSIGN_TOKEN={token}  # {console_user}\n"
        ));
    }
    if let Some((other, _, _)) = users.iter().find(|(name, _, _)| name != console_user) {
        out.push_str(&format!(
            "# to act as {other}: export COUNTERSIGN_TOKEN=${}\n",
            token_variable(other)
        ));
    }
    out
}

/// Writes a file only its owner can read: it holds tokens.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_exports_the_broker_and_every_token() {
        let users = vec![
            (
                "carrot".to_string(),
                "tok-c".to_string(),
                vec!["reviewer".to_string()],
            ),
            (
                "bob".to_string(),
                "tok-b".to_string(),
                vec!["developer".to_string()],
            ),
            ("lord-v".to_string(), "tok-v".to_string(), vec![]),
        ];
        let text = environment("http://127.0.0.1:9", &users, "carrot");
        assert!(text.contains("export COUNTERSIGN_BROKER=http://127.0.0.1:9\n"));
        assert!(text.contains("export COUNTERSIGN_TOKEN_CARROT=tok-c"));
        assert!(text.contains("export COUNTERSIGN_TOKEN_BOB=tok-b"));
        assert!(text.contains("export COUNTERSIGN_TOKEN_LORD_V=tok-v"));
        assert!(text.contains("export COUNTERSIGN_TOKEN=tok-c"));
    }
}
