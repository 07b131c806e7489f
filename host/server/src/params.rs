//! Launch parameters typed by the manifest's declarations, from the CLI's
//! `NAME=VALUE` pairs or an API request's JSON object. Unknown names, wrong
//! types and missing required parameters are precise errors; declared
//! defaults fill in the rest.

use serde_json::Value as Json;
use zhiyun_apps::{Manifest, ParameterDecl};
use zhiyun_contract::{ControlKind, Date, Param, Value};

/// A parameter value as the caller wrote it.
pub enum Raw<'a> {
    Text(&'a str),
    Json(&'a Json),
}

pub fn from_pairs(manifest: &Manifest, pairs: &[String]) -> Result<Vec<Param>, String> {
    let mut raw = Vec::new();
    for pair in pairs {
        let (name, text) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter `{pair}` must be NAME=VALUE"))?;
        raw.push((name, Raw::Text(text)));
    }
    typed(manifest, raw)
}

pub fn from_json(
    manifest: &Manifest,
    object: &serde_json::Map<String, Json>,
) -> Result<Vec<Param>, String> {
    typed(
        manifest,
        object
            .iter()
            .map(|(k, v)| (k.as_str(), Raw::Json(v)))
            .collect(),
    )
}

fn typed(manifest: &Manifest, raw: Vec<(&str, Raw<'_>)>) -> Result<Vec<Param>, String> {
    let mut params: Vec<Param> = Vec::new();
    for (name, value) in raw {
        let decl = manifest
            .parameters
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                let known: Vec<_> = manifest
                    .parameters
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect();
                format!(
                    "the app declares no parameter `{name}` (it has: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                )
            })?;
        let value = typed_value(decl, value)?;
        params.retain(|p| p.name != name);
        params.push(Param {
            name: name.to_string(),
            value,
        });
    }
    for decl in &manifest.parameters {
        if params.iter().any(|p| p.name == decl.name) {
            continue;
        }
        if decl.default != Value::Null {
            params.push(Param {
                name: decl.name.clone(),
                value: decl.default.clone(),
            });
        } else if decl.required {
            return Err(format!(
                "parameter `{}` ({}) is required",
                decl.name, decl.label
            ));
        }
    }
    Ok(params)
}

fn typed_value(decl: &ParameterDecl, raw: Raw<'_>) -> Result<Value, String> {
    let name = &decl.name;
    let text = match raw {
        Raw::Text(t) => t.to_string(),
        Raw::Json(Json::String(s)) => s.clone(),
        Raw::Json(Json::Null) => return Ok(Value::Null),
        Raw::Json(Json::Bool(b)) if matches!(decl.kind, ControlKind::Toggle) => {
            return Ok(Value::Boolean(*b));
        }
        Raw::Json(Json::Number(n)) if matches!(decl.kind, ControlKind::NumberInput) => {
            return n
                .as_i64()
                .map(Value::Int)
                .ok_or_else(|| format!("parameter `{name}` must be a whole number, got {n}"));
        }
        Raw::Json(other) => {
            return Err(format!(
                "parameter `{name}` must be {}, got {other}",
                expected(&decl.kind)
            ));
        }
    };
    match &decl.kind {
        ControlKind::NumberInput => text
            .trim()
            .parse()
            .map(Value::Int)
            .map_err(|_| format!("parameter `{name}` must be a whole number, got `{text}`")),
        ControlKind::Toggle => text
            .trim()
            .parse()
            .map(Value::Boolean)
            .map_err(|_| format!("parameter `{name}` must be true or false, got `{text}`")),
        ControlKind::DatePicker => Date::parse_iso(text.trim())
            .map(Value::Date)
            .ok_or_else(|| format!("parameter `{name}` must be a date YYYY-MM-DD, got `{text}`")),
        ControlKind::Select(choices) => {
            if choices.iter().any(|c| c.key == text) {
                Ok(Value::Text(text))
            } else {
                let keys: Vec<_> = choices.iter().map(|c| c.key.as_str()).collect();
                Err(format!(
                    "parameter `{name}` must be one of {}, got `{text}`",
                    keys.join(", ")
                ))
            }
        }
        _ => {
            if text.len() > 256 {
                return Err(format!("parameter `{name}` is longer than 256 bytes"));
            }
            Ok(Value::Text(text))
        }
    }
}

fn expected(kind: &ControlKind) -> &'static str {
    match kind {
        ControlKind::NumberInput => "a whole number",
        ControlKind::Toggle => "true or false",
        ControlKind::DatePicker => "a date string YYYY-MM-DD",
        _ => "a string",
    }
}
