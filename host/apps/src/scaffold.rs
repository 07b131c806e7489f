//! `zhiyun app new`: a new app project from the templates under
//! `host/apps/templates/` (embedded at compile time).
//!
//! A project holds `Cargo.toml` (a standalone `cdylib` with an empty
//! `[workspace]` table), `app.toml`, `src/lib.rs`, `fixtures/README.md` and
//! `.gitignore`. Placeholders in the templates: `{{id}}`, `{{kind}}` and
//! `{{sdk_dependency}}`.
//!
//! The `src/lib.rs` of a new app is the SDK example of the same kind
//! (`sdk/examples/*.rs`), which the SDK's own build compiles and lints, so a
//! template can never rot.

use crate::manifest::{Manifest, check_app_id};
use std::path::{Path, PathBuf};
use zhiyun_contract::AppKind;

const CARGO_TOML: &str = include_str!("../templates/common/Cargo.toml.tmpl");
const GITIGNORE: &str = include_str!("../templates/common/gitignore");
const FIXTURES_README: &str = include_str!("../templates/common/fixtures-README.md");
const SCENARIO_APP_TOML: &str = include_str!("../templates/scenario/app.toml");
const SCENARIO_LIB_RS: &str = include_str!("../../../sdk/examples/scenario.rs");
const REPORT_APP_TOML: &str = include_str!("../templates/report/app.toml");
const REPORT_LIB_RS: &str = include_str!("../../../sdk/examples/report.rs");
const ALERT_RULE_APP_TOML: &str = include_str!("../templates/alert-rule/app.toml");
const ALERT_RULE_LIB_RS: &str = include_str!("../../../sdk/examples/alert_rule.rs");

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{name}` cannot be an app id: it {reason}")]
    InvalidName { name: String, reason: String },
    #[error("the SDK dependency line `{line}` is not valid: {reason}")]
    BadSdkDependency { line: String, reason: String },
    #[error("{} already exists and is not empty; choose a new directory", dir.display())]
    NotEmpty { dir: PathBuf },
    #[error("{} exists and is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A template rendered into an invalid manifest: a bug in the host.
    #[error("internal error: the {kind} template renders an invalid app.toml: {source}")]
    Template {
        kind: &'static str,
        #[source]
        source: crate::manifest::ManifestError,
    },
}

/// The files of a new project, relative to its directory, rendered.
pub fn render(
    name: &str,
    kind: AppKind,
    sdk_dependency: &str,
) -> Result<Vec<(PathBuf, String)>, ScaffoldError> {
    check_app_id(name).map_err(|reason| ScaffoldError::InvalidName {
        name: name.to_string(),
        reason: reason.trim_start_matches("is ").to_string(),
    })?;
    let line = sdk_dependency.trim();
    check_sdk_dependency(line)?;

    let (app_toml, lib_rs) = match kind {
        AppKind::Scenario => (SCENARIO_APP_TOML, SCENARIO_LIB_RS),
        AppKind::Report => (REPORT_APP_TOML, REPORT_LIB_RS),
        AppKind::AlertRule => (ALERT_RULE_APP_TOML, ALERT_RULE_LIB_RS),
    };
    let fill = |t: &str| {
        t.replace("{{id}}", name)
            .replace("{{kind}}", kind.as_str())
            .replace("{{sdk_dependency}}", line)
    };
    let app_toml = fill(app_toml);
    Manifest::parse(&app_toml, "app.toml").map_err(|source| ScaffoldError::Template {
        kind: kind.as_str(),
        source,
    })?;
    Ok(vec![
        (PathBuf::from("Cargo.toml"), fill(CARGO_TOML)),
        (PathBuf::from("app.toml"), app_toml),
        (PathBuf::from("src/lib.rs"), fill(lib_rs)),
        (PathBuf::from("fixtures/README.md"), fill(FIXTURES_README)),
        (PathBuf::from(".gitignore"), fill(GITIGNORE)),
    ])
}

/// The caller's dependency line must be one TOML key/value, e.g.
/// `zhiyun-sdk = { path = "../../sdk" }`.
fn check_sdk_dependency(line: &str) -> Result<(), ScaffoldError> {
    let bad = |reason: String| ScaffoldError::BadSdkDependency {
        line: line.to_string(),
        reason,
    };
    if line.contains('\n') || line.contains('\r') {
        return Err(bad("it must be a single line".into()));
    }
    let table: toml::Table = toml::from_str(line).map_err(|e| bad(e.message().to_string()))?;
    if table.len() != 1 {
        return Err(bad(format!(
            "it must define exactly one dependency, found {}",
            table.len()
        )));
    }
    Ok(())
}

/// Writes a new app project into `dir` (created if missing; refused if it
/// exists and is not empty). Returns the files written.
pub fn new_project(
    dir: &Path,
    name: &str,
    kind: AppKind,
    sdk_dependency: &str,
) -> Result<Vec<PathBuf>, ScaffoldError> {
    let files = render(name, kind, sdk_dependency)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(ScaffoldError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Ok(_) => {
            if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
                return Err(ScaffoldError::NotEmpty {
                    dir: dir.to_path_buf(),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(dir)(e)),
    }
    let mut written = Vec::with_capacity(files.len());
    for (rel, contents) in files {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, contents.as_bytes()))
            .map_err(io(&path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDK: &str = r#"zhiyun-sdk = { path = "../../sdk" }"#;

    #[test]
    fn every_kind_renders_a_valid_project() {
        for kind in [AppKind::Scenario, AppKind::Report, AppKind::AlertRule] {
            let files = render("my-app", kind, SDK).unwrap();
            let get = |p: &str| {
                &files
                    .iter()
                    .find(|(f, _)| f == Path::new(p))
                    .unwrap_or_else(|| panic!("{p}"))
                    .1
            };
            let m = Manifest::parse(get("app.toml"), "app.toml").unwrap();
            assert_eq!(m.id, "my-app");
            assert_eq!(m.kind, kind);
            assert_eq!(m.schedule.is_some(), kind != AppKind::Scenario);

            let cargo: toml::Table = toml::from_str(get("Cargo.toml")).unwrap();
            assert_eq!(cargo["package"]["name"].as_str(), Some("my-app"));
            assert_eq!(
                cargo["lib"]["crate-type"].as_array().unwrap()[0].as_str(),
                Some("cdylib")
            );
            assert!(cargo["workspace"].as_table().unwrap().is_empty());
            assert_eq!(
                cargo["dependencies"]["zhiyun-sdk"]["path"].as_str(),
                Some("../../sdk")
            );

            let lib = get("src/lib.rs");
            assert!(lib.contains("zhiyun_sdk::prelude"), "{lib}");
            assert!(!lib.contains("{{"), "{lib}");
            assert!(get(".gitignore").contains("/target"));
            assert!(get("fixtures/README.md").contains("fen"));
            for (path, text) in &files {
                assert!(
                    !text.contains("{{"),
                    "{}: unfilled placeholder",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn new_project_writes_the_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fund-check");
        let written = new_project(&dir, "fund-check", AppKind::AlertRule, SDK).unwrap();
        assert_eq!(written.len(), 5);
        for p in &written {
            assert!(p.is_file(), "{}", p.display());
        }
        Manifest::read(&dir.join("app.toml")).unwrap();

        // A second run refuses to overwrite.
        let e = new_project(&dir, "fund-check", AppKind::AlertRule, SDK).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotEmpty { .. }), "{e}");

        // An existing empty directory is fine.
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        new_project(&empty, "empty-app", AppKind::Scenario, SDK).unwrap();

        // A file in the way is not.
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = new_project(&file, "abc", AppKind::Scenario, SDK).unwrap_err();
        assert!(matches!(e, ScaffoldError::NotADirectory { .. }), "{e}");
    }

    #[test]
    fn bad_names_and_dependency_lines_are_refused() {
        let e = render("My App", AppKind::Scenario, SDK).unwrap_err();
        assert!(matches!(e, ScaffoldError::InvalidName { .. }), "{e}");
        assert!(e.to_string().contains("lowercase"), "{e}");
        for line in [
            "zhiyun-sdk = ",
            "zhiyun-sdk = \"0.1\"\nserde = \"1\"",
            "a = \"1\"; b = \"2\"",
        ] {
            let e = render("my-app", AppKind::Scenario, line).unwrap_err();
            assert!(
                matches!(e, ScaffoldError::BadSdkDependency { .. }),
                "{line}: {e}"
            );
        }
        render("my-app", AppKind::Scenario, "zhiyun-sdk = \"0.1\"").unwrap();
    }
}
