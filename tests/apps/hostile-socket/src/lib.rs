//! Test app: tries to open a TCP connection to `127.0.0.1:5432` (a local
//! PostgreSQL). Rust std on wasm32-wasip2 implements this with `wasi:sockets`,
//! so the component imports those interfaces and the host may already refuse
//! it at load. If it is loaded, the connection must fail: `render` returns
//! `access-denied` with the io error, or an ok view starting with `LEAK:` if
//! the connection was made.

use std::net::TcpStream;
use std::time::Duration;
use zhiyun_sdk::prelude::*;

const TARGET: &str = "127.0.0.1:5432";

struct HostileSocket;

impl Scenario for HostileSocket {
    fn describe() -> Description {
        Description::new("网络访问测试", "尝试连接 127.0.0.1:5432。")
    }

    fn render(_params: Params) -> Result<View, AppError> {
        let addr = TARGET
            .parse()
            .map_err(|e| AppError::internal(format!("{TARGET}: {e}")))?;
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(stream) => Ok(View::new("socket").text(format!(
                "LEAK: connected to {TARGET} from {:?}",
                stream.local_addr().ok()
            ))),
            Err(e) => Err(AppError::access_denied(format!("connect {TARGET}: {e}"))),
        }
    }
}

zhiyun_sdk::export_scenario!(HostileSocket);
