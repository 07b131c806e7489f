//! `{{id}}`: a zhiyun scenario (典型场景) — an interactive view with KPI cards,
//! a chart and a table. Built for wasm32-wasip2 against the zhiyun SDK.
//!
//! The parameters match `app.toml`: `org` (org picker: that unit and the
//! units below it) and `date` (a day). Change what it reads and shows; the
//! SDK docs list every builder (`cargo doc -p zhiyun-sdk --open`).

use std::collections::BTreeMap;
use zhiyun_sdk::prelude::*;

/// The day shown when the caller passes none (the last day of the demo data).
const DEFAULT_DATE: Date = Date::new(2026, 11, 30);

struct App;

impl Scenario for App {
    fn describe() -> Description {
        let ctx = context();
        Description::new(
            ctx.tr("账户余额", "Account balances"),
            ctx.tr(
                "各单位银行账户的期末余额。",
                "Closing balance of bank accounts by unit.",
            ),
        )
        .param(ParameterSpec::org_picker("org", ctx.tr("单位", "Unit")))
        .param(
            ParameterSpec::period_picker("date", ctx.tr("日期", "Date"), PeriodGrain::Day)
                .default_value(DEFAULT_DATE.to_string()),
        )
    }

    fn render(params: Params) -> Result<View, AppError> {
        let ctx = context();
        let date = params.date_or("date", DEFAULT_DATE)?;
        let org = params.text("org")?;

        // One row per account; money comes back as i64 fen.
        let rows = Query::dataset("fund_daily")
            .dimensions(["org_id", "org_name", "parent_id", "acct_no"])
            .measures(["closing"])
            .filter_eq("balance_date", date)
            .run()?;
        let tree = OrgTree::from_rows(&rows, "org_id", "org_name", "parent_id")?;

        let mut by_org: BTreeMap<String, i64> = BTreeMap::new();
        let mut table = Table::new("accounts", ctx.tr("账户", "Accounts")).columns([
            TableColumn::text("org", ctx.tr("单位", "Unit")),
            TableColumn::text("acct_no", ctx.tr("账号", "Account no.")),
            TableColumn::wan_yuan(
                "closing",
                ctx.tr("期末余额（万元）", "Closing (10k yuan)"),
                2,
            ),
        ]);
        for row in rows.iter() {
            let org_id = row.text("org_id")?;
            if org.as_deref().is_some_and(|o| !tree.is_within(org_id, o)) {
                continue;
            }
            let closing = row.money("closing")?;
            *by_org.entry(org_id.to_string()).or_insert(0) += closing;
            table.push_row(
                row.text("acct_no")?,
                vec![
                    Value::text(row.text("org_name")?),
                    Value::text(row.text("acct_no")?),
                    Value::money(closing),
                ],
            );
        }

        let total: i64 = by_org.values().sum();
        let mut chart = Chart::bar("by-org", ctx.tr("各单位余额", "Balance by unit"))
            .format(NumberFormat::WanYuan(2))
            .drill("org");
        for org_id in by_org.keys() {
            chart = chart.category(org_id.clone(), tree.label(org_id));
        }
        chart = chart.money_series(ctx.tr("期末余额", "Closing"), by_org.values().copied());

        zhiyun_sdk::info!("{} accounts on {date}", table.rows.len());
        Ok(View::new(ctx.tr("账户余额", "Account balances"))
            .subtitle(date.to_string())
            .filter(
                ParameterSpec::org_picker("org", ctx.tr("单位", "Unit"))
                    .default_value(org.map_or(Value::Null, Value::text)),
            )
            .filter(
                ParameterSpec::period_picker("date", ctx.tr("日期", "Date"), PeriodGrain::Day)
                    .default_value(date.to_string()),
            )
            .kpis(vec![
                Kpi::money("total", ctx.tr("账户余额", "Balance"), total)
                    .format(NumberFormat::WanYuan(2)),
                Kpi::count(
                    "accounts",
                    ctx.tr("账户数", "Accounts"),
                    table.rows.len() as i64,
                ),
            ])
            .chart(chart)
            .table(table))
    }
}

zhiyun_sdk::export_scenario!(App);
