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
        Ok(Demo {
            url: running.url.clone(),
            users,
            console_user: console_user.unwrap_or_else(|| "carrot".into()),
            data_dir: dir.path().to_path_buf(),
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
             In another terminal:\n  export COUNTERSIGN_BROKER={}\n",
            self.url,
            self.data_dir.display(),
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

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(driver) = self.driver.take() {
            driver.abort();
        }
        self.running.stop().await
    }
}
