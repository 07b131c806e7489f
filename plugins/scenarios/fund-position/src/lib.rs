//! 资金全景监控 (scenario S02): where is the cash, is it safe, is it pooled?
//!
//! The data is the dataset `fund_daily` — the warehouse model
//! `ads_fund_daily` (one row per bank account per day), or in trial runs and
//! tests the fixture of the same shape. At most three queries per render:
//!
//! 1. only when no `date` is given, the `latest_date` measure with no
//!    dimensions: the view opens on the last day with data, wherever the
//!    data ends (the warehouse and the fixture end on different days, so a
//!    fixed default would open on an empty day somewhere);
//! 2. every bank account on the date, grouped by account (one row each):
//!    its master data and flags (`in_pool`, `idle`) as dimensions, its
//!    balances as measures;
//! 3. the day before, closing balance by unit, account type and bank, for
//!    the "较上日" comparison under the same filters.
//!
//! Everything else — the org subtree, the filters, the KPIs, the charts and
//! the table — is computed here from those rows, with integer fen
//! throughout; ratios are divided only for display. The dataset's formula
//! measures (`reserve_coverage`, `pooling_rate`) are not used: not every
//! provider has them, and the ratio of the two sums is the same number.
//!
//! KPIs (finance-domain §1, S02), over the accounts in view:
//!
//! - 账户余额 `balance` = Σ `closing` (book balance); 较上日 = its change
//!   against Σ `closing` of the day before.
//! - 可用余额 `available` = Σ `available`.
//! - 备付覆盖率 `reserve-coverage` = 可用余额 / 安全备付 = Σ `available` /
//!   Σ `safety_reserve`; critical below 1, warning below 1.2.
//! - 资金归集率 `pooling-rate` = 归集额 / 应归集额 = Σ `pooled_closing` /
//!   Σ `closing`: 归集额 is the closing balance of the accounts in the fund
//!   pool (the dataset's `pooled_closing`), 应归集额 the closing balance of
//!   all accounts.
//! - 未达账金额 `unreconciled` = Σ `unreconciled` (bank balance − book
//!   balance, signed, as the dataset sums it); a warning, naming how many
//!   accounts, when any account has one.
//! - 账户数 `accounts`; 低于备付账户 `below-reserve`: accounts with
//!   `available < safety_reserve` (critical when any); 闲置账户数
//!   `idle-accounts`: accounts flagged `idle`, no transaction for 365 days
//!   (warning when any).
//!
//! Parameters, all optional: `org` (org picker; that org and everything
//! below it, default all orgs the user may see), `date` (day, default the
//! latest day with data), `acct_type` and `bank` (only accounts of that
//! type / at that bank). Clicking a bar of the by-unit chart drills into
//! that unit (`org`), a slice of the account-type pie into that type
//! (`acct_type`), a bar of the by-bank chart into that bank (`bank`); the
//! subtitle names the filters in force.

use std::collections::BTreeMap;
use zhiyun_sdk::prelude::*;

const DATASET: &str = "fund_daily";
/// The order account types are listed in (others follow, by name).
const ACCOUNT_TYPES: [&str; 6] = ["电费收入户", "基本户", "一般户", "农网", "农网专户", "专户"];
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
    /// 闲置: no transaction for 365 days.
    idle: bool,
    closing: i64,
    available: i64,
    safety_reserve: i64,
    /// The closing balance if the account is in the fund pool, else 0 (归集额).
    pooled_closing: i64,
    bank_bal: i64,
    /// `bank_bal − closing` (未达账), signed.
    unreconciled: i64,
}

/// The closing balance of the day before, for one unit, account type and
/// bank (the grain the filters need).
#[derive(Debug, Clone, PartialEq)]
struct PriorClosing {
    org_id: String,
    acct_type: String,
    bank: String,
    closing: i64,
}

/// What the user narrowed the view to, besides the date.
#[derive(Debug, Clone, Default, PartialEq)]
struct Selection {
    org: Option<String>,
    acct_type: Option<String>,
    bank: Option<String>,
}

