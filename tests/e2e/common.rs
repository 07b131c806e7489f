//! Shared helpers of the end-to-end tests: the real `zhiyun` binary, signed
//! packages of the sample apps, and an HTTP client.

#![allow(dead_code)] // each test file uses a different subset

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use zhiyun_apps::signing::{SecretKey, generate_key, parse_public_key, parse_secret_key};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn component(name: &str) -> Vec<u8> {
    let path = workspace().join(format!("target/wasm32-wasip2/app/{name}.wasm"));
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; build the apps first: ./dev apps", path.display()))
}

/// A department key pair for 财务部: the secret key and the public key bytes.
pub fn department_key(key_id: &str) -> (SecretKey, [u8; 32]) {
    let (secret, public) = generate_key(key_id, "财务部").unwrap();
    let secret = parse_secret_key(&secret, "test").unwrap();
    let public = parse_public_key(&public).unwrap();
    (secret, public.to_bytes())
}

/// The fund-position sample app, packed and signed, at `version`.
pub fn fund_position_package(version: &str, key: &SecretKey) -> Vec<u8> {
    package(
        "plugins/scenarios/fund-position",
        "fund_position",
        Some(version),
        key,
    )
}

/// The app whose manifest is in `dir` (relative to the workspace) with the
/// built component `wasm_name`, packed and signed; `version` replaces the
/// manifest's 0.1.0 if given.
pub fn package(dir: &str, wasm_name: &str, version: Option<&str>, key: &SecretKey) -> Vec<u8> {
    let mut manifest = std::fs::read_to_string(workspace().join(dir).join("app.toml")).unwrap();
    if let Some(version) = version {
        manifest = manifest.replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        );
        assert!(manifest.contains(version));
    }
    zhiyun_apps::pack_bytes_signed(&manifest, "app.toml", &component(wasm_name), key).unwrap()
}

/// A running `zhiyun serve` on a free loopback port; killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    _data: tempfile::TempDir,
}

impl Server {
    pub fn start(database_url: Option<&str>) -> Server {
        Self::start_in(tempfile::tempdir().unwrap(), database_url)
    }

