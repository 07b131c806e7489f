//! 资金日报 (report R09): every bank account on one day, grouped by account
//! type (电费收入户, 基本户, 一般户, 农网, 专户, then any other), with a
//! subtotal per type and a grand total.
//!
//! Columns: 单位, 开户银行, 账号 | 期初 | 本日收, 本日支 | 期末 | 可用 | 安全备付,
//! under a two-level header (账户信息 and 本日发生 group their columns).
//! Amounts in 元. One query; the layout is a pure function, unit-tested.

use std::collections::BTreeMap;
use zhiyun_sdk::prelude::*;

const DATASET: &str = "fund_daily";
/// The last day of the fixture data (2026-11).
const DEFAULT_DATE: Date = Date::new(2026, 11, 30);
/// The order account types are listed in (others follow, by name).
const ACCOUNT_TYPES: [&str; 5] = ["电费收入户", "基本户", "一般户", "农网", "专户"];

struct FundDaily;

/// One account's row on the report date.
#[derive(Debug, Clone, PartialEq)]
struct Account {
    org_id: String,
    acct_no: String,
    bank: String,
    acct_type: String,
    /// opening, inflow, outflow, closing, available, safety_reserve (fen).
    amounts: [i64; 6],
}

const MEASURES: [&str; 6] = [
    "opening",
    "inflow",
    "outflow",
    "closing",
    "available",
    "safety_reserve",
];

impl Report for FundDaily {
    fn describe() -> Description {
        let ctx = context();
        Description::new(
            ctx.tr("资金日报", "Daily fund report"),
            ctx.tr(
                "银行账户按类型分组的当日期初、收支、期末、可用余额与安全备付。",
                "Opening, receipts, payments, closing, available and reserve per bank account, by account type.",
            ),
        )
        .param(ParameterSpec::org_picker("org", ctx.tr("单位", "Unit")))
        .param(
            ParameterSpec::period_picker("date", ctx.tr("日期", "Date"), PeriodGrain::Day)
                .default_value(DEFAULT_DATE.to_string()),
        )
    }

    fn render(params: Params) -> Result<Document, AppError> {
        let ctx = context();
        let date = params.date_or("date", DEFAULT_DATE)?;
        let org = params.text("org")?;

        let rows = Query::dataset(DATASET)
            .dimensions([
                "org_id",
                "org_name",
                "parent_id",
                "acct_no",
                "bank",
                "acct_type",
            ])
            .measures(MEASURES)
            .filter_eq("balance_date", date)
            .limit(10_000)
            .run()?;
        let tree = OrgTree::from_rows(&rows, "org_id", "org_name", "parent_id")?;
        let mut accounts = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let mut amounts = [0; 6];
            for (slot, measure) in amounts.iter_mut().zip(MEASURES) {
                *slot = row.money(measure)?;
            }
            accounts.push(Account {
                org_id: row.text("org_id")?.to_string(),
                acct_no: row.text("acct_no")?.to_string(),
                bank: row.text("bank")?.to_string(),
                acct_type: row.text("acct_type")?.to_string(),
                amounts,
            });
        }
        if let Some(org) = &org {
            accounts.retain(|a| tree.is_within(&a.org_id, org));
        }

        let unit = match (&org, tree.roots().as_slice()) {
            (Some(org), _) => tree.label(org).to_string(),
            (None, [root]) => tree.label(root).to_string(),
            (None, _) => ctx.org_name.clone(),
        };
        let mut effective = vec![Param {
            name: "date".into(),
            value: Value::text(date.to_string()),
        }];
        if let Some(org) = org {
            effective.push(Param {
                name: "org".into(),
                value: Value::text(org),
            });
        }
        let document =
            build_document(ctx.is_english(), &tree, &accounts, &unit, date).parameters(effective);
        // A miscounted header span would only show up in the host's renderers.
        document.validate()?;
        Ok(document)
    }
}

zhiyun_sdk::export_report!(FundDaily);

