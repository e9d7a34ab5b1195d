//! Approval becomes access (DESIGN §9): the broker's SSH user CA, the certificates
//! it issues for approved requests, and the KRL that ends returned or revoked ones.

pub mod api;
mod ca;
mod issue;
pub mod krl;

pub use ca::{CA_FILE, UserCa};
pub use issue::{IssuePlan, SubjectKey, plan};
