//! Test app: a scenario that makes exactly [`CALLS`] `data.query` calls on
//! `fund_daily`, each for one day of the fixture month with a small limit,
//! and no other host call (no `context`, no `log`). The host's benchmark
//! divides the difference to the `trivial` app by [`CALLS`] to get the cost
//! of one host call.

use zhiyun_sdk::prelude::*;

/// Exactly this many `data.query` calls per render.
pub const CALLS: u8 = 10;
/// Rows per query.
const LIMIT: u32 = 5;

struct HostCalls;

impl Scenario for HostCalls {
    fn describe() -> Description {
        Description::new("宿主调用测试", "对 fund_daily 发起 10 次小查询。")
    }

    fn render(_params: Params) -> Result<View, AppError> {
        let mut rows = 0;
        for day in 1..=CALLS {
            rows += Query::dataset("fund_daily")
                .dimensions(["org_id"])
                .measures(["closing"])
                .filter_eq("balance_date", Date::new(2026, 11, day))
                .limit(LIMIT)
                .run()?
                .len();
        }
        Ok(View::new("宿主调用测试").kpis(vec![
            Kpi::count("calls", "查询次数", i64::from(CALLS)),
            Kpi::count("rows", "返回行数", rows as i64),
        ]))
    }
}

zhiyun_sdk::export_scenario!(HostCalls);
