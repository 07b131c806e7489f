//! Department signing keys (ed25519) and package signatures.
//!
//! Each department that ships micro-apps holds a secret key; an administrator
//! registers its public half with the host (the registry's
//! `department_keys`). A package signed by that key carries a `SIGNATURE`
//! entry (see [`crate::package`]):
//!
//! ```text
//! ed25519 <key-id> <base64 of the 64-byte signature>
//! ```
//!
//! over the exact bytes of its `SHA256SUMS` entry, which covers `app.toml`
//! and `app.wasm`. The registry accepts a package only if the key is
//! registered, not revoked, belongs to the department the manifest names, and
//! the signature verifies.
//!
//! # Key files
//!
//! A secret key file (keep it private, mode 0600):
//!
//! ```text
//! zhiyun-key v1
//! key-id: finance-2026
//! department: 财务部
//! secret: <base64 of the 32-byte ed25519 seed>
//! ```
//!
//! and its public half, which is what an administrator registers:
//!
//! ```text
//! zhiyun-key v1
//! key-id: finance-2026
//! department: 财务部
//! public: <base64 of the 32-byte ed25519 public key>
//! ```
//!
//! A key id is 1–64 characters of ASCII letters, digits, `.`, `_` and `-`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::fmt;
use std::path::Path;

/// The first line of every key file.
pub const KEY_FILE_HEADER: &str = "zhiyun-key v1";

/// The signature algorithm named in `SIGNATURE`.
pub const ALGORITHM: &str = "ed25519";

/// The largest key file read, in bytes.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// What is wrong with a key file or a key id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct KeyError {
    /// The file (a path, or `public key` / `secret key` for text).
    pub file: String,
    pub message: String,
}

/// A department's secret signing key, as read from its key file.
#[derive(Clone)]
pub struct SecretKey {
    pub key_id: String,
    pub department: String,
    signing_key: SigningKey,
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("key_id", &self.key_id)
            .field("department", &self.department)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SecretKey {
    /// A key from its parts (the id is checked).
    pub fn new(
        key_id: &str,
        department: &str,
        signing_key: SigningKey,
    ) -> Result<SecretKey, KeyError> {
        check_key_id(key_id).map_err(|message| KeyError {
            file: "secret key".into(),
            message,
        })?;
        check_department(department).map_err(|message| KeyError {
            file: "secret key".into(),
            message,
        })?;
        Ok(SecretKey {
            key_id: key_id.to_string(),
            department: department.to_string(),
            signing_key,
        })
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing_key
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            key_id: self.key_id.clone(),
            department: self.department.clone(),
            key: self.signing_key.verifying_key(),
        }
    }

    /// Signs `message` (deterministic).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing_key.sign(message).to_bytes()
    }

    /// The secret key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "{KEY_FILE_HEADER}\nkey-id: {}\ndepartment: {}\nsecret: {}\n",
            self.key_id,
            self.department,
            BASE64.encode(self.signing_key.to_bytes())
        )
    }
}

/// A department's public key, as read from its `.pub` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    pub key_id: String,
    pub department: String,
    pub key: VerifyingKey,
}

impl PublicKey {
    /// The 32 raw bytes (what the registry stores).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The public key file's text.
    pub fn to_file_text(&self) -> String {
        format!(
            "{KEY_FILE_HEADER}\nkey-id: {}\ndepartment: {}\npublic: {}\n",
            self.key_id,
            self.department,
            BASE64.encode(self.key.to_bytes())
        )
    }
}

/// Generates a new key: `(secret key file text, public key file text)`.
pub fn generate_key(key_id: &str, department: &str) -> Result<(String, String), KeyError> {
    let key = generate_secret_key(key_id, department)?;
    Ok((key.to_file_text(), key.public_key().to_file_text()))
}

/// Generates a new key from the operating system's random source.
pub fn generate_secret_key(key_id: &str, department: &str) -> Result<SecretKey, KeyError> {
    use rand::TryRngCore as _;
    let mut seed = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| KeyError {
            file: "secret key".into(),
            message: format!("the operating system's random source failed: {e}"),
        })?;
    SecretKey::new(key_id, department, SigningKey::from_bytes(&seed))
}

