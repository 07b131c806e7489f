//! The portal (门户): the single-page app under `/`, embedded in the binary
//! at build time (see `build.rs`). `/` answers the app's `index.html` (the
//! app routes in the browser, after `#`); `/assets/…` are the hashed,
//! immutable bundles. Without a built portal, `/` says how to build
//! it; the API is unaffected.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/portal_files.rs"));

fn file(path: &str) -> Option<&'static [u8]> {
    PORTAL_FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("woff2") => "font/woff2",
        Some("woff") => "font/woff",
        Some("ttf") => "font/ttf",
        _ => "application/octet-stream",
    }
}

/// `GET /`: the app's page.
pub async fn index() -> Response {
    match file("index.html") {
        Some(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            // The page names the current bundles: never cached.
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
        None => Html(
            "<!doctype html><meta charset=utf-8><title>智运 zhiyun</title>\
             <p>门户尚未构建。The portal has not been built into this binary: \
             <code>npm --prefix host/portal ci &amp;&amp; npm --prefix host/portal run build</code>, \
             then rebuild <code>zhiyun</code>. The API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
        )
        .into_response(),
    }
}

/// `GET /assets/{path}`: a bundle (content-hashed names: cached for a year).
pub async fn asset(axum::extract::Path(path): axum::extract::Path<String>) -> Response {
    let full = format!("assets/{path}");
    match file(&full) {
        Some(bytes) => {
            let mut response = (StatusCode::OK, bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(content_type(&full)),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            response
        }
        None => crate::http::error::ApiError::not_found(format!("no portal file `{full}`"))
            .into_response(),
    }
}
