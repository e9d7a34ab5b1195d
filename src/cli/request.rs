//! `countersign request …` and `countersign whoami`: the requester's and reviewer's CLI.
//!
//! Exit status: 0 on success (for `request create`, on approval); 2 when a waited-on
//! request ends other than approved; 130 when waiting is interrupted; 1 on errors.

mod follow;
mod view;

pub(crate) use view::relative;

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::builder::TypedValueParser as _;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use uuid::Uuid;

use crate::client::ClientArgs;
use crate::client::{Client, ClientError};
use crate::model::api::{
    CreateRequest, ErrorCode, ListRequests, MAX_REASON_BYTES, Resolve, Scope,
    SubmitPostIncidentReview, SubmitReview,
};
use crate::model::{Decision, Duration, IncidentOutcome, Request, State};

#[derive(Debug, Args)]
pub struct RequestArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    #[command(subcommand)]
    pub command: Box<RequestCommand>,
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// Ask for roles; waits for the reviews and prints the outcome (like `tsh request create`).
    Create(CreateArgs),
    /// List requests you made or may review.
    #[command(alias = "list")]
    Ls(ListArgs),
    /// Everything about one request: rules, reviews, deadlines, access window.
    Show(ShowArgs),
    /// Approve or deny a request, with a reason.
    Review(ReviewArgs),
    /// Resolve a pending request directly, bypassing the approval rules (override).
    Resolve(ResolveArgs),
    /// Cancel your own pending request.
    Withdraw(IdArgs),
    /// Give approved access back before its window ends.
    Return(IdArgs),
    /// Record the post-incident review an approved emergency request owes.
    PostIncidentReview(PostIncidentArgs),
    /// End approved access early (rule access_request: update), with a reason.
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    pub id: String,
    /// Why; required, and recorded in the audit log.
    #[arg(long, required = true)]
    pub reason: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Roles to request, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub roles: Vec<String>,
    /// Why you need the access; name the ticket or incident (e.g. "incident #47").
    #[arg(long)]
    pub reason: Option<String>,
    /// How long the access should last once approved (e.g. 2h).
    #[arg(long)]
    pub max_duration: Option<Duration>,
    /// How long you expect the task to take (e.g. 1h).
    #[arg(long)]
    pub estimate: Option<Duration>,
    /// How long the request may wait for reviews before it expires (e.g. 8h).
    #[arg(long)]
    pub pending_ttl: Option<Duration>,
    /// People you would like to review it, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub reviewers: Vec<String>,
    /// An annotation `key=value`; repeat for more.
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Print the id and return at once instead of waiting for the outcome.
    #[arg(long, conflicts_with = "login")]
    pub nowait: bool,
    /// Once approved, get an SSH certificate as `countersign login` does.
    #[arg(long)]
    pub login: bool,
    /// The key to certify with --login (default ~/.ssh/id_ed25519).
    #[arg(long, requires = "login")]
    pub identity: Option<std::path::PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScopeArg {
    Mine,
    Reviewable,
    All,
}

/// `--state`, with every state listed in `--help` and in the error for a typo.
fn state_parser() -> impl clap::builder::TypedValueParser<Value = State> {
    clap::builder::PossibleValuesParser::new(State::ALL.map(State::as_str))
        .try_map(|text| text.parse::<State>())
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only requests in this state.
    #[arg(long, value_parser = state_parser())]
    pub state: Option<State>,
    #[arg(long, value_enum)]
    pub scope: Option<ScopeArg>,
    /// Only requests by this user.
    #[arg(long)]
    pub user: Option<String>,
    /// Only requests for this role.
    #[arg(long)]
    pub role: Option<String>,
    /// Only requests whose requester, roles or reason contain this text (any case),
    /// or whose id starts with it.
    #[arg(long)]
    pub search: Option<String>,
    /// At most this many requests (newest first); default: all.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The request id, or a unique prefix or suffix of it (as `ls` shows).
    pub id: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["approve", "deny"])))]