/// Reads a secret key file.
pub fn read_secret_key(path: &Path) -> Result<SecretKey, KeyError> {
    let text = read_key_file(path)?;
    parse_secret_key(&text, &path.display().to_string())
}

/// Reads a public key file.
pub fn read_public_key(path: &Path) -> Result<PublicKey, KeyError> {
    let text = read_key_file(path)?;
    parse_public_key_file(&text, &path.display().to_string())
}

fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let err = |message: String| KeyError {
        file: path.display().to_string(),
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
    if meta.len() > MAX_KEY_FILE_BYTES {
        return Err(err(format!(
            "is {} bytes; a key file is a few lines",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| err(format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("is not UTF-8 text".into()))
}

/// Parses a secret key file's text; `file` names it in errors.
pub fn parse_secret_key(text: &str, file: &str) -> Result<SecretKey, KeyError> {
    let fields = parse_key_file(text, file, "secret", "public")?;
    let seed = decode_32(&fields.key, file, "secret")?;
    Ok(SecretKey {
        key_id: fields.key_id,
        department: fields.department,
        signing_key: SigningKey::from_bytes(&seed),
    })
}

/// Parses a public key file's text.
pub fn parse_public_key(text: &str) -> Result<PublicKey, KeyError> {
    parse_public_key_file(text, "public key")
}

fn parse_public_key_file(text: &str, file: &str) -> Result<PublicKey, KeyError> {
    let fields = parse_key_file(text, file, "public", "secret")?;
    let bytes = decode_32(&fields.key, file, "public")?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError {
        file: file.to_string(),
        message: "public: is not a valid ed25519 public key".into(),
    })?;
    if key.is_weak() {
        return Err(KeyError {
            file: file.to_string(),
            message: "public: is a weak (small-order) ed25519 key".into(),
        });
    }
    Ok(PublicKey {
        key_id: fields.key_id,
        department: fields.department,
        key,
    })
}

struct KeyFields {
    key_id: String,
    department: String,
    key: String,
}

/// Parses `zhiyun-key v1` and the `name: value` lines. `want` is the key
/// line expected (`secret` / `public`); `other` the one that means the
/// wrong kind of file was given.
fn parse_key_file(text: &str, file: &str, want: &str, other: &str) -> Result<KeyFields, KeyError> {
    let err = |line: Option<usize>, message: String| KeyError {
        file: match line {
            Some(n) => format!("{file}:{n}"),
            None => file.to_string(),
        },
        message,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, first)) if first.trim_end() == KEY_FILE_HEADER => {}
        _ => {
            return Err(err(
                Some(1),
                format!("not a zhiyun key file (the first line must be `{KEY_FILE_HEADER}`)"),
            ));
        }
    }
    let (mut key_id, mut department, mut key) = (None, None, None);
    for (i, line) in lines {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| err(Some(n), format!("`{line}` is not `name: value`")))?;
        let value = value.trim().to_string();
        let slot = match name.trim() {
            "key-id" => &mut key_id,
            "department" => &mut department,
            n2 if n2 == want => &mut key,
            n2 if n2 == other => {
                return Err(err(
                    Some(n),
                    format!("this is a {other} key file; a {want} key file is needed here"),
                ));
            }
            unknown => {
                return Err(err(
                    Some(n),
                    format!("unknown field `{unknown}` (expected key-id, department, {want})"),
                ));
            }
        };
        if slot.is_some() {
            return Err(err(Some(n), format!("`{}` is given twice", name.trim())));
        }
        *slot = Some(value);
    }
    let key_id = key_id.ok_or_else(|| err(None, "no `key-id:` line".into()))?;
    let department = department.ok_or_else(|| err(None, "no `department:` line".into()))?;
    let key = key.ok_or_else(|| err(None, format!("no `{want}:` line")))?;
    check_key_id(&key_id).map_err(|m| err(None, format!("key-id: {m}")))?;
    check_department(&department).map_err(|m| err(None, format!("department: {m}")))?;
    Ok(KeyFields {
        key_id,
        department,
        key,
    })
}

