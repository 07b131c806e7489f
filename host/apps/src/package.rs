//! The package file: one `<id>-<version>.zyapp` per app version.
//!
//! A package is a gzip-compressed tar holding three regular files and an
//! optional fourth:
//!
//! | entry        | what                                                        |
//! |--------------|-------------------------------------------------------------|
//! | `app.toml`   | the manifest (≤ 64 KiB)                                     |
//! | `app.wasm`   | the component, built for `wasm32-wasip2` (≤ 64 MiB)         |
//! | `SHA256SUMS` | sha256 of `app.toml` and `app.wasm`, in `sha256sum` format  |
//! | `SIGNATURE`  | optional: `ed25519 <key-id> <base64 signature>`, one line   |
//!
//! The signature is an ed25519 signature by a department key (see
//! [`crate::signing`]) over the exact bytes of the `SHA256SUMS` entry, which
//! in turn covers `app.toml` and `app.wasm`. Reading a package only parses
//! it; checking it against the registered public key is the registry's job
//! ([`crate::signing::verify`]).
//!
//! [`pack`] / [`pack_signed`] write one reproducibly (fixed mtimes, modes and
//! owners; ed25519 signatures are deterministic);
//! [`Package::from_bytes`] / [`Package::read`] accept one only after checking
//! its structure, the sums, the component header and the manifest. Reading
//! never decompresses more than the caps allow, whatever the archive claims.

use crate::manifest::{MANIFEST_FILE, MAX_MANIFEST_BYTES, Manifest, ManifestError};
use crate::signing::{self, SecretKey};
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The package file extension (without the dot).
pub const PACKAGE_EXTENSION: &str = "zyapp";
/// The component's file name inside a package.
pub const COMPONENT_FILE: &str = "app.wasm";
/// The checksum file's name inside a package.
pub const SUMS_FILE: &str = "SHA256SUMS";
/// The largest component accepted, in bytes.
pub const MAX_COMPONENT_BYTES: u64 = 64 * 1024 * 1024;
/// The largest `SHA256SUMS` accepted, in bytes.
pub const MAX_SUMS_BYTES: u64 = 4 * 1024;
/// The signature file's name inside a package (optional entry).
pub const SIGNATURE_FILE: &str = "SIGNATURE";
/// The largest `SIGNATURE` accepted, in bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 1024;
/// The largest package file accepted, in bytes (compressed).
pub const MAX_PACKAGE_BYTES: u64 = MAX_COMPONENT_BYTES + MAX_MANIFEST_BYTES + 1024 * 1024;
/// The most bytes read out of the gzip stream: the three files plus tar
/// headers and padding. Anything bigger is a decompression bomb or not ours.
const MAX_DECOMPRESSED_BYTES: u64 =
    MAX_COMPONENT_BYTES + MAX_MANIFEST_BYTES + MAX_SUMS_BYTES + MAX_SIGNATURE_BYTES + 64 * 1024;

/// `\0asm`
const WASM_MAGIC: [u8; 4] = *b"\0asm";
/// The component-model binary version this host reads (`0x0d`), layer 1.
const COMPONENT_VERSION: [u8; 2] = [0x0d, 0x00];
const COMPONENT_LAYER: [u8; 2] = [0x01, 0x00];

