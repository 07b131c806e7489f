//! 资金全景监控 (scenario S02): where is the cash, is it safe, is it pooled?
//!
//! One query reads every bank account on the chosen date from `fund_daily`
//! (grouped by account, so one row per account); a second reads the day
//! before for the "较上日" comparison. Everything else — the org subtree, the
//! KPIs, the charts and the table — is computed here from those rows, with
//! integer fen throughout; ratios are divided only for display.
//!
//! Parameters: `org` (org picker; that org and everything below it, default
//! all orgs the user may see) and `date` (day, default 2026-11-30, the last
//! day of the fixture month). Clicking a bar of the by-unit chart drills into
//! that unit (`org`).

use std::collections::BTreeMap;
use zhiyun_sdk::prelude::*;

const DATASET: &str = "fund_daily";
/// The last day of the fixture data (2026-11).
const DEFAULT_DATE: Date = Date::new(2026, 11, 30);
/// The order account types are listed in (others follow, by name).
const ACCOUNT_TYPES: [&str; 5] = ["电费收入户", "基本户", "一般户", "农网", "专户"];
/// 备付覆盖率 below 1 is a shortfall; below 1.2 is thin (GK defaults).
const COVERAGE_CRITICAL: (i64, i64) = (1, 1);
const COVERAGE_WARNING: (i64, i64) = (6, 5);

struct FundPosition;

/// One bank account on one date.
#[derive(Debug, Clone, PartialEq)]
struct Account {
    org_id: String,
    acct_no: String,
    bank: String,
    acct_type: String,
    in_pool: bool,
    closing: i64,
    available: i64,
    safety_reserve: i64,
}

/// User-visible text in the invocation's locale.
struct Labels {
    en: bool,
}

impl Labels {
    fn t(&self, zh: &'static str, en: &'static str) -> &'static str {
        if self.en { en } else { zh }
    }
}

impl Scenario for FundPosition {
    fn describe() -> Description {
        let l = Labels {
            en: context().is_english(),
        };
        Description::new(
            l.t("资金全景监控", "Fund position"),
            l.t(
                "资金在哪里、是否安全、是否归集：账户余额、可用余额、备付覆盖率、资金归集率，按单位、账户类型、银行分析。",
                "Where the cash is, whether it is safe and pooled: balances, available funds, reserve coverage and pooling rate by unit, account type and bank.",
            ),
        )
        .params(filters(&l, None, DEFAULT_DATE))
    }

    fn render(params: Params) -> Result<View, AppError> {
        let ctx = context();
        let labels = Labels {
            en: ctx.is_english(),
        };
        let date = params.date_or("date", DEFAULT_DATE)?;
        let org = params.text("org")?;

        let (tree, accounts) = load_accounts(date)?;
        let previous = load_closing_by_org(date.add_days(-1))?;
        Ok(build_view(
            &labels,
            &tree,
            &accounts,
            &previous,
            org.as_deref(),
            date,
        ))
    }
}

zhiyun_sdk::export_scenario!(FundPosition);

/// The filter controls, with the values applied.
fn filters(l: &Labels, org: Option<&str>, date: Date) -> Vec<ParameterSpec> {
    vec![
        ParameterSpec::org_picker("org", l.t("单位", "Unit"))
            .default_value(org.map_or(Value::Null, Value::text)),
        ParameterSpec::period_picker("date", l.t("日期", "Date"), PeriodGrain::Day)
            .default_value(date.to_string()),
    ]
}