fn decode_32(value: &str, file: &str, what: &str) -> Result<[u8; 32], KeyError> {
    let err = |message: String| KeyError {
        file: file.to_string(),
        message: format!("{what}: {message}"),
    };
    let bytes = BASE64
        .decode(value)
        .map_err(|e| err(format!("is not base64: {e}")))?;
    <[u8; 32]>::try_from(bytes.as_slice())
        .map_err(|_| err(format!("is {} bytes; an ed25519 key is 32", bytes.len())))
}

/// Checks a key id: 1–64 characters of ASCII letters, digits, `.`, `_`, `-`.
pub fn check_key_id(key_id: &str) -> Result<(), String> {
    if key_id.is_empty() || key_id.len() > 64 {
        return Err(format!(
            "`{key_id}` must be 1 to 64 characters long (it is {})",
            key_id.chars().count()
        ));
    }
    if let Some(c) = key_id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "`{key_id}` contains `{c}`; a key id is ASCII letters, digits, `.`, `_` and `-`"
        ));
    }
    Ok(())
}

fn check_department(department: &str) -> Result<(), String> {
    if department.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if department != department.trim() || department.contains(['\n', '\r']) {
        return Err(format!(
            "`{department}` must be one line without leading or trailing spaces"
        ));
    }
    Ok(())
}

/// The text of a `SIGNATURE` entry.
pub fn signature_entry(key_id: &str, signature: &[u8; 64]) -> String {
    format!("{ALGORITHM} {key_id} {}\n", BASE64.encode(signature))
}

/// Parses a `SIGNATURE` entry into the key id and the signature bytes.
pub fn parse_signature_entry(bytes: &[u8]) -> Result<(String, [u8; 64]), String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let line = text.strip_suffix('\n').unwrap_or(text);
    if line.contains('\n') {
        return Err("more than one line".into());
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [algorithm, key_id, signature] = parts.as_slice() else {
        return Err(format!(
            "`{line}` is not `{ALGORITHM} <key-id> <base64 signature>`"
        ));
    };
    if *algorithm != ALGORITHM {
        return Err(format!(
            "the algorithm is `{algorithm}`; this host verifies only {ALGORITHM}"
        ));
    }
    check_key_id(key_id).map_err(|m| format!("key id {m}"))?;
    let sig = BASE64
        .decode(signature)
        .map_err(|e| format!("the signature is not base64: {e}"))?;
    let sig = <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| {
        format!(
            "the signature is {} bytes; an ed25519 signature is 64",
            sig.len()
        )
    })?;
    Ok((key_id.to_string(), sig))
}

