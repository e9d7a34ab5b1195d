//! Issuing a user certificate for an approved request: which key, which logins,
//! which window, and the signature.

use ssh_key::certificate::{Builder, CertType};
use ssh_key::public::KeyData;
use ssh_key::{HashAlg, PublicKey, rand_core::OsRng};

use super::UserCa;
use crate::broker::store::Refusal;
use crate::model::api::ErrorCode;
use crate::model::{Request, State, Time, User};
use crate::policy::RoleSet;
use crate::policy::logins::{logins, permissions};

/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Longest `public_key` text looked at.
const MAX_KEY_TEXT: usize = 16 * 1024;
/// Clock skew allowed between the broker and the hosts.
const SKEW_SECS: i64 = 60;

/// A requester's public key, checked to be one this broker certifies.
#[derive(Debug, Clone)]
pub struct SubjectKey {
    key: PublicKey,
    pub fingerprint: String,
}

fn invalid_key(message: impl Into<String>) -> Refusal {
    Refusal::new(ErrorCode::InvalidPublicKey, message)
}

impl SubjectKey {
    /// One `.pub` line: Ed25519, ECDSA, or RSA of at least 2048 bits.
    pub fn parse(text: &str) -> Result<SubjectKey, Refusal> {
        let text = text.trim();
        if text.is_empty() {
            return Err(invalid_key(
                "public_key is empty: send the contents of your .pub file",
            ));
        }
        if text.len() > MAX_KEY_TEXT || text.lines().count() > 1 {
            return Err(invalid_key("public_key must be one line of a .pub file"));
        }
        let key = PublicKey::from_openssh(text).map_err(|e| {
            invalid_key(format!(
                "public_key is not an OpenSSH public key ({e}); send a line like \"ssh-ed25519 AAAA… you@host\""
            ))
        })?;
        match key.key_data() {
            KeyData::Ed25519(_) | KeyData::Ecdsa(_) => {}
            KeyData::Rsa(rsa) => {
                let bits = rsa.n.as_positive_bytes().map(bit_length).unwrap_or(0);
                if bits < MIN_RSA_BITS {
                    return Err(invalid_key(format!(
                        "this RSA key has {bits} bits; at least {MIN_RSA_BITS} are required"
                    )));
                }
            }
            _ => {
                return Err(invalid_key(format!(
                    "{} keys are not certified here; use Ed25519, ECDSA or RSA (2048 bits or more)",
                    key.algorithm()
                )));
            }
        }
        let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
        Ok(SubjectKey { key, fingerprint })
    }
}

fn bit_length(bytes: &[u8]) -> usize {
    let bytes = match bytes.iter().position(|b| *b != 0) {
        Some(first) => &bytes[first..],
        None => return 0,
    };
    bytes.len() * 8 - bytes[0].leading_zeros() as usize
}

/// What a certificate for a request will say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuePlan {
    pub key_id: String,
    pub principals: Vec<String>,
    pub extensions: Vec<&'static str>,
    pub valid_after: i64,
    pub valid_before: i64,
}

/// Decides whether `user` gets a certificate for `request` now, and what it says.
pub fn plan(
    roles: &RoleSet,
    user: &User,
    request: &Request,
    now: Time,
) -> Result<IssuePlan, Refusal> {
    if request.user != user.name {
        return Err(Refusal::new(
            ErrorCode::NotFound,
            format!("no request {} of yours", request.id),
        ));
    }
    let access = match (request.state, &request.access) {
        (State::Approved, Some(access)) if access.ends_at > now => access,
        (State::Approved, _) => {
            return Err(Refusal::new(
                ErrorCode::NotApproved,
                "the access window of this request has ended",
            ));
        }
        (state, _) => {
            return Err(Refusal::new(
                ErrorCode::NotApproved,
                format!("certificates are issued for approved requests; this one is {state}"),
            ));
        }
    };
    let granted: Vec<_> = request
        .granted_roles
        .iter()
        .filter_map(|name| roles.get(name))
        .collect();
    let principals = logins(&granted, user);
    if principals.is_empty() {
        return Err(Refusal::new(
            ErrorCode::NoLogins,
            format!(
                "the granted roles ({}) name no logins for you (spec.allow.logins)",
                request.granted_roles.join(", ")
            ),
        ));
    }
    Ok(IssuePlan {
        key_id: format!("countersign/{}/{}", request.user, request.id),
        principals,
        extensions: permissions(&granted).extensions(),
        valid_after: (now.timestamp() - SKEW_SECS).max(0),
        valid_before: access.ends_at.timestamp(),
    })
}

impl IssuePlan {
    /// Signs the certificate: `ssh-…-cert-v01@openssh.com AAAA…`.
    pub fn sign(&self, ca: &UserCa, subject: &SubjectKey, serial: u64) -> Result<String, String> {
        let unix = |t: i64| u64::try_from(t).map_err(|_| format!("time {t} is before 1970"));
        let mut builder = Builder::new_with_random_nonce(
            &mut OsRng,
            subject.key.key_data().clone(),
            unix(self.valid_after)?,
            unix(self.valid_before)?,
        )
        .map_err(|e| e.to_string())?;
        builder
            .serial(serial)
            .and_then(|b| b.key_id(self.key_id.clone()))
            .and_then(|b| b.cert_type(CertType::User))
            .map_err(|e| e.to_string())?;
        for principal in &self.principals {
            builder
                .valid_principal(principal.clone())
                .map_err(|e| e.to_string())?;
        }
        for extension in &self.extensions {
            builder
                .extension(*extension, "")
                .map_err(|e| e.to_string())?;
        }
        let cert = builder.sign(ca.key()).map_err(|e| e.to_string())?;
        cert.to_openssh().map_err(|e| e.to_string())
    }
}