/// Every account on `date` the user may see, and the org tree they span.
fn load_accounts(date: Date) -> Result<(OrgTree, Vec<Account>), AppError> {
    let rows = Query::dataset(DATASET)
        .dimensions([
            "org_id",
            "org_name",
            "parent_id",
            "acct_no",
            "bank",
            "acct_type",
            "in_pool",
        ])
        .measures(["closing", "available", "safety_reserve"])
        .filter_eq("balance_date", date)
        .limit(10_000)
        .run()?;
    let tree = OrgTree::from_rows(&rows, "org_id", "org_name", "parent_id")?;
    let accounts = rows
        .iter()
        .map(|row| {
            Ok(Account {
                org_id: row.text("org_id")?.to_string(),
                acct_no: row.text("acct_no")?.to_string(),
                bank: row.text("bank")?.to_string(),
                acct_type: row.text("acct_type")?.to_string(),
                in_pool: row.bool("in_pool")?,
                closing: row.money("closing")?,
                available: row.money("available")?,
                safety_reserve: row.money("safety_reserve")?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok((tree, accounts))
}

/// Closing balance per org on `date` (empty before the first day of data).
fn load_closing_by_org(date: Date) -> Result<BTreeMap<String, i64>, AppError> {
    let rows = Query::dataset(DATASET)
        .dimensions(["org_id"])
        .measures(["closing"])
        .filter_eq("balance_date", date)
        .run()?;
    rows.iter()
        .map(|row| Ok((row.text("org_id")?.to_string(), row.money("closing")?)))
        .collect()
}

/// Builds the view from loaded data; pure, so it is unit-tested natively.
fn build_view(
    l: &Labels,
    tree: &OrgTree,
    accounts: &[Account],
    previous_closing: &BTreeMap<String, i64>,
    org: Option<&str>,
    date: Date,
) -> View {
    // The unit in focus: the chosen org, or the single root when there is one.
    let roots = tree.roots();
    let focus: Option<&str> = org.or(match roots.as_slice() {
        [only] => Some(*only),
        _ => None,
    });
    let in_scope = |org_id: &str| org.is_none_or(|o| tree.is_within(org_id, o));
    let scoped: Vec<&Account> = accounts.iter().filter(|a| in_scope(&a.org_id)).collect();

    let unit_name = match focus {
        Some(id) => tree.label(id).to_string(),
        None => l.t("全部单位", "All units").to_string(),
    };
    let mut view = View::new(l.t("资金全景监控", "Fund position"))
        .subtitle(format!("{unit_name} · {date}"))
        .filters(filters(l, org, date));

    if scoped.is_empty() {
        return view.text_block(
            TextBlock::new(l.t(
                "所选单位在该日期没有账户数据，或您无权查看。",
                "No account data for this unit on this date, or you may not see it.",
            ))
            .tone(Tone::Warning),
        );
    }

    view = view.kpis(kpis(l, &scoped, previous_closing, &in_scope));
    view = view.chart(by_unit_chart(l, tree, &scoped, focus, &roots));
    view = view.chart(by_key_chart(
        Chart::pie(
            "by-type",
            l.t("账户类型分布（期末余额）", "Balance by account type"),
        ),
        l,
        &scoped,
        |a| a.acct_type.as_str(),
        true,
    ));
    view = view.chart(by_key_chart(
        Chart::horizontal_bar(
            "by-bank",
            l.t("开户银行分布（期末余额）", "Balance by bank"),
        ),
        l,
        &scoped,
        |a| a.bank.as_str(),
        false,
    ));

    let short: Vec<&&Account> = scoped
        .iter()
        .filter(|a| a.available < a.safety_reserve)
        .collect();
    if !short.is_empty() {
        let gap: i64 = short.iter().map(|a| a.safety_reserve - a.available).sum();
        let body = if l.en {
            format!(
                "{} account(s) have less available than their safety reserve; total shortfall {} (10k yuan).",
                short.len(),
                format_wan_yuan(gap, 2)
            )
        } else {
            format!(
                "{} 个账户可用余额低于安全备付，缺口合计 {} 万元。",
                short.len(),
                format_wan_yuan(gap, 2)
            )
        };
        view = view.text_block(
            TextBlock::new(body)
                .title(l.t("备付预警", "Reserve alert"))
                .tone(Tone::Negative),
        );
    }

    view.table(accounts_table(l, tree, &scoped))
}

fn kpis(
    l: &Labels,
    scoped: &[&Account],
    previous_closing: &BTreeMap<String, i64>,
    in_scope: &dyn Fn(&str) -> bool,
) -> Vec<KpiCard> {
    let closing: i64 = scoped.iter().map(|a| a.closing).sum();
    let available: i64 = scoped.iter().map(|a| a.available).sum();
    let reserve: i64 = scoped.iter().map(|a| a.safety_reserve).sum();
    let pooled: i64 = scoped.iter().filter(|a| a.in_pool).map(|a| a.closing).sum();
    let short = scoped
        .iter()
        .filter(|a| a.available < a.safety_reserve)
        .count() as i64;

    let mut balance =
        Kpi::money("balance", l.t("账户余额", "Balance"), closing).format(NumberFormat::WanYuan(2));
    let previous: i64 = previous_closing
        .iter()
        .filter(|(org, _)| in_scope(org))
        .map(|(_, fen)| fen)
        .sum();
    if !previous_closing.is_empty() && previous != 0 {
        let change = (closing - previous) as f64 / previous.abs() as f64 * 100.0;
        balance = balance
            .comparison(format!("{} {change:+.1}%", l.t("较上日", "vs. prior day")))
            .trend(match closing.cmp(&previous) {
                std::cmp::Ordering::Greater => Trend::Up,
                std::cmp::Ordering::Less => Trend::Down,
                std::cmp::Ordering::Equal => Trend::Flat,
            });
    }

    // Compare available/reserve with a/b as integers: available * b < reserve * a.
    let below = |(a, b): (i64, i64)| {
        i128::from(available) * i128::from(b) < i128::from(reserve) * i128::from(a)
    };
    let coverage_status = if reserve == 0 {
        Status::Normal
    } else if below(COVERAGE_CRITICAL) {
        Status::Critical
    } else if below(COVERAGE_WARNING) {
        Status::Warning
    } else {
        Status::Normal
    };

    vec![
        balance,
        Kpi::money("available", l.t("可用余额", "Available"), available)
            .format(NumberFormat::WanYuan(2)),
        Kpi::ratio(
            "reserve-coverage",
            l.t("备付覆盖率", "Reserve coverage"),
            available,
            reserve,
        )
        .status(coverage_status),
        Kpi::ratio(
            "pooling-rate",
            l.t("资金归集率", "Pooling rate"),
            pooled,
            closing,
        ),
        Kpi::count("accounts", l.t("账户数", "Accounts"), scoped.len() as i64),
        Kpi::count("below-reserve", l.t("低于备付账户", "Below reserve"), short).status(
            if short > 0 {
                Status::Critical
            } else {
                Status::Normal
            },
        ),
    ]
}

/// Balance by unit one level below the focus (each bar a whole subtree), the
/// focus's own accounts as a separate bar; drill param `org`.
fn by_unit_chart(
    l: &Labels,
    tree: &OrgTree,
    scoped: &[&Account],
    focus: Option<&str>,
    roots: &[&str],
) -> Chart {
    let mut sums: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
    for account in scoped {
        let (key, label) = match focus {
            Some(f) => match tree.branch_of(&account.org_id, f) {
                Some(child) => (child.to_string(), tree.label(child).to_string()),
                // The focus org's own accounts.
                None => (
                    f.to_string(),
                    format!("{}{}", tree.label(f), l.t("本部", " (own)")),
                ),
            },
            None => {
                let root = roots
                    .iter()
                    .find(|r| tree.is_within(&account.org_id, r))
                    .copied()
                    .unwrap_or(account.org_id.as_str());
                (root.to_string(), tree.label(root).to_string())
            }
        };
        let entry = sums.entry(key).or_insert((label, 0, 0));
        entry.1 += account.closing;
        entry.2 += account.available;
    }
    let mut chart = Chart::bar("by-unit", l.t("各单位账户余额", "Balance by unit"))
        .format(NumberFormat::WanYuan(2))
        .drill_to("org", l.t("下级单位", "Sub-unit"));
    for (key, (label, _, _)) in &sums {
        chart = chart.category(key.clone(), label.clone());
    }
    chart
        .money_series(l.t("期末余额", "Closing"), sums.values().map(|v| v.1))
        .money_series(l.t("可用余额", "Available"), sums.values().map(|v| v.2))
}

/// Closing balance grouped by `key` (account type or bank), largest first
/// unless `type_order` puts account types in their usual order.
fn by_key_chart(
    chart: Chart,
    l: &Labels,
    scoped: &[&Account],
    key: impl Fn(&Account) -> &str,
    type_order: bool,
) -> Chart {
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for account in scoped {
        *sums.entry(key(account)).or_insert(0) += account.closing;
    }
    let mut groups: Vec<(&str, i64)> = sums.into_iter().collect();
    if type_order {
        groups.sort_by_key(|(name, _)| type_rank(name));
    } else {
        groups.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    }
    let mut chart = chart.format(NumberFormat::WanYuan(2));
    for (name, _) in &groups {
        chart = chart.category(*name, *name);
    }
    chart.money_series(l.t("期末余额", "Closing"), groups.iter().map(|g| g.1))
}

/// Sort key putting the usual account types first, in their usual order.
fn type_rank(acct_type: &str) -> (usize, &str) {
    let rank = ACCOUNT_TYPES
        .iter()
        .position(|t| *t == acct_type)
        .unwrap_or(ACCOUNT_TYPES.len());
    (rank, acct_type)
}

fn accounts_table(l: &Labels, tree: &OrgTree, scoped: &[&Account]) -> Table {
    let mut table = Table::new("accounts", l.t("账户明细", "Accounts")).columns([
        TableColumn::text("org", l.t("单位", "Unit")),
        TableColumn::text("acct_no", l.t("账号", "Account no.")),
        TableColumn::text("bank", l.t("开户银行", "Bank")),
        TableColumn::text("acct_type", l.t("账户类型", "Type")),
        TableColumn::text("in_pool", l.t("归集", "Pooled")),
        TableColumn::money("closing", l.t("期末余额（元）", "Closing (yuan)")),
        TableColumn::wan_yuan(
            "closing_wan",
            l.t("期末余额（万元）", "Closing (10k yuan)"),
            2,
        ),
        TableColumn::wan_yuan(
            "available",
            l.t("可用余额（万元）", "Available (10k yuan)"),
            2,
        ),
        TableColumn::wan_yuan("reserve", l.t("安全备付（万元）", "Reserve (10k yuan)"), 2),
        TableColumn::percent("coverage", l.t("备付覆盖率", "Coverage"), 1),
    ]);
    let mut rows: Vec<&&Account> = scoped.iter().collect();
    rows.sort_by(|a, b| {
        (
            type_rank(&a.acct_type),
            std::cmp::Reverse(a.closing),
            &a.acct_no,
        )
            .cmp(&(
                type_rank(&b.acct_type),
                std::cmp::Reverse(b.closing),
                &b.acct_no,
            ))
    });
    for a in rows {
        table.push_row(
            a.acct_no.clone(),
            vec![
                Value::text(tree.label(&a.org_id)),
                Value::text(&a.acct_no),
                Value::text(&a.bank),
                Value::text(&a.acct_type),
                Value::text(if a.in_pool {
                    l.t("是", "yes")
                } else {
                    l.t("否", "no")
                }),
                Value::money(a.closing),
                Value::money(a.closing),
                Value::money(a.available),
                Value::money(a.safety_reserve),
                Value::opt_float(zhiyun_sdk::ratio(a.available, a.safety_reserve)),
            ],
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(
        org: &str,
        no: &str,
        t: &str,
        pool: bool,
        closing: i64,
        avail: i64,
        reserve: i64,
    ) -> Account {
        Account {
            org_id: org.into(),
            acct_no: no.into(),
            bank: "工商银行".into(),
            acct_type: t.into(),
            in_pool: pool,
            closing,
            available: avail,
            safety_reserve: reserve,
        }
    }

    fn fixture() -> (OrgTree, Vec<Account>) {
        let mut tree = OrgTree::new();
        tree.insert("3300", "示范市供电公司", "");
        tree.insert("3301", "一县公司", "3300");
        tree.insert("330101", "城关供电所", "3301");
        tree.insert("3302", "二县公司", "3300");
        let accounts = vec![
            account("3300", "A1", "基本户", true, 1_000_000, 900_000, 500_000),
            account("3301", "A2", "电费收入户", true, 400_000, 300_000, 100_000),
            account("330101", "A3", "一般户", false, 100_000, 50_000, 80_000),
            account("3302", "A4", "专户", false, 500_000, 500_000, 0),
        ];
        (tree, accounts)
    }

    fn kpi<'a>(view: &'a View, id: &str) -> &'a KpiCard {
        view.blocks
            .iter()
            .find_map(|b| match b {
                Block::Kpis(cards) => cards.iter().find(|c| c.id == id),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn whole_company() {
        let (tree, accounts) = fixture();
        let l = Labels { en: false };
        let prev = BTreeMap::from([
            ("3300".to_string(), 1_000_000),
            ("3301".to_string(), 1_000_000),
        ]);
        let view = build_view(&l, &tree, &accounts, &prev, None, DEFAULT_DATE);
        assert_eq!(
            view.subtitle.as_deref(),
            Some("示范市供电公司 · 2026-11-30")
        );
        assert_eq!(kpi(&view, "balance").value, Value::Money(2_000_000));
        assert_eq!(
            kpi(&view, "balance").comparison.as_deref(),
            Some("较上日 +0.0%")
        );
        assert_eq!(kpi(&view, "accounts").value, Value::Int(4));
        assert_eq!(kpi(&view, "below-reserve").value, Value::Int(1));
        // pooled 1.4M of 2.0M
        assert_eq!(kpi(&view, "pooling-rate").value, Value::Float(0.7));
        let Block::Chart(by_unit) = &view.blocks[1] else {
            panic!()
        };
        let keys: Vec<&str> = by_unit.categories.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys, ["3300", "3301", "3302"]);
        // 3301's bar covers its 供电所 too.
        assert_eq!(by_unit.series[0].points[1], Value::Money(500_000));
        assert_eq!(by_unit.categories[0].label, "示范市供电公司本部");
    }

    #[test]
    fn drilled_into_a_county() {
        let (tree, accounts) = fixture();
        let l = Labels { en: true };
        let view = build_view(
            &l,
            &tree,
            &accounts,
            &BTreeMap::new(),
            Some("3301"),
            DEFAULT_DATE,
        );
        assert_eq!(kpi(&view, "accounts").value, Value::Int(2));
        assert_eq!(kpi(&view, "balance").comparison, None);
        assert_eq!(view.filters[0].default_value, Value::text("3301"));
        let Some(Block::Table(table)) = view.blocks.last() else {
            panic!()
        };
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].cells.len(), table.columns.len());
    }

    #[test]
    fn unknown_org_gives_a_warning() {
        let (tree, accounts) = fixture();
        let view = build_view(
            &Labels { en: false },
            &tree,
            &accounts,
            &BTreeMap::new(),
            Some("9999"),
            DEFAULT_DATE,
        );
        assert!(matches!(&view.blocks[..], [Block::Text(t)] if t.tone == Tone::Warning));
    }
}