impl Selection {
    fn from_params(params: &Params) -> Result<Self, AppError> {
        Ok(Selection {
            org: params.text("org")?,
            acct_type: params.text("acct_type")?,
            bank: params.text("bank")?,
        })
    }

    /// An account of `acct_type` at `bank` passes the type and bank filters.
    fn keeps(&self, acct_type: &str, bank: &str) -> bool {
        self.acct_type.as_deref().is_none_or(|t| t == acct_type)
            && self.bank.as_deref().is_none_or(|b| b == bank)
    }
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
                "资金在哪里、是否安全、是否归集：账户余额、可用余额、备付覆盖率、资金归集率、未达账金额、闲置账户，按单位、账户类型、银行分析。",
                "Where the cash is, whether it is safe and pooled: balances, available funds, reserve coverage, pooling rate, unreconciled amounts and idle accounts by unit, account type and bank.",
            ),
        )
        .params(filters(&l, &Selection::default(), None))
    }

    fn render(params: Params) -> Result<View, AppError> {
        let ctx = context();
        let labels = Labels {
            en: ctx.is_english(),
        };
        let selection = Selection::from_params(&params)?;
        let Some(date) = resolve_date(params.date("date")?, load_latest_date)? else {
            return Ok(no_data_view(&labels, &selection));
        };

        let (tree, accounts) = load_accounts(date)?;
        let previous = load_prior_closing(date.add_days(-1))?;
        Ok(build_view(
            &labels, &tree, &accounts, &previous, &selection, date,
        ))
    }
}

zhiyun_sdk::export_scenario!(FundPosition);

/// The filter controls, with the values applied.
fn filters(l: &Labels, selection: &Selection, date: Option<Date>) -> Vec<ParameterSpec> {
    let applied = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::text);
    vec![
        ParameterSpec::org_picker("org", l.t("单位", "Unit"))
            .default_value(applied(&selection.org)),
        ParameterSpec::period_picker("date", l.t("日期", "Date"), PeriodGrain::Day)
            .default_value(date.map_or(Value::Null, |d| Value::text(d.to_string()))),
        // Free text, not a select: the names come from the data (the
        // warehouse and the fixture spell banks and types differently).
        ParameterSpec::text("acct_type", l.t("账户类型", "Account type"))
            .default_value(applied(&selection.acct_type)),
        ParameterSpec::text("bank", l.t("开户银行", "Bank"))
            .default_value(applied(&selection.bank)),
    ]
}

/// The date to show: the one asked for, else the latest day with data
/// (asked for only then); `None` when there is no data at all.
fn resolve_date(
    asked: Option<Date>,
    latest: impl FnOnce() -> Result<Option<Date>, AppError>,
) -> Result<Option<Date>, AppError> {
    match asked {
        Some(date) => Ok(Some(date)),
        None => latest(),
    }
}

/// The last `balance_date` the user may see (null when there is none).
fn load_latest_date() -> Result<Option<Date>, AppError> {
    let rows = Query::dataset(DATASET).measures(["latest_date"]).run()?;
    latest_date_in(&rows)
}

/// The `latest_date` of a measure-only query's single row.
fn latest_date_in(rows: &Rows) -> Result<Option<Date>, AppError> {
    match rows.get(0) {
        Some(row) => row.opt_date("latest_date"),
        None => Ok(None),
    }
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
            "idle",
        ])
        .measures([
            "closing",
            "available",
            "safety_reserve",
            "pooled_closing",
            "bank_bal",
            "unreconciled",
        ])
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
                idle: row.bool("idle")?,
                closing: row.money("closing")?,
                available: row.money("available")?,
                safety_reserve: row.money("safety_reserve")?,
                pooled_closing: row.money("pooled_closing")?,
                bank_bal: row.money("bank_bal")?,
                unreconciled: row.money("unreconciled")?,
            })
        })
        .collect::<Result<Vec<_>, AppError>>()?;
    Ok((tree, accounts))
}