    /// Serves the data directory `data` (kept until the server is dropped).
    pub fn start_in(data: tempfile::TempDir, database_url: Option<&str>) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zhiyun"));
        cmd.args([
            "serve",
            "--seed-demo",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .args(["--policy-sync-ms", "100"])
        // As in a checkout: the models serve their datasets once built.
        .arg("--models")
        .arg(workspace().join("plugins/models"))
        .env_remove("DATABASE_URL")
        .env("ZHIYUN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        let mut child = cmd.spawn().expect("start zhiyun serve");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("zhiyun listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"))
            .to_string();
        Server {
            child,
            base,
            _data: data,
        }
    }

    /// The server's data directory (its SQLite store lives there).
    pub fn data_dir(&self) -> &Path {
        self._data.path()
    }

    /// SIGTERM, wait, and hand over the data directory for inspection.
    pub fn terminate_keeping_data(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        let data = std::mem::replace(&mut self._data, tempfile::tempdir().unwrap());
        (status, data)
    }

    /// SIGTERM, then wait: the exit status of a graceful shutdown.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    /// The value of a `zhiyun_session` cookie the answer set.
    pub set_cookie: Option<String>,
}

/// The demo password of a demo user (zhiyun_authz::identity::DEMO_USERS).
pub fn demo_password(user: &str) -> &'static str {
    zhiyun_authz::identity::DEMO_USERS
        .iter()
        .find(|u| u.username == user)
        .unwrap_or_else(|| panic!("`{user}` is not a demo user"))
        .password
}

impl Answer {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: base.to_string(),
        }
    }

    async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status();
        let set_cookie = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("zhiyun_session="))
            .map(|v| v.split(';').next().unwrap_or_default().to_string())
            .filter(|v| !v.is_empty());
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Answer {
            status,
            body,
            set_cookie,
        }
    }

    /// Logs a demo user in; returns the credential the other helpers take
    /// (`"<session id> <csrf token>"`: the cookie and the CSRF header).
    pub async fn login(&self, user: &str) -> String {
        let a = self.login_with(user, demo_password(user)).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let session = a.set_cookie.expect("the login sets the session cookie");
        format!("{session} {}", a.body["csrf_token"].as_str().unwrap())
    }

    /// The raw login answer (for tests of failed logins).
    pub async fn login_with(&self, user: &str, password: &str) -> Answer {
        let r = self
            .http
            .post(format!("{}/api/v1/login", self.base))
            .json(&json!({"username": user, "password": password}))
            .send()
            .await
            .unwrap();
        Self::answer(r).await
    }

    /// Adds the credential: an API token (`zyt_…`) as a bearer token, a
    /// session as the cookie plus the CSRF header; `""` sends none.
    pub fn authed(&self, b: reqwest::RequestBuilder, credential: &str) -> reqwest::RequestBuilder {
        if credential.starts_with("zyt_") {
            b.bearer_auth(credential)
        } else if let Some((session, csrf)) = credential.split_once(' ') {
            b.header("cookie", format!("zhiyun_session={session}"))
                .header("x-csrf-token", csrf)
        } else {
            b
        }
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        let r = self
            .authed(self.http.get(format!("{}{path}", self.base)), token)
            .send()
            .await
            .unwrap();
        Self::answer(r).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        let r = self
            .authed(self.http.post(format!("{}{path}", self.base)), token)
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::answer(r).await
    }

    pub async fn post_raw(
        &self,
        token: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        let r = self
            .authed(self.http.post(format!("{}{path}", self.base)), token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        Self::answer(r).await
    }

    /// Places `app_id` on the 资金管理 menu (which business users, unit
    /// leaders and reviewers see): a menu change filed by the system admin
    /// and approved by the security admin.
    pub async fn place_on_menu(&self, app_id: &str) {
        let sysadmin = self.login("sysadmin").await;
        let secadmin = self.login("secadmin").await;
        self.change(
            &sysadmin,
            &secadmin,
            json!({"kind": "menu-change", "payload": {
                "op": "add", "menu_id": format!("finance.{app_id}"), "parent_id": "finance",
                "title": app_id, "app_id": app_id,
            }}),
        )
        .await;
    }

    /// Publishes fund-position 0.1.0 the way the product does it: the
    /// security admin registers a 财务部 key (`key_id`), the developer
    /// submits, the reviewer approves.
    pub async fn publish_fund_position(&self, key_id: &str) {
        let secadmin = self.login("secadmin").await;
        let developer = self.login("dev.cw").await;
        let reviewer = self.login("reviewer").await;
        let (key, public) = department_key(key_id);
        self.register_key(&secadmin, &key, public).await;
        let a = self
            .post_raw(
                &developer,
                "/api/v1/packages",
                "application/octet-stream",
                fund_position_package("0.1.0", &key),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let a = self
            .post(
                &reviewer,
                "/api/v1/apps/fund-position/versions/0.1.0/approve",
                json!({}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }

    /// Files a change request as `author` and approves it as `reviewer`.
    pub async fn change(&self, author: &str, reviewer: &str, change: Value) -> Value {
        let a = self.post(author, "/api/v1/changes", change).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
        let id = a.body["id"].as_i64().unwrap();
        let a = self
            .post(
                reviewer,
                &format!("/api/v1/changes/{id}/approve"),
                json!({}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body
    }

    pub async fn register_key(&self, admin: &str, key: &SecretKey, public: [u8; 32]) {
        use base64::Engine as _;
        let a = self
            .post(
                admin,
                "/api/v1/keys",
                json!({
                    "key_id": key.key_id,
                    "department": key.department,
                    "public_key": base64::engine::general_purpose::STANDARD.encode(public),
                }),
            )
            .await;
        assert_eq!(a.status, StatusCode::NO_CONTENT, "{}", a.body);
    }
}

pub fn pg_admin_url() -> String {
    std::env::var("ZHIYUN_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub async fn drop_database(name: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

/// A new, empty database on the test PostgreSQL, so the server migrates
/// from scratch and parallel tests never share state.
pub async fn fresh_postgres_database() -> (String, String) {
    use sqlx::Connection;
    let admin_url = pg_admin_url();
    let name = format!("zhiyun_e2e_{}", hex::encode(rand::random::<[u8; 6]>()));
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("PostgreSQL must run on 127.0.0.1:5432 (trust auth) for the e2e tests");
    // The name is ours (hex), not input: safe to splice into DDL.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin_url.rsplit_once('/').unwrap().0;
    (format!("{base}/{name}"), name)
}
