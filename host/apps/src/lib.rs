//! Micro-apps as the host holds them: packages, manifests, department
//! signing keys, and the registry with its review workflow.
//!
//! **Owns:** the `app.toml` format, the `.zyapp` package format and its
//! signature, the key files, and the registry's tables and state machine
//! (through `zhiyun-store`). **Must not know:** HTTP (the server maps
//! [`RegistryError`] to status codes), wasmtime (the runtime crate runs
//! components; the registry stores its `ComponentInfo` as opaque JSON), or
//! SQL dialects (the store's migrations own the schema on both backends).
//!
//! - [`manifest`]: the `app.toml` manifest, parsed into a validated
//!   [`Manifest`] with precise errors (file, dotted field path, line and
//!   column).
//! - [`package`]: the one-file package format `<id>-<version>.zyapp` (a
//!   gzip tar of `app.toml`, `app.wasm`, `SHA256SUMS` and an optional
//!   `SIGNATURE`): [`pack`] / [`pack_signed`] and the verifying reader
//!   [`Package`].
//! - [`signing`]: department keys (ed25519), their key files, package
//!   signatures.
//! - [`registry`]: the app registry in the platform store — submission,
//!   review (approve / reject, never one's own), publish, suspend, resume,
//!   offline, rollback, history — and what may be launched.
//! - [`scaffold`]: new app projects from the embedded templates.
//! - [`cron`]: the five-field cron expressions of `[schedule]`.
//!
//! Nothing here runs an app: the runtime crate does, from the component bytes
//! a verified [`Package`] (or [`Registry::launchable`]) hands it. Nothing
//! here speaks HTTP or knows wasmtime; the registry knows the store only
//! through `zhiyun-store`'s pool.

pub mod cron;
pub mod manifest;
pub mod package;
pub mod registry;
pub mod scaffold;
pub mod signing;

pub use cron::CronSchedule;
pub use manifest::{
    AppName, DatasetDecl, HostLimits, Limits, MANIFEST_FILE, Manifest, ManifestError,
    ParameterDecl, Position, Schedule,
};
pub use package::{
    COMPONENT_FILE, PACKAGE_EXTENSION, Package, PackageError, PackedPackage, SIGNATURE_FILE,
    SUMS_FILE, check_component, pack, pack_bytes, pack_bytes_signed, pack_signed, sha256_hex,
};
pub use registry::{
    AppEvent, AppSummary, DepartmentKey, FieldChange, ManifestDiff, Registry, RegistryError,
    Review, VersionRecord, VersionState,
};
pub use scaffold::{ScaffoldError, new_project};
pub use signing::{
    KeyError, PublicKey, SecretKey, generate_key, parse_public_key, read_public_key,
    read_secret_key,
};
