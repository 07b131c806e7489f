//! Every endpoint against bad input: malformed JSON, wrong types, unknown
//! ids, oversized bodies, duplicate versions, corrupted, tampered and
//! unsigned packages, missing and bad tokens, wrong methods. Each answer is
//! a 4xx with a JSON error body that says what is wrong — never a 500 —
//! and nothing is left half-registered.

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use std::io::Write;

/// Asserts a 4xx with the stable error shape.
fn is_client_error(a: &Answer, status: StatusCode, what: &str) {
    assert_eq!(a.status, status, "{what}: {}", a.body);
    assert!(a.body["error"]["code"].is_string(), "{what}: {}", a.body);
    let message = a.body["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.len() > 5,
        "{what}: the message must say what is wrong: {}",
        a.body
    );
}

/// Rebuilds a package with `app.wasm` changed but the original SHA256SUMS
/// and SIGNATURE: the sums no longer match.
fn tamper_component(package: &[u8]) -> Vec<u8> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(package));
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if name == "app.wasm" {
            let last = data.len() - 1;
            data[last] ^= 0x01;
        }
        entries.push((name, data));
    }
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, name, data.as_slice())
            .unwrap();
    }
    let tar = builder.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn every_endpoint_answers_bad_input_with_a_clear_4xx() {
    let server = Server::start(None);
    let api = Api::new(&server.base);
    let secadmin = api.login("secadmin").await;
    let reviewer = api.login("reviewer").await;
    let sysadmin = api.login("sysadmin").await;
    let developer = api.login("dev.cw").await;
    let user = api.login("user.3301").await;
    let (key, public) = department_key("caiwu-bad");
    api.register_key(&secadmin, &key, public).await;
    let octet = "application/octet-stream";

    // Authentication.
    let a = api
        .post(
            "",
            "/api/v1/login",
            json!({"username": "sysadmin", "password": "nope"}),
        )
        .await;
    is_client_error(&a, StatusCode::UNAUTHORIZED, "wrong password");
    let a = api.get("", "/api/v1/apps").await;
    is_client_error(&a, StatusCode::UNAUTHORIZED, "no token");
    let a = api.get("not-a-token", "/api/v1/apps").await;
    is_client_error(&a, StatusCode::UNAUTHORIZED, "unknown token");

    // Malformed JSON and wrong types.
    let a = api
        .post_raw(
            "",
            "/api/v1/login",
            "application/json",
            b"{\"username\": ".to_vec(),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "malformed JSON");
    let a = api
        .post("", "/api/v1/login", json!({"username": 7, "password": []}))
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "wrong types");
    let a = api
        .post_raw(
            "",
            "/api/v1/login",
            "text/plain",
            b"username=admin".to_vec(),
        )
        .await;
    is_client_error(&a, StatusCode::UNSUPPORTED_MEDIA_TYPE, "not JSON");
    let a = api
        .post(
            &secadmin,
            "/api/v1/keys",
            json!({"key_id": "k", "department": "财务部", "public_key": "!!"}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "public key not base64");
    let a = api
        .post(
            &secadmin,
            "/api/v1/keys",
            json!({"key_id": "k", "department": "财务部", "public_key": "AAAA"}),
        )
        .await;
    is_client_error(
        &a,
        StatusCode::BAD_REQUEST,
        "public key of the wrong length",
    );

    // Packages: empty, garbage, truncated, tampered, unsigned, unknown key.
    let good = fund_position_package("1.0.0", &key);
    let a = api
        .post_raw(&developer, "/api/v1/packages", octet, vec![])
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "empty package");
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            octet,
            b"definitely not a package".to_vec(),
        )
        .await;
    is_client_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "garbage package");
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            octet,
            good[..good.len() / 2].to_vec(),
        )
        .await;
    is_client_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "truncated package");
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            octet,
            tamper_component(&good),
        )
        .await;
    is_client_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "sha256 mismatch");
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app.wasm"),
        "{}",
        a.body
    );
    let manifest =
        std::fs::read_to_string(workspace().join("plugins/scenarios/fund-position/app.toml"))
            .unwrap();
    let unsigned =
        zhiyun_apps::pack_bytes(&manifest, "app.toml", &component("fund_position")).unwrap();
    let a = api
        .post_raw(&developer, "/api/v1/packages", octet, unsigned)
        .await;
    is_client_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "unsigned package");
    let (stranger, _) = department_key("unregistered");
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            octet,
            fund_position_package("1.0.0", &stranger),
        )
        .await;
    is_client_error(&a, StatusCode::UNPROCESSABLE_ENTITY, "unknown key");

    // Oversized body. The server answers 413 and closes the connection
    // without reading the rest, so this goes on a client of its own (a
    // pooled connection would be dead for the next request).
    let a = Api::new(&server.base)
        .post_raw(&developer, "/api/v1/packages", octet, vec![0u8; 81 << 20])
        .await;
    is_client_error(&a, StatusCode::PAYLOAD_TOO_LARGE, "oversized body");

    // Nothing of the above registered anything.
    let apps = api.get(&reviewer, "/api/v1/apps").await;
    assert_eq!(
        apps.body,
        json!([]),
        "a failed submission must leave nothing behind"
    );

    // A good package, then a duplicate and a lower version.
    let a = api
        .post_raw(&developer, "/api/v1/packages", octet, good.clone())
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let a = api
        .post_raw(&developer, "/api/v1/packages", octet, good)
        .await;
    is_client_error(&a, StatusCode::CONFLICT, "duplicate version");
    let a = api
        .post_raw(
            &developer,
            "/api/v1/packages",
            octet,
            fund_position_package("0.9.0", &key),
        )
        .await;
    is_client_error(&a, StatusCode::CONFLICT, "lower version");

    // Unknown ids and malformed versions.
    for path in [
        "/api/v1/apps/no-such-app/versions",
        "/api/v1/apps/no-such-app/history",
        "/api/v1/apps/fund-position/versions/9.9.9/review",
    ] {
        let a = api.get(&reviewer, path).await;
        is_client_error(&a, StatusCode::NOT_FOUND, path);
    }
    let a = api
        .get(&reviewer, "/api/v1/apps/fund-position/versions/one/review")
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "malformed version");
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/no-such-app/versions/1.0.0/approve",
            json!({}),
        )
        .await;
    is_client_error(&a, StatusCode::NOT_FOUND, "approve unknown");
    // An app on no menu of the user's roles, existing or not: refused alike.
    let a = api
        .post(&user, "/api/v1/apps/no-such-app/launch", json!({}))
        .await;
    is_client_error(&a, StatusCode::FORBIDDEN, "launch unknown");

    // Reasons, states and parameters.
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/1.0.0/reject",
            json!({"reason": "  "}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "reject without reason");
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/1.0.0/approve",
            json!({"reason": 5}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "reason of the wrong type");
    let a = api
        .post(
            &sysadmin,
            "/api/v1/apps/fund-position/suspend",
            json!({"reason": "x"}),
        )
        .await;
    is_client_error(&a, StatusCode::CONFLICT, "suspend before approval");
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/1.0.0/approve",
            json!({}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = api
        .post(
            &reviewer,
            "/api/v1/apps/fund-position/versions/1.0.0/approve",
            json!({}),
        )
        .await;
    is_client_error(&a, StatusCode::CONFLICT, "approve twice");
    assert_eq!(a.body["error"]["current_state"], "published");
    let a = api
        .post(
            &user,
            "/api/v1/apps/fund-position/launch",
            json!({"params": {"nope": "1"}}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "unknown parameter");
    let a = api
        .post(
            &user,
            "/api/v1/apps/fund-position/launch",
            json!({"params": {"date": [1]}}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "parameter of the wrong type");
    let a = api
        .post(
            &user,
            "/api/v1/apps/fund-position/launch",
            json!({"locale": "fr-FR"}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "unknown locale");
    let a = api
        .post(
            &user,
            "/api/v1/apps/fund-position/launch",
            json!({"params": {}, "extra": 1}),
        )
        .await;
    is_client_error(&a, StatusCode::BAD_REQUEST, "unknown field");

    // Routing.
    let a = api.get(&user, "/api/v1/nowhere").await;
    is_client_error(&a, StatusCode::NOT_FOUND, "unknown endpoint");
    let a = api.get(&user, "/api/v1/packages").await;
    is_client_error(&a, StatusCode::METHOD_NOT_ALLOWED, "wrong method");

    // Exactly one app, one version: nothing half-registered along the way.
    let versions = api
        .get(&reviewer, "/api/v1/apps/fund-position/versions")
        .await;
    assert_eq!(
        versions.body.as_array().unwrap().len(),
        1,
        "{}",
        versions.body
    );
}

/// The portal page is served at `/` (the built app, or a page that says how
/// to build it); a missing bundle is a JSON 404, not a page.
#[tokio::test]
async fn the_portal_is_served_at_the_root() {
    let server = Server::start(None);
    let api = Api::new(&server.base);
    let page = api
        .http
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let body = page.text().await.unwrap();
    assert!(
        body.contains("智运") || body.contains("<div id=\"app\""),
        "{body}"
    );
    let missing = api
        .http
        .get(format!("{}/assets/no-such-bundle.js", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("json")
    );
}