pub struct ReviewArgs {
    pub id: String,
    #[arg(long)]
    pub approve: bool,
    #[arg(long)]
    pub deny: bool,
    /// Why; required, and recorded in the audit log.
    #[arg(long, required = true)]
    pub reason: String,
    /// Approve only these of the requested roles, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("decision").required(true).args(["approve", "deny"])))]
pub struct ResolveArgs {
    pub id: String,
    #[arg(long)]
    pub approve: bool,
    #[arg(long)]
    pub deny: bool,
    #[arg(long, required = true)]
    pub reason: String,
    /// Grant only these of the requested roles, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub roles: Vec<String>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct IdArgs {
    pub id: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct PostIncidentArgs {
    pub id: String,
    /// justified or unjustified.
    #[arg(long)]
    pub outcome: IncidentOutcome,
    #[arg(long, required = true)]
    pub notes: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Exit status of a waited-on request that ended other than approved.
pub const EXIT_NOT_APPROVED: u8 = 2;
/// Exit status when waiting was interrupted (Ctrl-C).
pub const EXIT_INTERRUPTED: u8 = 130;

pub async fn run(args: RequestArgs) -> anyhow::Result<ExitCode> {
    let outer = args.client;
    match *args.command {
        RequestCommand::Create(a) => {
            let client = connect(&a.client, &outer)?;
            create(&client, a).await
        }
        RequestCommand::Ls(a) => {
            let client = connect(&a.client, &outer)?;
            list(&client, a).await
        }
        RequestCommand::Show(a) => {
            let client = connect(&a.client, &outer)?;
            let id = resolve_id(&client, &a.id).await?;
            match a.format {
                Format::Json => {
                    let value = client
                        .get_value(&format!("/v1/requests/{id}"), &[] as &[(&str, &str)])
                        .await?;
                    print_json(&value)?;
                }
                Format::Table => {
                    let request = client.get_request(id).await?;
                    let now = chrono::Utc::now();
                    print!("{}", view::show(&request, now));
                    // A broker without SSH certificates simply has none to list.
                    if let Ok(list) = client.certificates(id).await {
                        print!("{}", view::certificates(&list.certificates, now));
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        RequestCommand::Review(a) => {
            let client = connect(&a.client, &outer)?;
            let reason = checked_text("reason", &a.reason)?;
            let decision = if a.approve {
                Decision::Approve
            } else {
                Decision::Deny
            };
            let id = resolve_id(&client, &a.id).await?;
            let body = SubmitReview {
                decision,
                reason,
                roles: a.roles,
            };
            let request = client.review(id, &body).await?;
            report(
                &request,
                a.format,
                &format!("Review recorded ({decision})"),
                false,
            )
        }
        RequestCommand::Resolve(a) => {
            let client = connect(&a.client, &outer)?;
            let reason = checked_text("reason", &a.reason)?;
            let state = if a.approve {
                State::Approved
            } else {
                State::Denied
            };
            let id = resolve_id(&client, &a.id).await?;
            let body = Resolve {
                state,
                reason,
                roles: a.roles,
            };
            let request = client.resolve(id, &body).await?;
            report(&request, a.format, "Resolved by override", false)
        }
        RequestCommand::Withdraw(a) => {
            let client = connect(&a.client, &outer)?;
            let id = resolve_id(&client, &a.id).await?;
            let request = client.withdraw(id).await?;
            report(&request, a.format, "Withdrawn", true)
        }
        RequestCommand::Return(a) => {
            let client = connect(&a.client, &outer)?;
            let id = resolve_id(&client, &a.id).await?;
            let request = client.return_access(id).await?;
            report(&request, a.format, "Access returned", true)
        }
        RequestCommand::PostIncidentReview(a) => {
            let client = connect(&a.client, &outer)?;
            let notes = checked_text("notes", &a.notes)?;
            let id = resolve_id(&client, &a.id).await?;
            let body = SubmitPostIncidentReview {
                outcome: a.outcome,
                notes,
            };
            let request = client.post_incident_review(id, &body).await?;
            report(&request, a.format, "Post-incident review recorded", false)
        }
        RequestCommand::Revoke(a) => {
            let client = connect(&a.client, &outer)?;
            let reason = checked_text("reason", &a.reason)?;
            let id = resolve_id(&client, &a.id).await?;
            let request = client.revoke(id, &reason).await?;
            report(&request, a.format, "Access revoked", false)
        }
    }
}

pub async fn whoami(args: WhoamiArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.client, &ClientArgs::default())?;
    match args.format {
        Format::Json => {
            let value = client
                .get_value("/v1/whoami", &[] as &[(&str, &str)])
                .await?;
            print_json(&value)?;
        }
        Format::Table => print!("{}", view::whoami(&client.whoami().await?)),
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds a client from the subcommand's flags, then the outer ones, then the file.
fn connect(inner: &ClientArgs, outer: &ClientArgs) -> anyhow::Result<Client> {
    inner.or(outer).connect()
}

/// A reason or note: refused locally when blank or too long, before anything is sent.
fn checked_text(what: &str, text: &str) -> anyhow::Result<String> {
    if text.trim().is_empty() {
        bail!(
            "the {what} is blank: say why (e.g. --{what} \"incident #47: restart the payment workers\")"
        );
    }
    if text.len() > MAX_REASON_BYTES {
        bail!(
            "the {what} is {} bytes long; at most {MAX_REASON_BYTES} are accepted",
            text.len()
        );
    }
    Ok(text.to_string())
}

fn parse_annotations(items: &[String]) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut annotations: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for item in items {
        let Some((key, value)) = item.split_once('=') else {
            bail!("annotation {item:?} is not KEY=VALUE");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("annotation {item:?} has an empty key");
        }
        annotations
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    Ok(annotations)
}

fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!(
        "{}",
        crate::client::json_inert(
            &serde_json::to_string_pretty(value).context("cannot format the answer as JSON")?
        )
    );
    Ok(())
}

/// The answer to an action on one request; what to do next only to the requester.
fn report(
    request: &Request,
    format: Format,
    done: &str,
    to_requester: bool,
) -> anyhow::Result<ExitCode> {
    match format {
        Format::Json => print_json(request)?,
        Format::Table => {
            let (have, need) = request.votes();
            println!(
                "{done}. Request {} is now {} ({have}/{need} approvals).",
                request.id, request.state
            );
            if request.state != State::Pending {
                println!(
                    "{}",
                    view::outcome_for(request, chrono::Utc::now(), to_requester)
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A full id as is; otherwise a unique prefix or suffix among the requests visible.
pub(crate) async fn resolve_id(client: &Client, input: &str) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(input.trim()) {
        return Ok(id);
    }
    // Reject malformed input before listing anything.
    view::id_fragment(input).map_err(|err| anyhow::anyhow!(err))?;
    let requests = client
        .list_all_requests(&ListRequests {
            scope: Some(Scope::All),
            ..ListRequests::default()
        })
        .await?;
    let ids: Vec<Uuid> = requests.iter().map(|r| r.id).collect();
    view::match_id(&ids, input).map_err(|err| anyhow::anyhow!(err))
}

async fn list(client: &Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let query = ListRequests {
        state: args.state,
        user: args.user,
        role: args.role,
        scope: args.scope.map(|s| match s {
            ScopeArg::Mine => Scope::Mine,
            ScopeArg::Reviewable => Scope::Reviewable,
            ScopeArg::All => Scope::All,
        }),
        limit: args.limit,
        after: None,
        q: args.search,
    };
    match args.format {
        Format::Json => {
            let value = list_json(client, query, args.limit.is_some()).await?;
            print_json(&value)?;
        }
        Format::Table => {
            let requests = if args.limit.is_some() {
                client.list_requests(&query).await?.requests
            } else {
                client.list_all_requests(&query).await?
            };
            print!(
                "{}",
                view::list(&requests, chrono::Utc::now(), terminal_width())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The terminal's width when stdout is one; `None` when piped.
fn terminal_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| cols as usize)
}

/// The broker's JSON pages; when following every page, their requests are joined
/// into one `{requests, next: null}`.
async fn list_json(
    client: &Client,
    mut query: ListRequests,
    one_page: bool,
) -> anyhow::Result<serde_json::Value> {
    let first = client.get_value("/v1/requests", &query).await?;
    if one_page {
        return Ok(first);
    }
    let mut all = Vec::new();
    let mut page = first;
    loop {
        let next = page
            .get("next")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        if let Some(serde_json::Value::Array(items)) = page.get_mut("requests").map(std::mem::take)
        {
            all.extend(items);
        }
        match next {
            Some(next) if query.after.as_deref() != Some(next.as_str()) => {
                query.after = Some(next);
                page = client.get_value("/v1/requests", &query).await?;
            }
            _ => break,
        }
    }
    Ok(serde_json::json!({ "requests": all, "next": null }))
}

async fn create(client: &Client, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let reason = match &args.reason {
        Some(reason) => checked_text("reason", reason)?,
        None => String::new(),
    };
    let roles: Vec<String> = args
        .roles
        .iter()
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty())
        .collect();
    if roles.is_empty() {
        bail!("name at least one role with --roles");
    }
    let body = CreateRequest {
        roles,
        reason,
        max_duration: args.max_duration,
        estimate: args.estimate,
        pending_ttl: args.pending_ttl,
        suggested_reviewers: args.reviewers.clone(),
        annotations: parse_annotations(&args.annotations)?,
    };
    if args.nowait {
        let request = client
            .create_request(&body)
            .await
            .map_err(explain_create_error)?;
        match args.format {
            Format::Json => print_json(&request)?,
            Format::Table => println!(
                "Request {} created ({}). See it with: countersign request show {}",
                request.id, request.state, request.id
            ),
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (code, request) = follow::create_and_wait(client, &body, args.format).await?;
    if args.login && request.state == State::Approved {
        let identity = match args.identity {
            Some(path) => path,
            None => super::login::default_identity()?,
        };
        super::login::login(client, request.id, &identity).await?;
    }
    Ok(code)
}

/// A refused creation, with what to do about it when the fix is on this side.
pub(crate) fn explain_create_error(err: ClientError) -> anyhow::Error {
    match err.code() {
        Some(ErrorCode::ReasonRequired) => {
            anyhow::anyhow!("{err}\nSay why with --reason \"…\", naming the ticket or incident.")
        }
        Some(ErrorCode::RoleNotRequestable) => {
            anyhow::anyhow!("{err}\nSee what you may request with: countersign whoami")
        }
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> Result<RequestCommand, clap::Error> {
        let mut argv = vec!["request"];
        argv.extend_from_slice(args);
        let matches =
            RequestArgs::augment_args(clap::Command::new("request")).try_get_matches_from(argv)?;
        Ok(*RequestArgs::from_arg_matches(&matches)?.command)
    }

    #[test]
    fn create_takes_the_runbook_flags() {
        let cmd = parse(&[
            "create",
            "--roles=production-access,db",
            "--reason=Investigating error spike, see incident #47",
            "--max-duration",
            "2h",
            "--annotation",
            "ticket=INC-1",
            "--nowait",
        ])
        .unwrap();
        let RequestCommand::Create(c) = cmd else {
            panic!("not create")
        };
        assert_eq!(c.roles, vec!["production-access", "db"]);
        assert_eq!(c.max_duration, Some(Duration::from_hours(2)));
        assert!(c.nowait);
        assert_eq!(
            parse_annotations(&c.annotations).unwrap()["ticket"],
            vec!["INC-1"]
        );
    }

    #[test]
    fn review_needs_exactly_one_decision_and_a_reason() {
        assert!(parse(&["review", "abcd", "--approve", "--reason", "ok"]).is_ok());
        assert!(parse(&["review", "abcd", "--reason", "ok"]).is_err());
        assert!(parse(&["review", "abcd", "--approve", "--deny", "--reason", "ok"]).is_err());
        assert!(parse(&["review", "abcd", "--approve"]).is_err());
    }

    #[test]
    fn blank_and_oversized_reasons_are_refused_locally() {
        assert!(
            checked_text("reason", " \n\t")
                .unwrap_err()
                .to_string()
                .contains("blank")
        );
        let long = "x".repeat(MAX_REASON_BYTES + 1);
        assert!(
            checked_text("reason", &long)
                .unwrap_err()
                .to_string()
                .contains("4096")
        );
        assert_eq!(
            checked_text("reason", "incident #47").unwrap(),
            "incident #47"
        );
    }

    #[test]
    fn annotations_must_be_key_value() {
        assert!(parse_annotations(&["novalue".into()]).is_err());
        assert!(parse_annotations(&["=x".into()]).is_err());
        let map = parse_annotations(&["a=1".into(), "a=2".into(), "b=".into()]).unwrap();
        assert_eq!(map["a"], vec!["1", "2"]);
        assert_eq!(map["b"], vec![""]);
    }
}
