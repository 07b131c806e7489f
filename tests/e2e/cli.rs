//! The scripting path: `zhiyun app keygen`, `admin register-key`, `app pack
//! --key`, `app submit`, `admin review/approve/suspend/resume/rollback/launch`
//! against a running server, as an operator's script would use them.

mod common;

use common::*;
use serde_json::Value;
use std::process::Command;

struct Cli<'a> {
    server: &'a str,
    dir: &'a std::path::Path,
}

impl Cli<'_> {
    fn run(&self, user: &str, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_zhiyun"))
            .args(args)
            .current_dir(workspace())
            .env("ZHIYUN_SERVER", self.server)
            .env("ZHIYUN_USER", user)
            .env("ZHIYUN_PASSWORD", demo_password(user))
            .env("ZHIYUN_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, user: &str, args: &[&str]) -> Value {
        let (ok, stdout, stderr) = self.run(user, args);
        assert!(ok, "zhiyun {args:?} failed:\n{stdout}\n{stderr}");
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout))
    }
}

#[test]
fn an_operator_script_drives_the_whole_lifecycle() {
    let server = Server::start(None);
    let work = tempfile::tempdir().unwrap();
    let cli = Cli {
        server: &server.base,
        dir: work.path(),
    };
    let dir = cli.dir.to_str().unwrap();
    cli.ok(
        "dev.cw",
        &[
            "app",
            "keygen",
            "--key-id",
            "caiwu-cli",
            "--department",
            "财务部",
            "--out",
            dir,
        ],
    );
    let public = format!("{dir}/caiwu-cli.pub");
    cli.ok("secadmin", &["admin", "register-key", &public]);
    let key = format!("{dir}/caiwu-cli.key");
    let packed = cli.ok(
        "dev.cw",
        &[
            "app",
            "pack",
            "tests/apps/trivial",
            "--key",
            &key,
            "--out",
            dir,
        ],
    );
    let package = packed.as_str().unwrap().trim().to_string();
    assert!(package.ends_with("trivial-0.1.0.zyapp"), "{package}");

    let submitted = cli.ok("dev.cw", &["app", "submit", &package]);
    assert_eq!(submitted["state"], "submitted");
    assert_eq!(submitted["trial"]["ok"], true);

    let queue = cli.ok("reviewer", &["admin", "review"]);
    assert_eq!(queue.as_array().unwrap().len(), 1);
    let review = cli.ok("reviewer", &["admin", "review", "trivial", "0.1.0"]);
    assert_eq!(review["version"]["trial"]["ok"], true);

    // The developer may not approve; the CLI reports the API's error and fails.
    let (ok, _, stderr) = cli.run("dev.cw", &["admin", "approve", "trivial", "0.1.0"]);
    assert!(!ok);
    assert!(
        stderr.contains("403") && stderr.contains("access-denied"),
        "{stderr}"
    );

    let approved = cli.ok(
        "reviewer",
        &["admin", "approve", "trivial", "0.1.0", "--reason", "ok"],
    );
    assert_eq!(approved["state"], "published");
    // A business user launches apps placed on their menus.
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(Api::new(&server.base).place_on_menu("trivial"));
    let launched = cli.ok("user.3301", &["admin", "launch", "trivial"]);
    assert_eq!(launched["output"]["kind"], "view");

    cli.ok(
        "sysadmin",
        &["admin", "suspend", "trivial", "--reason", "维护"],
    );
    let (ok, _, stderr) = cli.run("user.3301", &["admin", "launch", "trivial"]);
    assert!(!ok);
    assert!(
        stderr.contains("409") && stderr.contains("suspended"),
        "{stderr}"
    );
    cli.ok("sysadmin", &["admin", "resume", "trivial"]);
    cli.ok("user.3301", &["admin", "launch", "trivial"]);

    let apps = cli.ok("reviewer", &["admin", "apps"]);
    assert_eq!(apps[0]["app_id"], "trivial");
}
