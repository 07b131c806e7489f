//! What a component asks for and offers, read from its type — so a reviewer
//! sees exactly what it imports — and the contract check that rejects any
//! import outside `zhiyun:app` and the WASI interfaces Rust's std links.

use serde::Serialize;
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;

/// One import or export: its name and, for an interface, its functions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemInfo {
    /// e.g. `zhiyun:app/data@0.1.0` or `render`.
    pub name: String,
    /// `interface`, `function`, `type`, `resource`, `module` or `component`.
    pub kind: String,
    /// Functions of an interface; empty for other kinds.
    pub functions: Vec<String>,
}

/// The imports and exports of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentInfo {
    pub imports: Vec<ItemInfo>,
    pub exports: Vec<ItemInfo>,
}

impl ComponentInfo {
    pub(crate) fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        let imports = ty
            .imports(engine)
            .map(|(name, item)| describe(engine, name, &item.ty))
            .collect();
        let exports = ty
            .exports(engine)
            .map(|(name, item)| describe(engine, name, &item.ty))
            .collect();
        Self { imports, exports }
    }

    /// The first import that is not allowed, with the reason.
    pub fn forbidden_import(&self) -> Option<(String, String)> {
        // A world's `use` of types shows up as top-level type imports
        // (`view`, `app-error`, …); a type grants nothing, so only instances
        // and functions are checked.
        self.imports
            .iter()
            .filter(|i| i.kind != "type")
            .find_map(|i| import_verdict(&i.name).err().map(|r| (i.name.clone(), r)))
    }
}

fn describe(engine: &Engine, name: &str, item: &ComponentItem) -> ItemInfo {
    let (kind, functions) = match item {
        ComponentItem::ComponentInstance(instance) => (
            "interface",
            instance
                .exports(engine)
                .filter(|(_, i)| matches!(i.ty, ComponentItem::ComponentFunc(_)))
                .map(|(n, _)| n.to_string())
                .collect(),
        ),
        ComponentItem::ComponentFunc(_) | ComponentItem::CoreFunc(_) => ("function", vec![]),
        ComponentItem::Type(_) => ("type", vec![]),
        ComponentItem::Resource(_) => ("resource", vec![]),
        ComponentItem::Module(_) => ("module", vec![]),
        ComponentItem::Component(_) => ("component", vec![]),
    };
    ItemInfo {
        name: name.to_string(),
        kind: kind.to_string(),
        functions,
    }
}

/// WASI interfaces an app may import. Rust's std for wasm32-wasip2 links
/// these; the host serves them with nothing behind them (no preopened
/// directories, empty environment, captured stdio), so importing them grants
/// nothing. Sockets and HTTP are not on the list: a component that imports
/// them is rejected at load.
const ALLOWED_WASI: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
];

/// The contract's own interfaces. `view`, `document` and `findings` hold only
/// the types of the exports; a component imports them for those types.
const ALLOWED_ZHIYUN: &[&str] = &[
    "zhiyun:app/types",
    "zhiyun:app/data",
    "zhiyun:app/log",
    "zhiyun:app/context",
    "zhiyun:app/view",
    "zhiyun:app/document",
    "zhiyun:app/findings",
];

fn import_verdict(name: &str) -> Result<(), String> {
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    if ALLOWED_ZHIYUN.contains(&base) {
        return match version {
            Some(v) if v.starts_with("0.1.") => Ok(()),
            Some(v) => Err(format!(
                "this host speaks zhiyun:app 0.1.x, the component wants {v}"
            )),
            None => Err("contract imports must carry a version".into()),
        };
    }
    if ALLOWED_WASI.contains(&base) {
        return match version {
            Some(v) if v.starts_with("0.2.") => Ok(()),
            _ => Err("only WASI 0.2.x is linked".into()),
        };
    }
    if base.starts_with("wasi:sockets/") || base.starts_with("wasi:http/") {
        return Err("apps may not use the network".into());
    }
    Err("not part of the contract; apps may import only the zhiyun:app interfaces and the WASI interfaces Rust's std needs".into())
}

#[cfg(test)]
mod tests {
    use super::import_verdict;

    #[test]
    fn contract_and_std_wasi_are_allowed() {
        assert!(import_verdict("zhiyun:app/data@0.1.0").is_ok());
        assert!(import_verdict("zhiyun:app/log@0.1.3").is_ok());
        assert!(import_verdict("wasi:cli/environment@0.2.6").is_ok());
        assert!(import_verdict("wasi:filesystem/preopens@0.2.0").is_ok());
    }

    #[test]
    fn everything_else_is_refused_with_a_reason() {
        assert!(
            import_verdict("zhiyun:app/data@0.2.0")
                .unwrap_err()
                .contains("0.1.x")
        );
        assert!(
            import_verdict("wasi:sockets/tcp@0.2.0")
                .unwrap_err()
                .contains("network")
        );
        assert!(import_verdict("wasi:http/outgoing-handler@0.2.0").is_err());
        assert!(import_verdict("evil:net/http").is_err());
        assert!(import_verdict("wasi:cli/environment@0.3.0").is_err());
    }
}