/// Lays out the report; pure, so it is unit-tested natively.
fn build_document(
    en: bool,
    tree: &OrgTree,
    accounts: &[Account],
    unit: &str,
    date: Date,
) -> Document {
    let t = |zh: &'static str, e: &'static str| if en { e } else { zh };
    let mut doc = Document::new(t("资金日报", "Daily fund report"))
        .subtitle(if en {
            format!("Unit: {unit}    Date: {date}    Amounts in yuan")
        } else {
            format!("编制单位：{unit}　　日期：{date}　　单位：元")
        })
        .header_row(vec![
            HeaderCell::group(t("账户信息", "Account"), 3),
            HeaderCell::new(t("期初余额", "Opening")).row_span(2),
            HeaderCell::group(t("本日发生", "Today"), 2),
            HeaderCell::new(t("期末余额", "Closing")).row_span(2),
            HeaderCell::new(t("可用余额", "Available")).row_span(2),
            HeaderCell::new(t("安全备付", "Safety reserve")).row_span(2),
        ])
        .header_row(vec![
            HeaderCell::new(t("单位", "Unit")),
            HeaderCell::new(t("开户银行", "Bank")),
            HeaderCell::new(t("账号", "Account no.")),
            HeaderCell::new(t("本日收", "Receipts")),
            HeaderCell::new(t("本日支", "Payments")),
        ])
        .column("org", NumberFormat::Plain)
        .column("bank", NumberFormat::Plain)
        .column("acct_no", NumberFormat::Plain);
    for measure in MEASURES {
        doc = doc.column(measure, NumberFormat::Yuan);
    }

    let mut by_type: BTreeMap<(usize, &str), Vec<&Account>> = BTreeMap::new();
    for account in accounts {
        let rank = ACCOUNT_TYPES
            .iter()
            .position(|t| *t == account.acct_type)
            .unwrap_or(ACCOUNT_TYPES.len());
        by_type
            .entry((rank, &account.acct_type))
            .or_default()
            .push(account);
    }

    let amount_cells = |label: String, count: Option<String>, sums: &[i64; 6]| {
        let mut cells = vec![
            Value::text(label),
            Value::Null,
            count.map_or(Value::Null, Value::text),
        ];
        cells.extend(sums.iter().map(|&fen| Value::money(fen)));
        cells
    };
    let accounts_label = |n: usize| {
        if en {
            format!("{n} accounts")
        } else {
            format!("{n} 户")
        }
    };

    let mut total = [0i64; 6];
    let mut unbalanced = 0;
    let mut below_reserve = 0;
    for ((_, acct_type), mut group) in by_type {
        doc.push_heading(acct_type, 0);
        group.sort_by(|a, b| (&a.org_id, &a.acct_no).cmp(&(&b.org_id, &b.acct_no)));
        let mut subtotal = [0i64; 6];
        for account in &group {
            let [opening, inflow, outflow, closing, available, reserve] = account.amounts;
            if opening + inflow - outflow != closing {
                unbalanced += 1;
            }
            if available < reserve {
                below_reserve += 1;
            }
            for (sum, amount) in subtotal.iter_mut().zip(account.amounts) {
                *sum += amount;
            }
            let mut cells = vec![
                Value::text(tree.label(&account.org_id)),
                Value::text(&account.bank),
                Value::text(&account.acct_no),
            ];
            cells.extend(account.amounts.iter().map(|&fen| Value::money(fen)));
            doc.push_row(ReportRow::new(cells).level(1));
        }
        for (sum, amount) in total.iter_mut().zip(subtotal) {
            *sum += amount;
        }
        let label = if en {
            format!("Subtotal {acct_type}")
        } else {
            format!("{acct_type}小计")
        };
        doc.push_row(ReportRow::subtotal(amount_cells(
            label,
            Some(accounts_label(group.len())),
            &subtotal,
        )));
    }
    doc.push_row(ReportRow::total(amount_cells(
        t("合计", "Total").to_string(),
        Some(accounts_label(accounts.len())),
        &total,
    )));

    doc = doc.footnote(t(
        "期末余额 = 期初余额 + 本日收 − 本日支；可用余额为扣除冻结、受限资金后的余额。",
        "Closing = opening + receipts − payments; available excludes frozen and restricted funds.",
    ));
    if below_reserve > 0 {
        doc = doc.footnote(if en {
            format!("{below_reserve} account(s) have less available than their safety reserve (alert A01).")
        } else {
            format!("可用余额低于安全备付的账户 {below_reserve} 户（见预警 A01）。")
        });
    }
    if unbalanced > 0 {
        doc = doc.footnote(if en {
            format!("{unbalanced} account(s) do not satisfy closing = opening + receipts − payments; please check.")
        } else {
            format!("{unbalanced} 个账户期末余额与期初、收支不平，请核对。")
        });
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(org: &str, no: &str, t: &str, amounts: [i64; 6]) -> Account {
        Account {
            org_id: org.into(),
            acct_no: no.into(),
            bank: "农业银行".into(),
            acct_type: t.into(),
            amounts,
        }
    }

    #[test]
    fn groups_subtotals_and_total() {
        let mut tree = OrgTree::new();
        tree.insert("3300", "示范市供电公司", "");
        let accounts = vec![
            account("3300", "2", "基本户", [100, 50, 30, 120, 100, 200]),
            account("3300", "1", "电费收入户", [1_000, 500, 0, 1_500, 1_500, 0]),
            account("3300", "3", "基本户", [10, 0, 0, 11, 5, 0]),
        ];
        let doc = build_document(false, &tree, &accounts, "示范市供电公司", DEFAULT_DATE);
        doc.validate().unwrap();
        let styles: Vec<RowStyle> = doc.rows.iter().map(|r| r.style).collect();
        use RowStyle::*;
        assert_eq!(
            styles,
            [
                Heading, Normal, Subtotal, Heading, Normal, Normal, Subtotal, Total
            ]
        );
        // 电费收入户 comes first whatever the input order.
        assert_eq!(doc.rows[0].cells[0], Value::text("电费收入户"));
        assert_eq!(doc.rows[6].cells[0], Value::text("基本户小计"));
        assert_eq!(doc.rows[6].cells[3], Value::money(110));
        assert_eq!(doc.rows[7].cells[2], Value::text("3 户"));
        assert_eq!(doc.rows[7].cells[6], Value::money(1_631));
        // one below reserve, one unbalanced (10 + 0 - 0 != 11)
        assert_eq!(doc.footnotes.len(), 3);
    }
}
