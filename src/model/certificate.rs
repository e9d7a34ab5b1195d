//! SSH user certificates issued for approved requests (DESIGN §9).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Time;

/// A certificate as issued: the OpenSSH text and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Certificate {
    /// `ssh-ed25519-cert-v01@openssh.com AAAA…`, ready to write to `<key>-cert.pub`.
    pub certificate: String,
    pub serial: u64,
    /// `countersign/<user>/<request-id>`.
    pub key_id: String,
    pub principals: Vec<String>,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub valid_after: Time,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub valid_before: Time,
    pub request_id: Uuid,
    /// The SHA256 fingerprint of the certified public key (`SHA256:…`).
    pub fingerprint: String,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub issued_at: Time,
}

/// One certificate of a request as `request show` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    pub serial: u64,
    pub key_id: String,
    pub principals: Vec<String>,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub valid_after: Time,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub valid_before: Time,
    pub fingerprint: String,
    #[serde(deserialize_with = "super::time::deserialize")]
    pub issued_at: Time,
    /// In the KRL: its request was returned or revoked before the certificate expired.
    pub revoked: bool,
}

/// `GET /v1/requests/{id}/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateList {
    pub certificates: Vec<CertificateSummary>,
}

/// `POST /v1/requests/{id}/certificate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueCertificate {
    /// One line of a `.pub` file: `ssh-ed25519 AAAA… comment`.
    pub public_key: String,
}

/// `POST /v1/requests/{id}/revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    #[serde(default)]
    pub reason: String,
}