/// Why a package could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{path}: {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{what} is {size} bytes; the limit is {limit} bytes")]
    TooLarge { what: String, size: u64, limit: u64 },
    #[error("not a zhiyun package: {0}")]
    NotGzip(&'static str),
    #[error("the package is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the package decompresses to more than {limit} bytes; a package holds at most a 64 MiB component and a 64 KiB manifest (decompression bomb?)"
    )]
    DecompressedTooLarge { limit: u64 },
    #[error("the package entry `{name}` tries to leave the package (absolute path or `..`)")]
    PathTraversal { name: String },
    #[error(
        "the package entry `{name}` is a {kind}; a package holds only the regular files app.toml, app.wasm, SHA256SUMS and optionally SIGNATURE"
    )]
    NotRegularFile { name: String, kind: String },
    #[error(
        "the package has an unexpected entry `{name}`; a package holds exactly app.toml, app.wasm, SHA256SUMS and optionally SIGNATURE"
    )]
    UnexpectedEntry { name: String },
    #[error("the package has `{name}` twice")]
    DuplicateEntry { name: String },
    #[error("the package has no `{name}`")]
    MissingEntry { name: &'static str },
    #[error("`{name}` in the package is {size} bytes; the limit is {limit} bytes")]
    EntryTooLarge { name: String, size: u64, limit: u64 },
    #[error("SHA256SUMS line {line}: {message}")]
    BadSums { line: usize, message: String },
    #[error(
        "checksum mismatch for `{file}`: SHA256SUMS says {expected}, the file hashes to {actual} (the package was altered or damaged)"
    )]
    ChecksumMismatch {
        file: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{what} is not a WebAssembly binary (it does not start with \\0asm)")]
    NotWasm { what: String },
    #[error(
        "{what} is a core WebAssembly module, not a component; it must be a component built for wasm32-wasip2 (cargo build --release --target wasm32-wasip2)"
    )]
    CoreModule { what: String },
    #[error(
        "{what} is a WebAssembly component of binary version {version:#06x}, layer {layer}; this host reads components of version 0x000d, layer 1"
    )]
    UnsupportedComponent {
        what: String,
        version: u16,
        layer: u16,
    },
    #[error("app.toml in the package is not UTF-8 text")]
    ManifestNotUtf8,
    #[error("SIGNATURE in the package is malformed: {0}")]
    BadSignatureEntry(String),
    #[error(
        "the key `{key_id}` belongs to the department {key_department}, but the manifest's department is {manifest_department}; sign with a key of {manifest_department}"
    )]
    KeyDepartmentMismatch {
        key_id: String,
        key_department: String,
        manifest_department: String,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

type Result<T, E = PackageError> = std::result::Result<T, E>;

/// What [`pack`] wrote.
#[derive(Debug, Clone)]
pub struct PackedPackage {
    /// The package file, `<out_dir>/<id>-<version>.zyapp`.
    pub path: PathBuf,
    /// sha256 of the component, lowercase hex.
    pub component_sha256: String,
    /// Size of the package file in bytes.
    pub size: u64,
    pub manifest: Manifest,
}

/// A verified package (structure, sums, component header, manifest; the
/// signature, if any, is parsed but not checked against a key).
#[derive(Debug, Clone)]
pub struct Package {
    manifest: Manifest,
    manifest_text: String,
    component: Vec<u8>,
    component_sha256: String,
    manifest_sha256: String,
    /// The `SHA256SUMS` entry exactly as packed (what the signature covers).
    sums: Vec<u8>,
    signature: Option<(String, [u8; 64])>,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks that `bytes` is a WebAssembly component this host can load (by
/// its preamble; the runtime validates the rest). `what` names it in errors.
pub fn check_component(bytes: &[u8], what: &str) -> Result<()> {
    if bytes.len() < 8 || bytes[..4] != WASM_MAGIC {
        return Err(PackageError::NotWasm {
            what: what.to_string(),
        });
    }
    let version = [bytes[4], bytes[5]];
    let layer = [bytes[6], bytes[7]];
    if layer == [0, 0] {
        return Err(PackageError::CoreModule {
            what: what.to_string(),
        });
    }
    if layer != COMPONENT_LAYER || version != COMPONENT_VERSION {
        return Err(PackageError::UnsupportedComponent {
            what: what.to_string(),
            version: u16::from_le_bytes(version),
            layer: u16::from_le_bytes(layer),
        });
    }
    Ok(())
}

fn read_capped(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>> {
    let io = |action, source| PackageError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let meta = std::fs::metadata(path).map_err(|e| io("cannot read", e))?;
    if meta.len() > limit {
        return Err(PackageError::TooLarge {
            what: format!("{what} {}", path.display()),
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path)
        .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
        .map_err(|e| io("cannot read", e))?;
    if bytes.len() as u64 > limit {
        return Err(PackageError::TooLarge {
            what: format!("{what} {}", path.display()),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Builds the package bytes from a manifest's text and a component, after
/// validating both. `manifest_file` names the manifest in errors.
pub fn pack_bytes(manifest_text: &str, manifest_file: &str, component: &[u8]) -> Result<Vec<u8>> {
    pack_bytes_with(manifest_text, manifest_file, component, None)
}

/// [`pack_bytes`], signed with a department key. The key's department must
/// be the manifest's.
pub fn pack_bytes_signed(
    manifest_text: &str,
    manifest_file: &str,
    component: &[u8],
    key: &SecretKey,
) -> Result<Vec<u8>> {
    pack_bytes_with(manifest_text, manifest_file, component, Some(key))
}

fn pack_bytes_with(
    manifest_text: &str,
    manifest_file: &str,
    component: &[u8],
    key: Option<&SecretKey>,
) -> Result<Vec<u8>> {
    if manifest_text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(PackageError::TooLarge {
            what: format!("the manifest {manifest_file}"),
            size: manifest_text.len() as u64,
            limit: MAX_MANIFEST_BYTES,
        });
    }
    if component.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(PackageError::TooLarge {
            what: "the component".into(),
            size: component.len() as u64,
            limit: MAX_COMPONENT_BYTES,
        });
    }
    let manifest = Manifest::parse(manifest_text, manifest_file)?;
    check_component(component, "the component")?;
    let sums = format!(
        "{}  {MANIFEST_FILE}\n{}  {COMPONENT_FILE}\n",
        sha256_hex(manifest_text.as_bytes()),
        sha256_hex(component)
    );
    let signature = match key {
        Some(key) => {
            if key.department != manifest.department {
                return Err(PackageError::KeyDepartmentMismatch {
                    key_id: key.key_id.clone(),
                    key_department: key.department.clone(),
                    manifest_department: manifest.department.clone(),
                });
            }
            Some(signing::signature_entry(
                &key.key_id,
                &key.sign(sums.as_bytes()),
            ))
        }
        None => None,
    };
    Ok(build_package(
        manifest_text.as_bytes(),
        component,
        sums.as_bytes(),
        signature.as_deref().map(str::as_bytes),
    ))
}

fn build_package(
    manifest: &[u8],
    component: &[u8],
    sums: &[u8],
    signature: Option<&[u8]>,
) -> Vec<u8> {
    let mut entries = vec![
        (MANIFEST_FILE, manifest),
        (COMPONENT_FILE, component),
        (SUMS_FILE, sums),
    ];
    if let Some(signature) = signature {
        entries.push((SIGNATURE_FILE, signature));
    }
    build_archive(&entries)
}

/// A gzip tar of regular files with fixed metadata (reproducible).
fn build_archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        tar.append_data(&mut header, name, *data)
            .expect("writing to memory cannot fail");
    }
    let gz = tar.into_inner().expect("writing to memory cannot fail");
    gz.finish().expect("writing to memory cannot fail")
}

/// Packs `manifest_path` and `component_path` into
/// `<out_dir>/<id>-<version>.zyapp` (written atomically; `out_dir` is
/// created if missing).
pub fn pack(manifest_path: &Path, component_path: &Path, out_dir: &Path) -> Result<PackedPackage> {
    pack_with(manifest_path, component_path, out_dir, None)
}

/// [`pack`], signed with a department key (see [`crate::signing`]). The
/// key's department must be the manifest's.
pub fn pack_signed(
    manifest_path: &Path,
    component_path: &Path,
    out_dir: &Path,
    key: &SecretKey,
) -> Result<PackedPackage> {
    pack_with(manifest_path, component_path, out_dir, Some(key))
}

fn pack_with(
    manifest_path: &Path,
    component_path: &Path,
    out_dir: &Path,
    key: Option<&SecretKey>,
) -> Result<PackedPackage> {
    let manifest_bytes = read_capped(manifest_path, MAX_MANIFEST_BYTES, "the manifest")?;
    let manifest_file = manifest_path.display().to_string();
    let manifest_text = String::from_utf8(manifest_bytes).map_err(|_| ManifestError {
        file: manifest_file.clone(),
        field: None,
        position: None,
        message: "is not UTF-8 text".into(),
    })?;
    let manifest = Manifest::parse(&manifest_text, &manifest_file)?;
    let component = read_capped(component_path, MAX_COMPONENT_BYTES, "the component")?;
    check_component(&component, &component_path.display().to_string())?;
    let bytes = pack_bytes_with(&manifest_text, &manifest_file, &component, key)?;

    std::fs::create_dir_all(out_dir).map_err(|source| PackageError::Io {
        path: out_dir.to_path_buf(),
        action: "cannot create the output directory",
        source,
    })?;
    let path = out_dir.join(manifest.package_file_name());
    let tmp = out_dir.join(format!(".{}.tmp", manifest.package_file_name()));
    let write = || -> io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(source) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(PackageError::Io {
            path,
            action: "cannot write the package",
            source,
        });
    }
    Ok(PackedPackage {
        path,
        component_sha256: sha256_hex(&component),
        size: bytes.len() as u64,
        manifest,
    })
}

/// Counts bytes through the gzip decoder and fails once past the cap.
struct Capped<'a, R> {
    inner: R,
    remaining: u64,
    tripped: &'a Cell<bool>,
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            // One probe byte decides between "exactly at the cap" and "over".
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.tripped.set(true);
            return Err(io::Error::other("decompressed size cap exceeded"));
        }
        let n = buf
            .len()
            .min(self.remaining.min(usize::MAX as u64) as usize);
        let read = self.inner.read(&mut buf[..n])?;
        self.remaining -= read as u64;
        Ok(read)
    }
}

fn entry_kind(t: tar::EntryType) -> String {
    match t {
        tar::EntryType::Directory => "directory".into(),
        tar::EntryType::Symlink => "symbolic link".into(),
        tar::EntryType::Link => "hard link".into(),
        tar::EntryType::Char => "character device".into(),
        tar::EntryType::Block => "block device".into(),
        tar::EntryType::Fifo => "FIFO".into(),
        other => format!("non-regular entry (tar type {:?})", other.as_byte() as char),
    }
}

fn is_traversal(name: &str) -> bool {
    name.starts_with('/')
        || name.starts_with('\\')
        || name.split(['/', '\\']).any(|part| part == "..")
        || name.as_bytes().get(1) == Some(&b':')
}

impl Package {
    /// Reads and verifies a package file.
    pub fn read(path: &Path) -> Result<Package> {
        let bytes = read_capped(path, MAX_PACKAGE_BYTES, "the package")?;
        Self::from_bytes(&bytes)
    }

    /// Verifies a package: gzip tar with exactly the three entries, no links
    /// or traversal, sizes within the caps, sums matching, a component
    /// inside, and a valid manifest.
    pub fn from_bytes(bytes: &[u8]) -> Result<Package> {
        if bytes.len() as u64 > MAX_PACKAGE_BYTES {
            return Err(PackageError::TooLarge {
                what: "the package".into(),
                size: bytes.len() as u64,
                limit: MAX_PACKAGE_BYTES,
            });
        }
        if !bytes.starts_with(&[0x1f, 0x8b]) {
            return Err(PackageError::NotGzip(if bytes.starts_with(&WASM_MAGIC) {
                "this is a bare WebAssembly file; make a package with `zhiyun app pack`"
            } else if bytes.len() > 262 && &bytes[257..262] == b"ustar" {
                "this is an uncompressed tar; a package is a gzip-compressed tar made by `zhiyun app pack`"
            } else {
                "the file is not gzip-compressed; a package is a gzip-compressed tar made by `zhiyun app pack`"
            }));
        }

        let tripped = Cell::new(false);
        let mut manifest: Option<Vec<u8>> = None;
        let mut component: Option<Vec<u8>> = None;
        let mut sums: Option<Vec<u8>> = None;
        let mut signature: Option<Vec<u8>> = None;
        let result = (|| -> Result<()> {
            let reader = Capped {
                inner: flate2::read::GzDecoder::new(bytes),
                remaining: MAX_DECOMPRESSED_BYTES,
                tripped: &tripped,
            };
            let mut archive = tar::Archive::new(reader);
            let corrupt = |e: io::Error| PackageError::Corrupt(e.to_string());
            for entry in archive.entries().map_err(corrupt)? {
                let mut entry = entry.map_err(corrupt)?;
                let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                if is_traversal(&raw_name) {
                    return Err(PackageError::PathTraversal { name: raw_name });
                }
                let name = raw_name.strip_prefix("./").unwrap_or(&raw_name).to_string();
                let entry_type = entry.header().entry_type();
                let (slot, limit) = match name.as_str() {
                    MANIFEST_FILE => (&mut manifest, MAX_MANIFEST_BYTES),
                    COMPONENT_FILE => (&mut component, MAX_COMPONENT_BYTES),
                    SUMS_FILE => (&mut sums, MAX_SUMS_BYTES),
                    SIGNATURE_FILE => (&mut signature, MAX_SIGNATURE_BYTES),
                    _ if !entry_type.is_file() => {
                        return Err(PackageError::NotRegularFile {
                            name: raw_name,
                            kind: entry_kind(entry_type),
                        });
                    }
                    _ => return Err(PackageError::UnexpectedEntry { name: raw_name }),
                };
                if !entry_type.is_file() {
                    return Err(PackageError::NotRegularFile {
                        name: raw_name,
                        kind: entry_kind(entry_type),
                    });
                }
                if slot.is_some() {
                    return Err(PackageError::DuplicateEntry { name });
                }
                let size = entry.header().size().map_err(corrupt)?;
                if size > limit {
                    return Err(PackageError::EntryTooLarge { name, size, limit });
                }
                let mut data = Vec::with_capacity(size as usize);
                (&mut entry)
                    .take(limit + 1)
                    .read_to_end(&mut data)
                    .map_err(corrupt)?;
                if data.len() as u64 > limit {
                    return Err(PackageError::EntryTooLarge {
                        name,
                        size: data.len() as u64,
                        limit,
                    });
                }
                *slot = Some(data);
            }
            Ok(())
        })();
        if tripped.get() {
            return Err(PackageError::DecompressedTooLarge {
                limit: MAX_DECOMPRESSED_BYTES,
            });
        }
        result?;

        let manifest = manifest.ok_or(PackageError::MissingEntry {
            name: MANIFEST_FILE,
        })?;
        let component = component.ok_or(PackageError::MissingEntry {
            name: COMPONENT_FILE,
        })?;
        let sums = sums.ok_or(PackageError::MissingEntry { name: SUMS_FILE })?;
        let signature = signature
            .map(|bytes| signing::parse_signature_entry(&bytes))
            .transpose()
            .map_err(PackageError::BadSignatureEntry)?;

        let expected = parse_sums(&sums)?;
        let manifest_sha256 = sha256_hex(&manifest);
        let component_sha256 = sha256_hex(&component);
        for (file, actual) in [
            (MANIFEST_FILE, &manifest_sha256),
            (COMPONENT_FILE, &component_sha256),
        ] {
            let want = expected
                .iter()
                .find(|(f, _)| *f == file)
                .map(|(_, h)| h.clone())
                .expect("parse_sums requires both files");
            if &want != actual {
                return Err(PackageError::ChecksumMismatch {
                    file,
                    expected: want,
                    actual: actual.clone(),
                });
            }
        }

        check_component(&component, "app.wasm in the package")?;
        let manifest_text =
            String::from_utf8(manifest).map_err(|_| PackageError::ManifestNotUtf8)?;
        let manifest = Manifest::parse(&manifest_text, "app.toml (in the package)")?;
        Ok(Package {
            manifest,
            manifest_text,
            component,
            component_sha256,
            manifest_sha256,
            sums,
            signature,
        })
    }

    /// The `SHA256SUMS` entry exactly as packed: the bytes a signature
    /// covers.
    pub fn sums(&self) -> &[u8] {
        &self.sums
    }

    /// The signature, if the package is signed: the key id and the ed25519
    /// signature over [`Package::sums`]. Not yet checked against any key.
    pub fn signature(&self) -> Option<(&str, [u8; 64])> {
        self.signature
            .as_ref()
            .map(|(key_id, sig)| (key_id.as_str(), *sig))
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The manifest exactly as packed.
    pub fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// The component bytes.
    pub fn component(&self) -> &[u8] {
        &self.component
    }

    /// sha256 of the component, lowercase hex.
    pub fn component_sha256(&self) -> &str {
        &self.component_sha256
    }

    /// sha256 of `app.toml`, lowercase hex.
    pub fn manifest_sha256(&self) -> &str {
        &self.manifest_sha256
    }

    /// The package's file name, `<id>-<version>.zyapp`.
    pub fn file_name(&self) -> String {
        self.manifest.package_file_name()
    }

    /// Takes the component out without copying it.
    pub fn into_component(self) -> Vec<u8> {
        self.component
    }

    /// The package bytes again, with the same entries (for a package
    /// [`pack`] or [`pack_signed`] made, the same bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let signature = self
            .signature
            .as_ref()
            .map(|(key_id, sig)| signing::signature_entry(key_id, sig));
        build_package(
            self.manifest_text.as_bytes(),
            &self.component,
            &self.sums,
            signature.as_deref().map(str::as_bytes),
        )
    }
}

/// Parses `SHA256SUMS`: one `<64 hex>  <file>` (or `<hex> *<file>`) line for
/// each of app.toml and app.wasm, nothing else.
fn parse_sums(bytes: &[u8]) -> Result<Vec<(&'static str, String)>> {
    let text = std::str::from_utf8(bytes).map_err(|_| PackageError::BadSums {
        line: 1,
        message: "not UTF-8 text".into(),
    })?;
    let mut out: Vec<(&'static str, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let bad = |message: String| PackageError::BadSums {
            line: line_no,
            message,
        };
        if line.trim().is_empty() {
            continue;
        }
        let (hash, rest) = line
            .split_at_checked(64)
            .ok_or_else(|| bad(format!("`{line}` is not `<sha256 hex>  <file>`")))?;
        if !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("`{hash}` is not a sha256 in hex")));
        }
        let file = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(|| bad(format!("`{line}` is not `<sha256 hex>  <file>`")))?;
        let file = match file {
            MANIFEST_FILE => MANIFEST_FILE,
            COMPONENT_FILE => COMPONENT_FILE,
            other => {
                return Err(bad(format!(
                    "lists `{other}`; SHA256SUMS lists only app.toml and app.wasm"
                )));
            }
        };
        if out.iter().any(|(f, _)| *f == file) {
            return Err(bad(format!("lists `{file}` twice")));
        }
        out.push((file, hash.to_ascii_lowercase()));
    }
    for file in [MANIFEST_FILE, COMPONENT_FILE] {
        if !out.iter().any(|(f, _)| *f == file) {
            return Err(PackageError::BadSums {
                line: text.lines().count() + 1,
                message: format!("no checksum for `{file}`"),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
[app]
id = "demo-app"
version = "1.2.3"
kind = "report"
department = "财务部"

[app.name]
zh-CN = "演示"
en = "Demo"
"#;

    /// A minimal "component": the preamble is all `check_component` reads.
    fn component() -> Vec<u8> {
        let mut c = b"\0asm\x0d\x00\x01\x00".to_vec();
        c.extend_from_slice(&[7u8; 1000]);
        c
    }

    fn core_module() -> Vec<u8> {
        b"\0asm\x01\x00\x00\x00".to_vec()
    }

    fn good() -> Vec<u8> {
        pack_bytes(MANIFEST, "app.toml", &component()).unwrap()
    }

    fn sums_for(manifest: &[u8], component: &[u8]) -> String {
        format!(
            "{}  app.toml\n{}  app.wasm\n",
            sha256_hex(manifest),
            sha256_hex(component)
        )
    }

    /// An archive with arbitrary entries (name, type, data).
    fn raw_archive(entries: &[(&str, tar::EntryType, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_link_name("/etc/passwd").unwrap();
            }
            // Write the name bytes directly so that `..` and absolute paths
            // (which `set_path` refuses) can be tested.
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            tar.append(&h, *data).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    fn regular(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let e: Vec<_> = entries
            .iter()
            .map(|(n, d)| (*n, tar::EntryType::Regular, *d))
            .collect();
        raw_archive(&e)
    }

    #[test]
    fn round_trip() {
        let bytes = good();
        let p = Package::from_bytes(&bytes).unwrap();
        assert_eq!(p.manifest().id, "demo-app");
        assert_eq!(p.manifest_text(), MANIFEST);
        assert_eq!(p.component(), component().as_slice());
        assert_eq!(p.component_sha256(), sha256_hex(&component()));
        assert_eq!(p.file_name(), "demo-app-1.2.3.zyapp");
        // Reproducible.
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(good(), bytes);
    }

    fn key(department: &str) -> crate::signing::SecretKey {
        crate::signing::generate_secret_key("fin-1", department).unwrap()
    }

    #[test]
    fn signed_round_trip() {
        let k = key("财务部");
        let bytes = pack_bytes_signed(MANIFEST, "app.toml", &component(), &k).unwrap();
        let p = Package::from_bytes(&bytes).unwrap();
        let (key_id, sig) = p.signature().expect("signed");
        assert_eq!(key_id, "fin-1");
        crate::signing::verify(&k.public_key().to_bytes(), p.sums(), &sig).unwrap();
        // The signature covers the sums, which cover both files.
        assert_eq!(
            p.sums(),
            sums_for(MANIFEST.as_bytes(), &component()).as_bytes()
        );
        // Reproducible (ed25519 is deterministic), and to_bytes keeps it.
        assert_eq!(p.to_bytes(), bytes);
        assert_eq!(
            pack_bytes_signed(MANIFEST, "app.toml", &component(), &k).unwrap(),
            bytes
        );
        // Unsigned packages have none.
        assert!(Package::from_bytes(&good()).unwrap().signature().is_none());
    }

    #[test]
    fn pack_signed_refuses_another_departments_key() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("app.toml");
        let c = dir.path().join("app.wasm");
        std::fs::write(&m, MANIFEST).unwrap();
        std::fs::write(&c, component()).unwrap();
        let e = pack_signed(&m, &c, dir.path(), &key("业务运营部")).unwrap_err();
        assert!(
            matches!(e, PackageError::KeyDepartmentMismatch { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("业务运营部"), "{e}");
        let packed = pack_signed(&m, &c, &dir.path().join("out"), &key("财务部")).unwrap();
        let p = Package::read(&packed.path).unwrap();
        assert_eq!(p.signature().unwrap().0, "fin-1");
    }

    #[test]
    fn malformed_signature_entry_is_rejected() {
        let c = component();
        let sums = sums_for(MANIFEST.as_bytes(), &c);
        for (sig, want) in [
            (&b"ed25519 fin"[..], "is not `ed25519"),
            (b"rsa fin AAAA", "only ed25519"),
            (b"ed25519 fin AAAA", "64"),
        ] {
            let bytes = regular(&[
                ("app.toml", MANIFEST.as_bytes()),
                ("app.wasm", &c),
                ("SHA256SUMS", sums.as_bytes()),
                ("SIGNATURE", sig),
            ]);
            let e = Package::from_bytes(&bytes).unwrap_err();
            assert!(matches!(e, PackageError::BadSignatureEntry(_)), "{e}");
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
        // Too big to be a signature.
        let big = vec![b'a'; 2048];
        let bytes = regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
            ("SIGNATURE", &big),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(matches!(e, PackageError::EntryTooLarge { .. }), "{e}");
    }

    #[test]
    fn pack_writes_the_file_and_read_verifies_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("app.toml");
        let c = dir.path().join("app.wasm");
        std::fs::write(&m, MANIFEST).unwrap();
        std::fs::write(&c, component()).unwrap();
        let out = dir.path().join("dist");
        let packed = pack(&m, &c, &out).unwrap();
        assert_eq!(packed.path, out.join("demo-app-1.2.3.zyapp"));
        assert_eq!(packed.component_sha256, sha256_hex(&component()));
        assert_eq!(packed.size, std::fs::metadata(&packed.path).unwrap().len());
        let p = Package::read(&packed.path).unwrap();
        assert_eq!(p.manifest().version.to_string(), "1.2.3");

        // The sums file is what `sha256sum -c` reads.
        let listing = std::fs::read_dir(&out).unwrap().count();
        assert_eq!(listing, 1, "no temporary file left behind");
    }

    #[test]
    fn pack_refuses_a_core_module_and_a_bad_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("app.toml");
        let c = dir.path().join("app.wasm");
        std::fs::write(&m, MANIFEST).unwrap();
        std::fs::write(&c, core_module()).unwrap();
        let e = pack(&m, &c, dir.path()).unwrap_err();
        assert!(matches!(e, PackageError::CoreModule { .. }), "{e}");
        assert!(e.to_string().contains("wasm32-wasip2"), "{e}");

        std::fs::write(&c, component()).unwrap();
        std::fs::write(&m, MANIFEST.replace("1.2.3", "1.2")).unwrap();
        let e = pack(&m, &c, dir.path()).unwrap_err();
        let PackageError::Manifest(me) = &e else {
            panic!("{e}")
        };
        assert_eq!(me.field.as_deref(), Some("app.version"));
        assert!(e.to_string().contains(&m.display().to_string()), "{e}");
    }

    #[test]
    fn not_gzip_is_rejected() {
        let e = Package::from_bytes(b"hello").unwrap_err();
        assert!(matches!(e, PackageError::NotGzip(_)), "{e}");
        assert!(e.to_string().contains("not gzip-compressed"), "{e}");
        let e = Package::from_bytes(&component()).unwrap_err();
        assert!(e.to_string().contains("bare WebAssembly"), "{e}");
        // Gzip of something that is not a tar.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[1u8; 2000]).unwrap();
        let e = Package::from_bytes(&gz.finish().unwrap()).unwrap_err();
        assert!(matches!(e, PackageError::Corrupt(_)), "{e}");
        // Truncated gzip.
        let bytes = good();
        let e = Package::from_bytes(&bytes[..bytes.len() / 2]).unwrap_err();
        assert!(matches!(e, PackageError::Corrupt(_)), "{e}");
    }

    #[test]
    fn extra_entry_is_rejected() {
        let c = component();
        let sums = sums_for(MANIFEST.as_bytes(), &c);
        let bytes = regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
            ("README.md", b"hi"),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(&e, PackageError::UnexpectedEntry { name } if name == "README.md"),
            "{e}"
        );
    }

    #[test]
    fn missing_and_duplicate_entries_are_rejected() {
        let c = component();
        let sums = sums_for(MANIFEST.as_bytes(), &c);
        let e = Package::from_bytes(&regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("SHA256SUMS", sums.as_bytes()),
        ]))
        .unwrap_err();
        assert!(
            matches!(e, PackageError::MissingEntry { name: "app.wasm" }),
            "{e}"
        );
        let e = Package::from_bytes(&regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &c),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
        ]))
        .unwrap_err();
        assert!(matches!(e, PackageError::DuplicateEntry { .. }), "{e}");
    }

    #[test]
    fn tampered_component_is_a_checksum_mismatch() {
        let c = component();
        let sums = sums_for(MANIFEST.as_bytes(), &c);
        let mut tampered = c.clone();
        tampered[100] ^= 0xff;
        let bytes = regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &tampered),
            ("SHA256SUMS", sums.as_bytes()),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                e,
                PackageError::ChecksumMismatch {
                    file: "app.wasm",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("`app.wasm`"), "{e}");

        let edited = MANIFEST.replace("演示", "改过");
        let bytes = regular(&[
            ("app.toml", edited.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(
                e,
                PackageError::ChecksumMismatch {
                    file: "app.toml",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn malformed_sums_are_rejected() {
        let c = component();
        for (sums, want) in [
            ("nonsense\n".to_string(), "line 1"),
            (
                format!("{}  app.toml\n", sha256_hex(MANIFEST.as_bytes())),
                "no checksum for `app.wasm`",
            ),
            (
                format!("{}  other.txt\n", sha256_hex(MANIFEST.as_bytes())),
                "lists `other.txt`",
            ),
        ] {
            let bytes = regular(&[
                ("app.toml", MANIFEST.as_bytes()),
                ("app.wasm", &c),
                ("SHA256SUMS", sums.as_bytes()),
            ]);
            let e = Package::from_bytes(&bytes).unwrap_err();
            assert!(matches!(e, PackageError::BadSums { .. }), "{e}");
            assert!(e.to_string().contains(want), "{e}");
        }
        // Binary-mode lines (`sha256sum -b`) are accepted.
        let sums = format!(
            "{} *app.toml\n{} *app.wasm\n",
            sha256_hex(MANIFEST.as_bytes()),
            sha256_hex(&c)
        );
        Package::from_bytes(&regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
        ]))
        .unwrap();
    }

    #[test]
    fn core_module_is_rejected_with_a_hint() {
        let c = core_module();
        let sums = sums_for(MANIFEST.as_bytes(), &c);
        let bytes = regular(&[
            ("app.toml", MANIFEST.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(matches!(e, PackageError::CoreModule { .. }), "{e}");
        assert!(e.to_string().contains("must be a component"), "{e}");
        assert!(e.to_string().contains("wasm32-wasip2"), "{e}");

        // The smallest component: the preamble alone.
        check_component(b"\0asm\x0d\x00\x01\x00", "x").unwrap();
        let e = check_component(b"\0asm\x0e\x00\x01\x00", "x").unwrap_err();
        assert!(
            matches!(e, PackageError::UnsupportedComponent { .. }),
            "{e}"
        );
        let e = check_component(b"MZ\x90\x00\x03\x00\x00\x00", "x").unwrap_err();
        assert!(matches!(e, PackageError::NotWasm { .. }), "{e}");
    }

    #[test]
    fn traversal_paths_are_rejected() {
        let c = component();
        for name in ["../app.toml", "/app.toml", "x/../../etc/passwd", "C:evil"] {
            let bytes = regular(&[(name, b"x"), ("app.wasm", &c)]);
            let e = Package::from_bytes(&bytes).unwrap_err();
            assert!(
                matches!(e, PackageError::PathTraversal { .. }),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn links_and_directories_are_rejected() {
        let bytes = raw_archive(&[("app.wasm", tar::EntryType::Symlink, b"")]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(
            matches!(&e, PackageError::NotRegularFile { kind, .. } if kind == "symbolic link"),
            "{e}"
        );
        let bytes = raw_archive(&[("app.toml", tar::EntryType::Link, b"")]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(matches!(e, PackageError::NotRegularFile { .. }), "{e}");
        let bytes = raw_archive(&[("lib/", tar::EntryType::Directory, b"")]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        assert!(matches!(e, PackageError::NotRegularFile { .. }), "{e}");
    }

    #[test]
    fn oversized_entries_are_rejected_on_their_header() {
        // The manifest entry claims 1 MiB: rejected before it is read.
        let big = vec![b'#'; 1024 * 1024];
        let e = Package::from_bytes(&regular(&[("app.toml", &big)])).unwrap_err();
        assert!(
            matches!(e, PackageError::EntryTooLarge { ref name, .. } if name == "app.toml"),
            "{e}"
        );
        // A header for app.wasm claiming 100 MiB, followed by compressed zeros.
        let mut header = tar::Header::new_ustar();
        header.set_path("app.wasm").unwrap();
        header.set_size(100 * 1024 * 1024);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(header.as_bytes()).unwrap();
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..100 {
            gz.write_all(&zeros).unwrap();
        }
        let e = Package::from_bytes(&gz.finish().unwrap()).unwrap_err();
        assert!(matches!(e, PackageError::EntryTooLarge { .. }), "{e}");
    }

    #[test]
    fn decompression_bomb_stops_at_the_cap() {
        // A GNU long-name entry is read whole by the tar reader before we see
        // the entry it names. This one claims 1 GiB; the 80 MiB written (past
        // the cap) compress to well under 1 MiB. The capped reader stops
        // inflating at the cap.
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_path("././@LongLink").unwrap();
        header.set_size(1024 * 1024 * 1024);
        header.set_cksum();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(header.as_bytes()).unwrap();
        let block = vec![b'a'; 1024 * 1024];
        for _ in 0..80 {
            gz.write_all(&block).unwrap();
        }
        let bomb = gz.finish().unwrap();
        assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
        let e = Package::from_bytes(&bomb).unwrap_err();
        assert!(
            matches!(e, PackageError::DecompressedTooLarge { .. }),
            "{e}"
        );
    }

    #[test]
    fn decompression_cap_trips() {
        // Direct test of the limiter.
        let tripped = Cell::new(false);
        let mut r = Capped {
            inner: &[1u8; 100][..],
            remaining: 10,
            tripped: &tripped,
        };
        let mut out = Vec::new();
        let e = r.read_to_end(&mut out).unwrap_err();
        assert_eq!(out.len(), 10);
        assert!(tripped.get());
        assert!(e.to_string().contains("cap"));
        let tripped = Cell::new(false);
        let mut r = Capped {
            inner: &[1u8; 10][..],
            remaining: 10,
            tripped: &tripped,
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert!(!tripped.get());
    }

    #[test]
    fn invalid_manifest_inside_a_package_is_reported() {
        let bad = MANIFEST.replace("kind = \"report\"", "kind = \"widget\"");
        let c = component();
        let sums = sums_for(bad.as_bytes(), &c);
        let bytes = regular(&[
            ("app.toml", bad.as_bytes()),
            ("app.wasm", &c),
            ("SHA256SUMS", sums.as_bytes()),
        ]);
        let e = Package::from_bytes(&bytes).unwrap_err();
        let PackageError::Manifest(me) = &e else {
            panic!("{e}")
        };
        assert_eq!(me.field.as_deref(), Some("app.kind"));
        assert!(
            e.to_string().starts_with("app.toml (in the package):"),
            "{e}"
        );
    }
}