/// Closing balance per unit, account type and bank on `date` (empty before
/// the first day of data).
fn load_prior_closing(date: Date) -> Result<Vec<PriorClosing>, AppError> {
    let rows = Query::dataset(DATASET)
        .dimensions(["org_id", "acct_type", "bank"])
        .measures(["closing"])
        .filter_eq("balance_date", date)
        .limit(10_000)
        .run()?;
    rows.iter()
        .map(|row| {
            Ok(PriorClosing {
                org_id: row.text("org_id")?.to_string(),
                acct_type: row.text("acct_type")?.to_string(),
                bank: row.text("bank")?.to_string(),
                closing: row.money("closing")?,
            })
        })
        .collect()
}

/// "No data for this unit on this date, or you may not see it."
fn no_data(l: &Labels) -> TextBlock {
    TextBlock::new(l.t(
        "所选单位在该日期没有账户数据，或您无权查看。",
        "No account data for this unit on this date, or you may not see it.",
    ))
    .tone(Tone::Warning)
}

/// The view when there is no data at all (so no date to show).
fn no_data_view(l: &Labels, selection: &Selection) -> View {
    View::new(l.t("资金全景监控", "Fund position"))
        .filters(filters(l, selection, None))
        .text_block(no_data(l))
}

/// Builds the view from loaded data; pure, so it is unit-tested natively.
fn build_view(
    l: &Labels,
    tree: &OrgTree,
    accounts: &[Account],
    previous: &[PriorClosing],
    selection: &Selection,
    date: Date,
) -> View {
    let org = selection.org.as_deref();
    // The unit in focus: the chosen org, or the single root when there is one.
    let roots = tree.roots();
    let focus: Option<&str> = org.or(match roots.as_slice() {
        [only] => Some(*only),
        _ => None,
    });
    let in_scope = |org_id: &str| org.is_none_or(|o| tree.is_within(org_id, o));
    let scoped: Vec<&Account> = accounts
        .iter()
        .filter(|a| in_scope(&a.org_id) && selection.keeps(&a.acct_type, &a.bank))
        .collect();
    let previous_closing: Option<i64> = (!previous.is_empty()).then(|| {
        previous
            .iter()
            .filter(|p| in_scope(&p.org_id) && selection.keeps(&p.acct_type, &p.bank))
            .map(|p| p.closing)
            .sum()
    });

    let unit_name = match focus {
        Some(id) => tree.label(id).to_string(),
        None => l.t("全部单位", "All units").to_string(),
    };
    let mut subtitle = format!("{unit_name} · {date}");
    if let Some(t) = &selection.acct_type {
        subtitle += &format!(" · {}{t}", l.t("账户类型：", "Type: "));
    }
    if let Some(b) = &selection.bank {
        subtitle += &format!(" · {}{b}", l.t("开户银行：", "Bank: "));
    }
    let mut view = View::new(l.t("资金全景监控", "Fund position"))
        .subtitle(subtitle)
        .filters(filters(l, selection, Some(date)));

    if scoped.is_empty() {
        return view.text_block(no_data(l));
    }

    view = view.kpis(kpis(l, &scoped, previous_closing));
    view = view.chart(by_unit_chart(l, tree, &scoped, focus, &roots));
    view = view.chart(by_key_chart(
        Chart::pie(
            "by-type",
            l.t("账户类型分布（期末余额）", "Balance by account type"),
        )
        .drill_to("acct_type", l.t("账户类型", "Account type")),
        l,
        &scoped,
        |a| a.acct_type.as_str(),
        true,
    ));
    view = view.chart(by_key_chart(
        Chart::horizontal_bar(
            "by-bank",
            l.t("开户银行分布（期末余额）", "Balance by bank"),
        )
        .drill_to("bank", l.t("开户银行", "Bank")),
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

/// The KPI cards; `previous_closing` is the day before's balance under the
/// same filters (`None` when there is no data for that day).
fn kpis(l: &Labels, scoped: &[&Account], previous_closing: Option<i64>) -> Vec<KpiCard> {
    let closing: i64 = scoped.iter().map(|a| a.closing).sum();
    let available: i64 = scoped.iter().map(|a| a.available).sum();
    let reserve: i64 = scoped.iter().map(|a| a.safety_reserve).sum();
    let pooled: i64 = scoped.iter().map(|a| a.pooled_closing).sum();
    let unreconciled: i64 = scoped.iter().map(|a| a.unreconciled).sum();
    let count = |pred: fn(&Account) -> bool| scoped.iter().filter(|a| pred(a)).count() as i64;
    let short = count(|a| a.available < a.safety_reserve);
    let idle = count(|a| a.idle);
    let unreconciled_accounts = count(|a| a.unreconciled != 0);

    let mut balance =
        Kpi::money("balance", l.t("账户余额", "Balance"), closing).format(NumberFormat::WanYuan(2));
    if let Some(previous) = previous_closing.filter(|p| *p != 0) {
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
    let flagged = |n: i64, status: Status| if n > 0 { status } else { Status::Normal };

    let mut unreconciled_card = Kpi::money(
        "unreconciled",
        l.t("未达账金额", "Unreconciled"),
        unreconciled,
    )
    .format(NumberFormat::WanYuan(2))
    .status(flagged(unreconciled_accounts, Status::Warning));
    if unreconciled_accounts > 0 {
        unreconciled_card = unreconciled_card.comparison(if l.en {
            format!("{unreconciled_accounts} account(s)")
        } else {
            format!("涉及 {unreconciled_accounts} 个账户")
        });
    }

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
        unreconciled_card,
        Kpi::count("accounts", l.t("账户数", "Accounts"), scoped.len() as i64),
        Kpi::count("below-reserve", l.t("低于备付账户", "Below reserve"), short)
            .status(flagged(short, Status::Critical)),
        Kpi::count("idle-accounts", l.t("闲置账户数", "Idle accounts"), idle)
            .status(flagged(idle, Status::Warning)),
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
/// unless `type_order` puts account types in their usual order. The
/// category key is the name itself, which is what the drill passes.
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
    let yes_no = |b: bool| {
        Value::text(if b {
            l.t("是", "yes")
        } else {
            l.t("否", "no")
        })
    };
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
        TableColumn::wan_yuan(
            "bank_bal",
            l.t("银行余额（万元）", "Bank balance (10k yuan)"),
            2,
        ),
        TableColumn::money("unreconciled", l.t("未达账（元）", "Unreconciled (yuan)")),
        TableColumn::text("idle", l.t("闲置", "Idle")),
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
                yes_no(a.in_pool),
                Value::money(a.closing),
                Value::money(a.closing),
                Value::money(a.available),
                Value::money(a.safety_reserve),
                Value::opt_float(zhiyun_sdk::ratio(a.available, a.safety_reserve)),
                Value::money(a.bank_bal),
                Value::money(a.unreconciled),
                yes_no(a.idle),
            ],
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Date = Date::new(2026, 11, 30);

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
            idle: false,
            closing,
            available: avail,
            safety_reserve: reserve,
            pooled_closing: if pool { closing } else { 0 },
            bank_bal: closing,
            unreconciled: 0,
        }
    }

    impl Account {
        fn at(mut self, bank: &str) -> Self {
            self.bank = bank.into();
            self
        }
        fn unreconciled(mut self, fen: i64) -> Self {
            self.unreconciled = fen;
            self.bank_bal = self.closing + fen;
            self
        }
        fn idle(mut self) -> Self {
            self.idle = true;
            self
        }
    }

    fn prior(org: &str, t: &str, bank: &str, closing: i64) -> PriorClosing {
        PriorClosing {
            org_id: org.into(),
            acct_type: t.into(),
            bank: bank.into(),
            closing,
        }
    }

    fn fixture() -> (OrgTree, Vec<Account>) {
        let mut tree = OrgTree::new();
        tree.insert("3300", "示范市供电公司", "");
        tree.insert("3301", "一县公司", "3300");
        tree.insert("330101", "城关供电所", "3301");
        tree.insert("3302", "二县公司", "3300");
        let accounts = vec![
            account("3300", "A1", "基本户", true, 1_000_000, 900_000, 500_000).unreconciled(12_345),
            account("3301", "A2", "电费收入户", true, 400_000, 300_000, 100_000).at("农业银行"),
            account("330101", "A3", "一般户", false, 100_000, 50_000, 80_000)
                .unreconciled(-2_000)
                .idle(),
            account("3302", "A4", "专户", false, 500_000, 500_000, 0).at("建设银行"),
        ];
        (tree, accounts)
    }

    fn org(id: &str) -> Selection {
        Selection {
            org: Some(id.into()),
            ..Selection::default()
        }
    }

    fn kpi<'a>(view: &'a View, id: &str) -> &'a KpiCard {
        view.blocks
            .iter()
            .find_map(|b| match b {
                Block::Kpis(cards) => cards.iter().find(|c| c.id == id),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no KPI `{id}`"))
    }

    fn chart<'a>(view: &'a View, id: &str) -> &'a Chart {
        view.blocks
            .iter()
            .find_map(|b| match b {
                Block::Chart(c) if c.id == id => Some(c),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no chart `{id}`"))
    }

    fn table(view: &View) -> &Table {
        match view.blocks.last() {
            Some(Block::Table(t)) => t,
            other => panic!("the last block is not the table: {other:?}"),
        }
    }

    fn filter_value<'a>(view: &'a View, name: &str) -> &'a Value {
        &view
            .filters
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no filter `{name}`"))
            .default_value
    }

    #[test]
    fn whole_company() {
        let (tree, accounts) = fixture();
        let l = Labels { en: false };
        let prev = [
            prior("3300", "基本户", "工商银行", 1_000_000),
            prior("3301", "电费收入户", "农业银行", 1_000_000),
        ];
        let view = build_view(&l, &tree, &accounts, &prev, &Selection::default(), DAY);
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
    fn the_s02_kpis_are_exact() {
        let (tree, accounts) = fixture();
        let l = Labels { en: false };
        let view = build_view(&l, &tree, &accounts, &[], &Selection::default(), DAY);
        let ids: Vec<&str> = match &view.blocks[0] {
            Block::Kpis(cards) => cards.iter().map(|c| c.id.as_str()).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            ids,
            [
                "balance",
                "available",
                "reserve-coverage",
                "pooling-rate",
                "unreconciled",
                "accounts",
                "below-reserve",
                "idle-accounts"
            ]
        );
        // 可用 1 750 000 / 备付 680 000 fen.
        assert_eq!(kpi(&view, "available").value, Value::Money(1_750_000));
        assert_eq!(
            kpi(&view, "reserve-coverage").value,
            Value::Float(1_750_000.0 / 680_000.0)
        );
        assert_eq!(kpi(&view, "reserve-coverage").status, Some(Status::Normal));
        // 未达账: +12 345 − 2 000 fen, in two accounts.
        let unreconciled = kpi(&view, "unreconciled");
        assert_eq!(unreconciled.value, Value::Money(10_345));
        assert_eq!(unreconciled.format, NumberFormat::WanYuan(2));
        assert_eq!(unreconciled.status, Some(Status::Warning));
        assert_eq!(unreconciled.comparison.as_deref(), Some("涉及 2 个账户"));
        assert_eq!(unreconciled.label, "未达账金额");
        let idle = kpi(&view, "idle-accounts");
        assert_eq!(idle.value, Value::Int(1));
        assert_eq!(idle.status, Some(Status::Warning));
        assert_eq!(idle.label, "闲置账户数");
        assert_eq!(kpi(&view, "below-reserve").status, Some(Status::Critical));
        // No day before: no comparison.
        assert_eq!(kpi(&view, "balance").comparison, None);

        // The table carries the new columns, one cell per column.
        let t = table(&view);
        let keys: Vec<&str> = t.columns.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(&keys[10..], ["bank_bal", "unreconciled", "idle"]);
        let a3 = t.rows.iter().find(|r| r.key == "A3").unwrap();
        assert_eq!(a3.cells.len(), t.columns.len());
        assert_eq!(
            &a3.cells[10..],
            [
                Value::Money(98_000),
                Value::Money(-2_000),
                Value::text("是")
            ]
        );

        // A county without either: both KPIs clear, no comparison.
        let view = build_view(&l, &tree, &accounts, &[], &org("3302"), DAY);
        let unreconciled = kpi(&view, "unreconciled");
        assert_eq!(unreconciled.value, Value::Money(0));
        assert_eq!(unreconciled.status, Some(Status::Normal));
        assert_eq!(unreconciled.comparison, None);
        assert_eq!(kpi(&view, "idle-accounts").value, Value::Int(0));
        assert_eq!(kpi(&view, "idle-accounts").status, Some(Status::Normal));
        // Reserve 0: coverage has no value and no alarm.
        assert_eq!(kpi(&view, "reserve-coverage").value, Value::Null);
        assert_eq!(kpi(&view, "reserve-coverage").status, Some(Status::Normal));
    }

    #[test]
    fn the_pooling_rate_reads_the_pooled_balance() {
        let (tree, mut accounts) = fixture();
        // 归集额 is what the data says was pooled, not recomputed from the flag.
        accounts[0].pooled_closing = 600_000;
        let view = build_view(
            &Labels { en: false },
            &tree,
            &accounts,
            &[],
            &Selection::default(),
            DAY,
        );
        // (600 000 + 400 000) / 2 000 000
        assert_eq!(kpi(&view, "pooling-rate").value, Value::Float(0.5));
    }

    #[test]
    fn drilled_into_a_county() {
        let (tree, accounts) = fixture();
        let l = Labels { en: true };
        let view = build_view(&l, &tree, &accounts, &[], &org("3301"), DAY);
        assert_eq!(kpi(&view, "accounts").value, Value::Int(2));
        assert_eq!(kpi(&view, "balance").comparison, None);
        assert_eq!(kpi(&view, "unreconciled").value, Value::Money(-2_000));
        assert_eq!(
            kpi(&view, "unreconciled").comparison.as_deref(),
            Some("1 account(s)")
        );
        assert_eq!(kpi(&view, "idle-accounts").value, Value::Int(1));
        assert_eq!(view.filters[0].default_value, Value::text("3301"));
        let table = table(&view);
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].cells.len(), table.columns.len());
    }

    #[test]
    fn account_type_and_bank_filter_the_view() {
        let (tree, accounts) = fixture();
        let l = Labels { en: false };
        let prev = [
            prior("3300", "基本户", "工商银行", 800_000),
            prior("3301", "电费收入户", "农业银行", 1_000_000),
            prior("330101", "一般户", "工商银行", 200_000),
        ];

        // The charts by type and by bank drill into these parameters.
        let view = build_view(&l, &tree, &accounts, &prev, &Selection::default(), DAY);
        let drill = |id: &str| chart(&view, id).drill.as_ref().map(|d| d.param.clone());
        assert_eq!(drill("by-unit").as_deref(), Some("org"));
        assert_eq!(drill("by-type").as_deref(), Some("acct_type"));
        assert_eq!(drill("by-bank").as_deref(), Some("bank"));
        // Category keys are what the drill passes: the names themselves.
        let banks: Vec<&str> = chart(&view, "by-bank")
            .categories
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(banks, ["工商银行", "建设银行", "农业银行"]);

        let by_type = Selection {
            acct_type: Some("基本户".into()),
            ..Selection::default()
        };
        let view = build_view(&l, &tree, &accounts, &prev, &by_type, DAY);
        assert_eq!(
            view.subtitle.as_deref(),
            Some("示范市供电公司 · 2026-11-30 · 账户类型：基本户")
        );
        assert_eq!(kpi(&view, "accounts").value, Value::Int(1));
        assert_eq!(kpi(&view, "balance").value, Value::Money(1_000_000));
        // The day before under the same filter: 800 000 → 1 000 000.
        assert_eq!(
            kpi(&view, "balance").comparison.as_deref(),
            Some("较上日 +25.0%")
        );
        assert_eq!(filter_value(&view, "acct_type"), &Value::text("基本户"));
        assert_eq!(filter_value(&view, "bank"), &Value::Null);
        assert_eq!(filter_value(&view, "date"), &Value::text("2026-11-30"));

        // Bank and unit together: 城关供电所's 工商银行 account only.
        let both = Selection {
            org: Some("3301".into()),
            bank: Some("工商银行".into()),
            ..Selection::default()
        };
        let view = build_view(&Labels { en: true }, &tree, &accounts, &prev, &both, DAY);
        assert_eq!(
            view.subtitle.as_deref(),
            Some("一县公司 · 2026-11-30 · Bank: 工商银行")
        );
        assert_eq!(kpi(&view, "accounts").value, Value::Int(1));
        assert_eq!(kpi(&view, "balance").value, Value::Money(100_000));
        assert_eq!(
            kpi(&view, "balance").comparison.as_deref(),
            Some("vs. prior day -50.0%")
        );
        assert_eq!(table(&view).rows[0].key, "A3");

        // A filter nothing matches: the no-data warning, filters kept.
        let none = Selection {
            bank: Some("花旗银行".into()),
            ..Selection::default()
        };
        let view = build_view(&l, &tree, &accounts, &prev, &none, DAY);
        assert!(matches!(&view.blocks[..], [Block::Text(t)] if t.tone == Tone::Warning));
        assert_eq!(filter_value(&view, "bank"), &Value::text("花旗银行"));
    }

    #[test]
    fn the_selection_comes_from_the_parameters() {
        let params = Params::from_pairs([
            ("org", Value::text("3301")),
            ("acct_type", Value::text(" 基本户 ")),
            ("bank", Value::text("")),
        ]);
        assert_eq!(
            Selection::from_params(&params).unwrap(),
            Selection {
                org: Some("3301".into()),
                acct_type: Some("基本户".into()),
                bank: None,
            }
        );
    }

    #[test]
    fn the_date_defaults_to_the_latest_day_with_data() {
        let latest = Date::new(2026, 10, 31);
        // Asked for: the latest day is not even looked up.
        let asked = resolve_date(Some(DAY), || panic!("no lookup when a date is given"));
        assert_eq!(asked.unwrap(), Some(DAY));
        assert_eq!(
            resolve_date(None, || Ok(Some(latest))).unwrap(),
            Some(latest)
        );
        assert_eq!(resolve_date(None, || Ok(None)).unwrap(), None);
        let e = resolve_date(None, || Err(AppError::not_found("fund_daily"))).unwrap_err();
        assert!(matches!(e, AppError::NotFound(_)), "{e:?}");

        // The measure-only query's one row: a date, or null without data.
        let rows =
            |v: Value| Rows::new(DataTable::new([("latest_date", ValueKind::Date)]).row(vec![v]));
        assert_eq!(
            latest_date_in(&rows(Value::Date(latest))).unwrap(),
            Some(latest)
        );
        assert_eq!(latest_date_in(&rows(Value::Null)).unwrap(), None);
        assert_eq!(latest_date_in(&Rows::default()).unwrap(), None);
    }

    #[test]
    fn no_data_at_all_says_so() {
        let view = no_data_view(&Labels { en: false }, &org("3301"));
        assert!(matches!(&view.blocks[..], [Block::Text(t)] if t.tone == Tone::Warning));
        assert_eq!(view.subtitle, None);
        assert_eq!(filter_value(&view, "org"), &Value::text("3301"));
        assert_eq!(filter_value(&view, "date"), &Value::Null);
    }

    #[test]
    fn unknown_org_gives_a_warning() {
        let (tree, accounts) = fixture();
        let view = build_view(
            &Labels { en: false },
            &tree,
            &accounts,
            &[],
            &org("9999"),
            DAY,
        );
        assert!(matches!(&view.blocks[..], [Block::Text(t)] if t.tone == Tone::Warning));
    }
}
