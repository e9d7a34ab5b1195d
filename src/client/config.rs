//! The client config file, `console.toml`: where the broker is, the token, and the
//! console's theme, key bindings and notifications. A flag or the environment
//! (`COUNTERSIGN_BROKER`, `COUNTERSIGN_TOKEN`) wins over the file. The broker may be
//! a list (`url1,url2`, or a TOML array in the file): the client fails over along it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "console.toml";

/// The whole file. Unknown keys and tables are kept in `other`, so a newer file
/// still loads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    /// One broker URL or several, comma-separated; the file may also give an array.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "broker_list"
    )]
    pub broker: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding the token; relative paths are relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// A PEM file of the CA (or self-signed certificate) to trust for an https://
    /// broker, besides the usual web roots. `COUNTERSIGN_CA_FILE` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Styles by meaning over the built-in theme, the `[theme]` table:
    /// `emergency = "magenta bold"`, `muted = "darkgray"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub theme: BTreeMap<String, String>,
    /// Key bindings, the `[keys]` table: command name to one key or a list of keys
    /// (`approve = "a"`, `deny = ["d", "x"]`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, KeyBinding>,
    #[serde(default)]
    pub notifications: Notifications,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyBinding {
    One(String),
    Many(Vec<String>),
}

impl Config {
    /// `[keys]` with every binding as a list, as the console's keymap takes it.
    pub fn key_overrides(&self) -> BTreeMap<String, Vec<String>> {
        self.keys
            .iter()
            .map(|(command, binding)| {
                let keys = binding.keys().into_iter().map(str::to_string).collect();
                (command.clone(), keys)
            })
            .collect()
    }
}