/// Checks an ed25519 signature over `message` (strict verification: no
/// malleable or small-order encodings).
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> Result<(), String> {
    let key = VerifyingKey::from_bytes(public_key)
        .map_err(|_| "the registered public key is not a valid ed25519 key".to_string())?;
    key.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| "the signature does not verify (the package was altered after signing, or signed with another key)".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_through_their_files() {
        let (secret, public) = generate_key("finance-2026", "财务部").unwrap();
        assert!(
            secret.starts_with("zhiyun-key v1\nkey-id: finance-2026\ndepartment: 财务部\nsecret: ")
        );
        assert!(
            public.starts_with("zhiyun-key v1\nkey-id: finance-2026\ndepartment: 财务部\npublic: ")
        );
        let sk = parse_secret_key(&secret, "k").unwrap();
        let pk = parse_public_key(&public).unwrap();
        assert_eq!(sk.public_key(), pk);
        assert_eq!(sk.to_file_text(), secret);
        assert_eq!(pk.to_file_text(), public);
        let sig = sk.sign(b"hello");
        verify(&pk.to_bytes(), b"hello", &sig).unwrap();
        let e = verify(&pk.to_bytes(), b"hellO", &sig).unwrap_err();
        assert!(e.contains("does not verify"), "{e}");
        // Two keys differ.
        let (other, _) = generate_key("finance-2026", "财务部").unwrap();
        assert_ne!(other, secret);
        // The secret never shows in Debug.
        let dbg = format!("{sk:?}");
        assert!(
            !dbg.contains(
                secret
                    .lines()
                    .nth(3)
                    .unwrap()
                    .trim_start_matches("secret: ")
            )
        );
    }

    #[test]
    fn read_secret_key_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("finance.key");
        let (secret, public) = generate_key("fin", "财务部").unwrap();
        std::fs::write(&path, &secret).unwrap();
        let sk = read_secret_key(&path).unwrap();
        assert_eq!(sk.key_id, "fin");
        assert_eq!(sk.department, "财务部");
        let pub_path = dir.path().join("finance.pub");
        std::fs::write(&pub_path, &public).unwrap();
        assert_eq!(read_public_key(&pub_path).unwrap(), sk.public_key());
        // The public file where a secret one is wanted, and vice versa.
        let e = read_secret_key(&pub_path).unwrap_err();
        assert!(
            e.to_string().starts_with(&pub_path.display().to_string()),
            "{e}"
        );
        assert!(e.message.contains("this is a public key file"), "{e}");
        let e = parse_public_key(&secret).unwrap_err();
        assert!(e.message.contains("this is a secret key file"), "{e}");
        let e = read_secret_key(&dir.path().join("missing.key")).unwrap_err();
        assert!(e.message.contains("cannot read"), "{e}");
    }

    #[test]
    fn malformed_key_files_are_rejected_with_reasons() {
        let (secret, public) = generate_key("fin", "财务部").unwrap();
        for (text, want) in [
            ("".to_string(), "not a zhiyun key file"),
            ("zhiyun-key v2\n".to_string(), "not a zhiyun key file"),
            (public.replace("key-id: fin\n", ""), "no `key-id:` line"),
            (
                public.replace("department: 财务部\n", ""),
                "no `department:` line",
            ),
            (
                public.replace("department: 财务部", "department:  "),
                "department: must not be empty",
            ),
            (
                public.replace("key-id: fin", "key-id: fin ance"),
                "contains ` `",
            ),
            (format!("{public}colour: red\n"), "unknown field `colour`"),
            (format!("{public}key-id: x\n"), "given twice"),
            (public.replace("public: ", "public: !!"), "is not base64"),
            (
                public.replace(public.lines().nth(3).unwrap(), "public: AAAA"),
                "is 3 bytes",
            ),
            (
                public.replace("key-id: fin", "key-id fin"),
                "is not `name: value`",
            ),
        ] {
            let e = parse_public_key(&text).unwrap_err();
            assert!(e.to_string().contains(want), "{want}: {e}");
        }
        let e = parse_secret_key(&secret.replace("secret: ", "secret: x"), "f.key").unwrap_err();
        assert!(e.to_string().starts_with("f.key: secret:"), "{e}");
        let e = generate_key("", "财务部").unwrap_err();
        assert!(e.message.contains("1 to 64"), "{e}");
        let e = generate_key("ok", "").unwrap_err();
        assert!(e.message.contains("must not be empty"), "{e}");
    }

    #[test]
    fn signature_entries_round_trip_and_are_checked() {
        let sig = [9u8; 64];
        let entry = signature_entry("fin", &sig);
        assert_eq!(
            parse_signature_entry(entry.as_bytes()).unwrap(),
            ("fin".to_string(), sig)
        );
        // Without the trailing newline too.
        parse_signature_entry(entry.trim_end().as_bytes()).unwrap();
        for (text, want) in [
            ("rsa fin AAAA".to_string(), "only ed25519"),
            ("ed25519 fin".to_string(), "is not `ed25519"),
            ("ed25519 f/n AAAA".to_string(), "contains `/`"),
            ("ed25519 fin AAAA".to_string(), "is 3 bytes"),
            ("ed25519 fin %%%".to_string(), "not base64"),
            (format!("{entry}{entry}"), "more than one line"),
        ] {
            let e = parse_signature_entry(text.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{want}: {e}");
        }
        assert!(parse_signature_entry(&[0xff, 0xfe]).is_err());
    }
}
