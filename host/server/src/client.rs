//! The CLI's HTTP client: `zhiyun app submit` and `zhiyun admin …` talk to
//! a running server through the same JSON API the portal uses.

use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::path::Path;

#[derive(clap::Args, Debug, Clone)]
pub struct Connection {
    /// The server's base URL.
    #[arg(long, env = "ZHIYUN_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A personal API token (`zyt_…`, from `POST /api/v1/tokens`); or use
    /// --user/--password.
    #[arg(long, env = "ZHIYUN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Log in as this user.
    #[arg(long, env = "ZHIYUN_USER")]
    pub user: Option<String>,
    /// The user's password.
    #[arg(long, env = "ZHIYUN_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// How the client authenticates each request.
enum Credential {
    /// A personal API token, as a bearer token.
    Token(String),
    /// A login session: the cookie and the CSRF token writes need.
    Session { id: String, csrf: String },
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    credential: Credential,
}

impl Client {
    pub async fn connect(conn: &Connection) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let base = conn.server.trim_end_matches('/').to_string();
        let credential = match (&conn.token, &conn.user, &conn.password) {
            (Some(t), _, _) => Credential::Token(t.clone()),
            (None, Some(user), Some(password)) => {
                let response = http
                    .post(format!("{base}/api/v1/login"))
                    .json(&json!({ "username": user, "password": password }))
                    .send()
                    .await
                    .with_context(|| format!("cannot reach the server at {base}"))?;
                let id = response
                    .headers()
                    .get_all(reqwest::header::SET_COOKIE)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|v| v.strip_prefix("zhiyun_session="))
                    .and_then(|v| v.split(';').next())
                    .map(str::to_string);
                let body = answer(response).await?;
                Credential::Session {
                    id: id.context("the login answer set no session cookie")?,
                    csrf: body["csrf_token"]
                        .as_str()
                        .context("the login answer has no CSRF token")?
                        .to_string(),
                }
            }
            _ => bail!(
                "pass --token, or --user and --password (or ZHIYUN_TOKEN / ZHIYUN_USER and ZHIYUN_PASSWORD)"
            ),
        };
        Ok(Self {
            http,
            base,
            credential,
        })
    }

    fn authed(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.credential {
            Credential::Token(t) => request.bearer_auth(t),
            Credential::Session { id, csrf } => request
                .header(reqwest::header::COOKIE, format!("zhiyun_session={id}"))
                .header("x-csrf-token", csrf),
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .authed(self.http.get(format!("{}{path}", self.base)))
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        answer(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .authed(self.http.post(format!("{}{path}", self.base)))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        answer(response).await
    }

    pub async fn submit(&self, package: &Path) -> anyhow::Result<Value> {
        let bytes =
            std::fs::read(package).with_context(|| format!("cannot read {}", package.display()))?;
        let response = self
            .authed(self.http.post(format!("{}/api/v1/packages", self.base)))
            .header("content-type", "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("cannot reach the server at {}", self.base))?;
        answer(response).await
    }
}

/// The JSON body of a success, or the API's error as an error.
async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if status.is_success() {
        return Ok(body);
    }
    let code = body["error"]["code"].as_str().unwrap_or("error");
    let message = body["error"]["message"].as_str().unwrap_or("(no message)");
    match body["error"]["current_state"].as_str() {
        Some(state) => bail!("{status} {code}: {message} (current state: {state})"),
        None => bail!("{status} {code}: {message}"),
    }
}