impl KeyBinding {
    pub fn keys(&self) -> Vec<&str> {
        match self {
            KeyBinding::One(key) => vec![key.as_str()],
            KeyBinding::Many(keys) => keys.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notifications {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Only emergencies raise a desktop notification.
    #[serde(default)]
    pub urgent_only: bool,
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

impl Default for Notifications {
    fn default() -> Self {
        Notifications {
            enabled: true,
            urgent_only: false,
            other: BTreeMap::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// `broker = "http://a:7800"`, `broker = "http://a:7800,http://b:7800"` or
/// `broker = ["http://a:7800", "http://b:7800"]`: all become the comma-separated form.
fn broker_list<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Brokers {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<Brokers>::deserialize(de)? {
        None => None,
        Some(Brokers::One(list)) => Some(list),
        Some(Brokers::Many(urls)) => Some(urls.join(",")),
    })
}

/// Most brokers one list may name.
pub const MAX_BROKERS: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the CA file {path}: {why}")]
    CaFile { path: PathBuf, why: String },
    #[error("{0}")]
    Missing(String),
    #[error("invalid broker URL {url:?}: {why}")]
    BadBroker { url: String, why: String },
    #[error("the token {0} is not usable: it is empty or holds spaces or control characters")]
    BadToken(&'static str),
}

/// Where the client goes, after flags, environment and file are combined.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The broker's base URL without a trailing slash, or several such URLs separated
    /// by commas, in the order the client tries them.
    pub broker: String,
    pub token: String,
    /// Extra trusted certificates, PEM.
    pub ca_pem: Option<Vec<u8>>,
}

impl Connection {
    /// Each broker of the list, in order.
    pub fn brokers(&self) -> impl Iterator<Item = &str> {
        self.broker
            .split(',')
            .map(|url| url.trim().trim_end_matches('/'))
            .filter(|url| !url.is_empty())
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.broker)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// A loaded config and the connection it resolves to.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub config: Config,
    /// The file read, if one was.
    pub path: Option<PathBuf>,
    pub connection: Connection,
}

impl Config {
    /// `console.toml` in the user's config directory (e.g. `~/.config/countersign/`).
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("dev", "countersign", "countersign")
            .map(|dirs| dirs.config_dir().join(FILE_NAME))
    }

    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: path.to_path_buf(),
            message: err.message().to_string(),
        })
    }

    /// Reads the file named on the command line (which must exist), or the default
    /// file if there is one. Returns the config and the path it came from.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, Option<PathBuf>), ConfigError> {
        let (path, must_exist) = match explicit {
            Some(path) => (path.to_path_buf(), true),
            None => match Config::default_path() {
                Some(path) => (path, false),
                None => return Ok((Config::default(), None)),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((Config::parse(&text, &path)?, Some(path))),
            Err(err) if !must_exist && err.kind() == std::io::ErrorKind::NotFound => {
                Ok((Config::default(), None))
            }
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// Loads the file and combines it with the flag/environment values.
    pub fn resolve(
        broker: Option<&str>,
        token: Option<&str>,
        explicit_path: Option<&Path>,
    ) -> Result<Resolved, ConfigError> {
        let (config, path) = Config::load(explicit_path)?;
        let shown_path = path
            .clone()
            .or_else(|| explicit_path.map(Path::to_path_buf))
            .or_else(Config::default_path);
        let connection =
            config.connection(broker, token, path.as_deref(), shown_path.as_deref())?;
        Ok(Resolved {
            config,
            path,
            connection,
        })
    }

    /// Picks broker and token: the given values (flag or environment) first, then
    /// the file. `read_from` is the file this config came from (for `token_file`);
    /// `shown_path` is where the error message tells the user to write one.
    pub fn connection(
        &self,
        broker: Option<&str>,
        token: Option<&str>,
        read_from: Option<&Path>,
        shown_path: Option<&Path>,
    ) -> Result<Connection, ConfigError> {
        let broker = non_empty(broker).or_else(|| non_empty(self.broker.as_deref()));
        let token = match non_empty(token) {
            Some(token) => Some(token.to_string()),
            None => match non_empty(self.token.as_deref()) {
                Some(token) => Some(token.to_string()),
                None => self.read_token_file(read_from)?,
            },
        };
        let (broker, token) = match (broker, token) {
            (Some(broker), Some(token)) => (broker, token),
            (broker, token) => {
                return Err(ConfigError::Missing(missing_message(
                    broker.is_none(),
                    token.is_none(),
                    shown_path,
                )));
            }
        };
        let ca_pem = match &self.ca_file {
            Some(file) => Some(read_ca(&resolve_relative(file, read_from))?),
            None => None,
        };
        Ok(Connection {
            broker: check_brokers(broker)?,
            token: check_token(&token)?,
            ca_pem,
        })
    }

    fn read_token_file(&self, config_path: Option<&Path>) -> Result<Option<String>, ConfigError> {
        let Some(file) = &self.token_file else {
            return Ok(None);
        };
        let path = resolve_relative(file, config_path);
        let text = std::fs::read_to_string(&path)
            .map_err(|source| ConfigError::TokenFile { path, source })?;
        Ok(non_empty(Some(text.trim())).map(str::to_string))
    }
}

fn read_ca(path: &Path) -> Result<Vec<u8>, ConfigError> {
    let bad = |why: String| ConfigError::CaFile {
        path: path.to_path_buf(),
        why,
    };
    let pem = std::fs::read(path).map_err(|err| bad(err.to_string()))?;
    reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|err| bad(format!("not a PEM certificate ({err})")))
        .and_then(|certs| {
            if certs.is_empty() {
                Err(bad("no certificate in it".into()))
            } else {
                Ok(())
            }
        })?;
    Ok(pem)
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// `~/x` is under the home directory; a relative path is beside the config file.
fn resolve_relative(file: &Path, config_path: Option<&Path>) -> PathBuf {
    if let Ok(rest) = file.strip_prefix("~")
        && let Some(dirs) = directories::BaseDirs::new()
    {
        return dirs.home_dir().join(rest);
    }
    if file.is_absolute() {
        return file.to_path_buf();
    }
    match config_path.and_then(Path::parent) {
        Some(dir) => dir.join(file),
        None => file.to_path_buf(),
    }
}

fn missing_message(no_broker: bool, no_token: bool, path: Option<&Path>) -> String {
    let what = match (no_broker, no_token) {
        (true, true) => "no broker and no token are configured",
        (true, false) => "no broker is configured",
        _ => "no token is configured",
    };
    let file = match path {
        Some(path) => format!("write the config file {}", path.display()),
        None => "write a config file and pass it with --config".to_string(),
    };
    format!(
        "{what}. Either set COUNTERSIGN_BROKER and COUNTERSIGN_TOKEN (or pass --broker and \
         --token), or {file} with:\n\n    broker = \"http://127.0.0.1:7800\"\n    token_file = \
         \"token\"   # or: token = \"...\"\n\nor run `countersign demo` to try countersign \
         against a built-in broker."
    )
}

/// Checks every URL of a comma-separated list and returns the list normalised.
fn check_brokers(list: &str) -> Result<String, ConfigError> {
    let urls: Vec<&str> = list.split(',').map(str::trim).collect();
    if urls.len() > MAX_BROKERS {
        return Err(ConfigError::BadBroker {
            url: list.to_string(),
            why: format!("at most {MAX_BROKERS} brokers may be listed"),
        });
    }
    let mut checked: Vec<String> = Vec::with_capacity(urls.len());
    for url in urls {
        if url.is_empty() {
            return Err(ConfigError::BadBroker {
                url: list.to_string(),
                why: "the list has an empty entry (two commas, or one at an end)".into(),
            });
        }
        let url = check_broker(url)?;
        if !checked.contains(&url) {
            checked.push(url);
        }
    }
    Ok(checked.join(","))
}

fn check_broker(url: &str) -> Result<String, ConfigError> {
    let bad = |why: String| ConfigError::BadBroker {
        url: url.to_string(),
        why,
    };
    let parsed = reqwest::Url::parse(url).map_err(|err| bad(err.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("use an http:// or https:// URL".into()));
    }
    if parsed.host_str().is_none() {
        return Err(bad("the URL has no host".into()));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(bad("the URL must not have a query or fragment".into()));
    }
    Ok(url.trim_end_matches('/').to_string())
}

fn check_token(token: &str) -> Result<String, ConfigError> {
    let token = token.trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::BadToken("given"));
    }
    Ok(token.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
broker = "http://broker.example:7800/"
token_file = "token"
future_setting = 3

[theme]
emergency = "magenta bold"

[keys]
approve = "a"
deny = ["d", "x"]

[notifications]
enabled = false
urgent_only = true
sound = "bell"

[plugins.extra]
anything = true
"#;

    fn parse(text: &str) -> Config {
        Config::parse(text, Path::new("console.toml")).unwrap()
    }

    #[test]
    fn parses_every_section_and_keeps_unknown_ones() {
        let config = parse(FULL);
        assert_eq!(
            config.broker.as_deref(),
            Some("http://broker.example:7800/")
        );
        assert_eq!(
            config.theme.get("emergency").map(String::as_str),
            Some("magenta bold")
        );
        let keys = config.key_overrides();
        assert_eq!(keys["approve"], vec!["a"]);
        assert_eq!(keys["deny"], vec!["d", "x"]);
        assert!(!config.notifications.enabled);
        assert!(config.notifications.urgent_only);
        assert!(config.other.contains_key("plugins"));
        assert!(config.other.contains_key("future_setting"));
        assert!(config.notifications.other.contains_key("sound"));
    }

    #[test]
    fn empty_file_has_defaults() {
        let config = parse("");
        assert!(config.notifications.enabled);
        assert!(!config.notifications.urgent_only);
        assert!(config.keys.is_empty());
    }

    #[test]
    fn bad_toml_names_the_file() {
        let err = Config::parse("broker = ", Path::new("/x/console.toml")).unwrap_err();
        assert!(err.to_string().contains("/x/console.toml"), "{err}");
    }

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let config = parse("broker = \"http://file:1\"\ntoken = \"file-token\"");
        let conn = config
            .connection(Some("http://flag:2/"), Some("flag-token"), None, None)
            .unwrap();
        assert_eq!(conn.broker, "http://flag:2");
        assert_eq!(conn.token, "flag-token");
        let conn = config.connection(None, Some(" "), None, None).unwrap();
        assert_eq!(conn.broker, "http://file:1");
        assert_eq!(conn.token, "file-token");
    }

    #[test]
    fn token_file_is_read_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "secret-token\n").unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, FULL).unwrap();
        let resolved = Config::resolve(None, None, Some(&path)).unwrap();
        assert_eq!(resolved.connection.token, "secret-token");
        assert_eq!(resolved.connection.broker, "http://broker.example:7800");
        assert_eq!(resolved.path.as_deref(), Some(path.as_path()));
    }

    #[test]
    fn missing_token_file_is_a_clear_error() {
        let config = parse("broker = \"http://b:1\"\ntoken_file = \"/nonexistent/tok\"");
        let err = config.connection(None, None, None, None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tok"), "{err}");
    }

    #[test]
    fn nothing_configured_says_what_to_do() {
        let err = Config::default()
            .connection(
                None,
                None,
                None,
                Some(Path::new("/home/u/.config/countersign/console.toml")),
            )
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("no broker and no token are configured"),
            "{text}"
        );
        assert!(text.contains("COUNTERSIGN_BROKER and COUNTERSIGN_TOKEN"));
        assert!(text.contains("/home/u/.config/countersign/console.toml"));
        assert!(text.contains("broker = "));
        assert!(text.contains("countersign demo"));
    }

    #[test]
    fn only_token_missing_is_named() {
        let err = Config::default()
            .connection(Some("http://b:1"), None, None, None)
            .unwrap_err();
        assert!(
            err.to_string().starts_with("no token is configured"),
            "{err}"
        );
    }

    #[test]
    fn explicit_missing_file_is_an_error() {
        let err =
            Config::resolve(None, None, Some(Path::new("/nonexistent/console.toml"))).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
    }

    #[test]
    fn broker_url_and_token_are_checked() {
        let config = Config::default();
        for url in ["ftp://x", "not a url", "http://x/?a=1"] {
            assert!(
                matches!(
                    config.connection(Some(url), Some("t"), None, None),
                    Err(ConfigError::BadBroker { .. })
                ),
                "{url}"
            );
        }
        assert!(matches!(
            config.connection(Some("http://x"), Some("a b"), None, None),
            Err(ConfigError::BadToken(_))
        ));
    }

    #[test]
    fn a_broker_list_is_checked_and_normalised() {
        let config = Config::default();
        let conn = config
            .connection(
                Some(" http://a:1/ , http://b:2,http://a:1"),
                Some("t"),
                None,
                None,
            )
            .unwrap();
        assert_eq!(conn.broker, "http://a:1,http://b:2");
        assert_eq!(
            conn.brokers().collect::<Vec<_>>(),
            ["http://a:1", "http://b:2"]
        );
        for list in [
            "http://a:1,,http://b:2",
            "http://a:1,",
            "http://a:1,ftp://b",
        ] {
            assert!(
                matches!(
                    config.connection(Some(list), Some("t"), None, None),
                    Err(ConfigError::BadBroker { .. })
                ),
                "{list}"
            );
        }
        let long = vec!["http://a:1"; MAX_BROKERS + 1].join(",");
        let err = config.connection(Some(&long), Some("t"), None, None);
        assert!(matches!(err, Err(ConfigError::BadBroker { .. })));
    }

    #[test]
    fn the_file_gives_brokers_as_a_string_or_an_array() {
        let config = parse("broker = [\"http://a:1\", \"http://b:2/\"]\ntoken = \"t\"");
        assert_eq!(config.broker.as_deref(), Some("http://a:1,http://b:2/"));
        let conn = config.connection(None, None, None, None).unwrap();
        assert_eq!(conn.broker, "http://a:1,http://b:2");
        let config = parse("broker = \"http://a:1,http://b:2\"\ntoken = \"t\"");
        let conn = config.connection(None, None, None, None).unwrap();
        assert_eq!(conn.brokers().count(), 2);
        assert!(Config::parse("broker = 7", Path::new("c.toml")).is_err());
    }

    #[test]
    fn connection_debug_hides_the_token() {
        let conn = Connection {
            broker: "http://x".into(),
            token: "hunter2".into(),
            ca_pem: None,
        };
        assert!(!format!("{conn:?}").contains("hunter2"));
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/console.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = Config::parse(&text, &path).unwrap();
        assert_eq!(config.broker.as_deref(), Some("http://127.0.0.1:7800"));
        assert_eq!(config.token_file.as_deref(), Some(Path::new("token")));
        assert!(config.notifications.enabled);
    }

    #[test]
    fn a_ca_file_that_is_not_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "not a certificate").unwrap();
        let config = parse("broker = \"https://b:1\"\ntoken = \"t\"\nca_file = \"ca.pem\"");
        let err = config
            .connection(None, None, Some(&dir.path().join(FILE_NAME)), None)
            .unwrap_err();
        assert!(matches!(err, ConfigError::CaFile { .. }), "{err}");
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }
}
