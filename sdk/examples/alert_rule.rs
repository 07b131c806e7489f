//! `{{id}}`: a zhiyun alert rule (预警规则) — evaluated on a schedule, returns
//! one finding per issue; the host keeps their state, dedupes them by
//! fingerprint and routes them. Built for wasm32-wasip2 against the zhiyun SDK.
//!
//! The parameters match `app.toml`: `date` (the day to check; default
//! yesterday) and `only-pool` (toggle: only accounts in the fund pool). This
//! example flags accounts that paid out more than half their opening balance
//! in one day.

use zhiyun_sdk::prelude::*;

/// Stable rule id: the fingerprint prefix, so a finding keeps its identity
/// across runs.
const RULE: &str = "large-outflow";

struct App;

impl AlertRule for App {
    fn describe() -> Description {
        let ctx = context();
        Description::new(
            ctx.tr("单日大额流出", "Large daily outflow"),
            ctx.tr(
                "单日支出超过期初余额一半的账户。",
                "Accounts paying out over half their opening balance in a day.",
            ),
        )
        .param(ParameterSpec::date("date", ctx.tr("检查日期", "Date")))
        .param(
            ParameterSpec::toggle("only-pool", ctx.tr("仅资金池账户", "Pool accounts only"))
                .default_value(false),
        )
    }

    fn evaluate(params: Params) -> Result<Vec<Finding>, AppError> {
        let ctx = context();
        let date = params.date_or("date", ctx.today().add_days(-1))?;

        let mut query = Query::dataset("fund_daily")
            .dimensions(["org_id", "acct_no", "bank"])
            .measures(["opening", "outflow"])
            .filter_eq("balance_date", date);
        if params.flag("only-pool")? {
            query = query.filter_eq("in_pool", true);
        }
        let rows = query.run()?;

        let mut findings = Vec::new();
        for row in rows.iter() {
            let (opening, outflow) = (row.money("opening")?, row.money("outflow")?);
            // outflow > opening / 2, in integers.
            if opening > 0 && outflow * 2 > opening {
                let acct_no = row.text("acct_no")?;
                let message = format!(
                    "{} {acct_no} {date}: {} {} {}，{} {} {}",
                    row.text("bank")?,
                    ctx.tr("支出", "paid out"),
                    format_wan_yuan(outflow, 2),
                    ctx.tr("万元", "(10k yuan)"),
                    ctx.tr("期初余额", "opening balance"),
                    format_wan_yuan(opening, 2),
                    ctx.tr("万元", "(10k yuan)"),
                );
                findings.push(
                    Finding::new(
                        format!("{RULE}:{acct_no}"),
                        row.text("org_id")?,
                        Severity::Orange,
                        message,
                    )
                    .observed(Value::money(outflow))
                    .threshold(Value::money(opening / 2))
                    .evidence(rows.subset(|r| r.text("acct_no").is_ok_and(|a| a == acct_no))),
                );
            }
        }
        Ok(findings)
    }
}

zhiyun_sdk::export_alert_rule!(App);
