//! Test app: a scenario that returns a tiny constant view without calling the
//! host at all. The host's tests and benchmarks use it to measure the bare
//! cost of an invocation (instantiate, call, lift the result).

use zhiyun_sdk::prelude::*;

struct Trivial;

impl Scenario for Trivial {
    fn describe() -> Description {
        Description::new("空载测试", "返回固定视图，不访问数据。")
    }

    fn render(_params: Params) -> Result<View, AppError> {
        Ok(View::new("空载测试")
            .kpis(vec![Kpi::count("one", "一", 1)])
            .text("ok"))
    }
}

zhiyun_sdk::export_scenario!(Trivial);
