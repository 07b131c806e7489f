//! Who may do what, and the record of what was done.
//!
//! **Owns:** organisations (the org tree), users and their posts, roles,
//! authentication (argon2id passwords, lockout, API tokens, cookie sessions
//! with idle and absolute timeouts and a CSRF token), data scopes
//! that become row filters and column sensitivity that becomes masking —
//! joined in one function, [`access::effective_access`], that every data path
//! calls — change requests with four-eyes approval, and the append-only,
//! hash-chained audit log, and the casbin policy for menus, apps, datasets
//! and admin actions ([`policy`]: kept in the platform store, evaluated in
//! memory, reloaded on every host when its version moves).
//!
//! **Must not know:** wasmtime, HTTP, how data is stored in the warehouse.

pub mod access;
pub mod audit;
pub mod change;
pub mod identity;
pub mod org;
pub mod policy;
pub mod scope;
pub mod session;

pub use audit::{
    Anchor, AuditAction, AuditError, AuditFilter, AuditLog, BreakKind, Entry as AuditEntry,
    NewEntry as NewAuditEntry, Outcome as AuditOutcome, VerifyReport,
};
pub use change::{
    ApplierSet, ChangeApplier, ChangeError, ChangeFilter, ChangeKind, ChangeKindName,
    ChangeRequest, ChangeRequests, ChangeState,
};
pub use policy::{MenuNode, Policy, PolicyError};
pub use session::{NewSession, Session, SessionConfig, SessionError, Sessions};
