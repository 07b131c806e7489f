//! Follows docs/sdk.md literally: `zhiyun app new`, put the guide's example
//! into src/lib.rs, `app build`, `app test` (with parameters, and with a bad
//! one), `app pack`, `app inspect`. If the guide's code stops compiling or a
//! command stops doing what the guide says, this fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn zhiyun(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zhiyun"))
        .args(args)
        .current_dir(dir)
        // Its own target dir: the outer `cargo test` holds the lock on the
        // workspace's. Kept between runs, so only the first run compiles the SDK.
        .env("CARGO_TARGET_DIR", workspace().join("target/sdk-guide"))
        .output()
        .expect("run zhiyun")
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{what} failed:\n{stdout}\n{stderr}");
    stdout
}

/// The first ```rust block of the guide.
fn guide_example() -> String {
    let guide = std::fs::read_to_string(workspace().join("docs/sdk.md")).unwrap();
    let start = guide
        .find("```rust\n")
        .expect("a rust block in docs/sdk.md")
        + 8;
    let len = guide[start..].find("```").unwrap();
    guide[start..start + len].to_string()
}

#[test]
fn the_sdk_guide_works_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    ok(
        &zhiyun(
            tmp.path(),
            &["app", "new", "my-balances", "--kind", "scenario"],
        ),
        "app new",
    );
    let app = tmp.path().join("my-balances");
    for f in ["app.toml", "Cargo.toml", "src/lib.rs", "fixtures/README.md"] {
        assert!(app.join(f).is_file(), "{f} missing");
    }
    // A second `new` into the same directory must refuse, not overwrite.
    let again = zhiyun(tmp.path(), &["app", "new", "my-balances"]);
    assert!(!again.status.success());

    // The template as generated builds and runs.
    ok(&zhiyun(&app, &["app", "build"]), "app build (template)");
    let out = ok(
        &zhiyun(&app, &["app", "test", "-p", "org=3301"]),
        "app test (template)",
    );
    assert!(!out.trim().is_empty());

    // The guide's example, as printed in the guide.
    std::fs::write(app.join("src/lib.rs"), guide_example()).unwrap();
    ok(
        &zhiyun(&app, &["app", "build"]),
        "app build (guide example)",
    );
    let out = ok(
        &zhiyun(&app, &["app", "test", "-p", "date=2026-11-15"]),
        "app test",
    );
    assert!(out.contains("余额合计"), "{out}");
    let json = ok(&zhiyun(&app, &["app", "test", "--json"]), "app test --json");
    let value: serde_json::Value = serde_json::from_str(&json).expect("--json prints JSON");
    assert_eq!(value["kind"], "view");

    let bad = zhiyun(&app, &["app", "test", "-p", "date=2026-13-45"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("date"));
    let unknown = zhiyun(&app, &["app", "test", "-p", "nope=1"]);
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("declares no parameter `nope`"));

    let out = ok(&zhiyun(&app, &["app", "pack"]), "app pack");
    // Printed relative to where `pack` ran (the app directory).
    let package = app.join(out.trim());
    assert!(
        package.ends_with("target/zhiyun/my-balances-0.1.0.zyapp"),
        "{}",
        package.display()
    );
    let verified = zhiyun_apps::Package::read(&package).expect("the package verifies");
    assert_eq!(verified.manifest().id, "my-balances");
    let inspect = ok(
        &zhiyun(&app, &["app", "inspect", out.trim()]),
        "app inspect",
    );
    assert!(inspect.contains("zhiyun:app/data@0.1.0"), "{inspect}");
    assert!(inspect.contains("contract: ok"), "{inspect}");
}
