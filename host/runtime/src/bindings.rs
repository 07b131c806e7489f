//! wasmtime bindings generated from `wit/`.
//!
//! All worlds share the same imports, so the imports (and the shared `types`
//! interface) are generated once, from the `imports` world, and the three app
//! worlds refer to them with `with`. One linker then serves every app kind.

pub mod imports {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "imports",
        imports: {
            "zhiyun:app/data": async,
            default: async,
        },
    });
}

pub mod scenario {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "scenario",
        imports: { default: async },
        exports: { default: async },
        with: {
            "zhiyun:app/types": crate::bindings::imports::zhiyun::app::types,
            "zhiyun:app/data": crate::bindings::imports::zhiyun::app::data,
            "zhiyun:app/log": crate::bindings::imports::zhiyun::app::log,
            "zhiyun:app/context": crate::bindings::imports::zhiyun::app::context,
        },
    });
}

pub mod report {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "report",
        imports: { default: async },
        exports: { default: async },
        with: {
            "zhiyun:app/types": crate::bindings::imports::zhiyun::app::types,
            "zhiyun:app/data": crate::bindings::imports::zhiyun::app::data,
            "zhiyun:app/log": crate::bindings::imports::zhiyun::app::log,
            "zhiyun:app/context": crate::bindings::imports::zhiyun::app::context,
        },
    });
}

pub mod alert_rule {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "alert-rule",
        imports: { default: async },
        exports: { default: async },
        with: {
            "zhiyun:app/types": crate::bindings::imports::zhiyun::app::types,
            "zhiyun:app/data": crate::bindings::imports::zhiyun::app::data,
            "zhiyun:app/log": crate::bindings::imports::zhiyun::app::log,
            "zhiyun:app/context": crate::bindings::imports::zhiyun::app::context,
        },
    });
}
