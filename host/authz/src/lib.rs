//! Who may do what, and the record of what was done.
//!
//! **Owns:** organisations (the org tree), users and their posts, roles,
//! authentication (argon2id passwords, lockout, API tokens), data scopes
//! that become row filters and column sensitivity that becomes masking —
//! joined in one function, [`access::effective_access`], that every data path
//! calls — change requests with four-eyes approval, and the append-only,
//! hash-chained audit log. Not here yet: cookie sessions and the casbin
//! policy for menus, apps and admin actions (the server still uses its
//! interim `auth.rs`).
//!
//! **Must not know:** wasmtime, HTTP, how data is stored in the warehouse.

pub mod access;
pub mod audit;
pub mod change;
pub mod identity;
pub mod org;
pub mod scope;

pub use audit::{
    Anchor, AuditAction, AuditError, AuditFilter, AuditLog, BreakKind, Entry as AuditEntry,
    NewEntry as NewAuditEntry, Outcome as AuditOutcome, VerifyReport,
};
pub use change::{
    ApplierSet, ChangeApplier, ChangeError, ChangeFilter, ChangeKind, ChangeKindName,
    ChangeRequest, ChangeRequests, ChangeState,
};
