//! `{{id}}`: a zhiyun report template (报表模板) — a document the host
//! renders to HTML, CSV, XLSX and PDF. Built for wasm32-wasip2 against the
//! zhiyun SDK.
//!
//! The parameters match `app.toml`: `org` (org picker) and `period` (a month,
//! `YYYYMM`). This example lists each unit's receipts and payments for the
//! month, with a total row.

use std::collections::BTreeMap;
use zhiyun_sdk::prelude::*;

/// The month shown when the caller passes none (the demo data's month).
const DEFAULT_MONTH: Date = Date::new(2026, 11, 1);

struct App;

impl Report for App {
    fn describe() -> Description {
        let ctx = context();
        Description::new(
            ctx.tr("单位收支月报", "Monthly receipts and payments"),
            ctx.tr(
                "各单位银行账户本月收入、支出与净流入。",
                "Receipts, payments and net flow by unit.",
            ),
        )
        .param(ParameterSpec::org_picker("org", ctx.tr("单位", "Unit")))
        .param(
            ParameterSpec::period_picker("period", ctx.tr("期间", "Period"), PeriodGrain::Month)
                .default_value("202611"),
        )
    }

    fn render(params: Params) -> Result<Document, AppError> {
        let ctx = context();
        let month = params.month_or("period", DEFAULT_MONTH)?;
        let org = params.text("org")?;

        // Flows add up over days; balances would not.
        let rows = Query::dataset("fund_daily")
            .dimensions(["org_id", "org_name", "parent_id"])
            .measures(["inflow", "outflow"])
            .filter_between("balance_date", month, month.last_of_month())
            .run()?;
        let tree = OrgTree::from_rows(&rows, "org_id", "org_name", "parent_id")?;

        let mut sums: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for row in rows.iter() {
            let org_id = row.text("org_id")?;
            if org.as_deref().is_some_and(|o| !tree.is_within(org_id, o)) {
                continue;
            }
            let entry = sums.entry(org_id.to_string()).or_insert((0, 0));
            entry.0 += row.money("inflow")?;
            entry.1 += row.money("outflow")?;
        }

        let period = format!("{}{:02}", month.year, month.month);
        let mut doc = Document::new(ctx.tr("单位收支月报", "Monthly receipts and payments"))
            .subtitle(format!(
                "{}：{period}　　{}",
                ctx.tr("期间", "Period"),
                ctx.tr("单位：元", "Amounts in yuan")
            ))
            .parameters(params.to_vec())
            .header_row(vec![
                HeaderCell::new(ctx.tr("单位", "Unit")).row_span(2),
                HeaderCell::group(ctx.tr("本月发生", "This month"), 2),
                HeaderCell::new(ctx.tr("净流入", "Net")).row_span(2),
            ])
            .header_row(vec![
                HeaderCell::new(ctx.tr("收入", "Receipts")),
                HeaderCell::new(ctx.tr("支出", "Payments")),
            ])
            .column("org", NumberFormat::Plain)
            .column("inflow", NumberFormat::Yuan)
            .column("outflow", NumberFormat::Yuan)
            .column("net", NumberFormat::Yuan);

        let (mut total_in, mut total_out) = (0, 0);
        for (org_id, (inflow, outflow)) in &sums {
            total_in += inflow;
            total_out += outflow;
            doc.push_row(ReportRow::new(vec![
                Value::text(tree.label(org_id)),
                Value::money(*inflow),
                Value::money(*outflow),
                Value::money(inflow - outflow),
            ]));
        }
        doc.push_row(ReportRow::total(vec![
            Value::text(ctx.tr("合计", "Total")),
            Value::money(total_in),
            Value::money(total_out),
            Value::money(total_in - total_out),
        ]));
        let doc = doc.footnote(ctx.tr("净流入 = 收入 − 支出。", "Net = receipts − payments."));
        // Catches a header span that does not add up before the host sees it.
        doc.validate()?;
        Ok(doc)
    }
}

zhiyun_sdk::export_report!(App);
