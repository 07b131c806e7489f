//! 预警 A01 账户余额低于安全备付: one red finding per bank account whose
//! available balance is below its safety reserve on the date.
//!
//! Fingerprint `A01:<acct_no>`, so the host sees the same issue on the next
//! run as the same finding. Evidence: the account's rows for the last
//! [`EVIDENCE_DAYS`] days up to the date (closing, available, reserve), read
//! with one extra query for all flagged accounts together.

use zhiyun_sdk::prelude::*;

const DATASET: &str = "fund_daily";
/// The last day of the fixture data (2026-11).
const DEFAULT_DATE: Date = Date::new(2026, 11, 30);
/// Days of history shown as evidence, the date included.
const EVIDENCE_DAYS: i64 = 7;

struct LowBalance;

/// An account below its reserve.
#[derive(Debug, Clone, PartialEq)]
struct Shortfall {
    org_id: String,
    org_name: String,
    acct_no: String,
    bank: String,
    acct_type: String,
    available: i64,
    safety_reserve: i64,
}

impl AlertRule for LowBalance {
    fn describe() -> Description {
        let ctx = context();
        Description::new(
            ctx.tr("账户余额低于安全备付", "Balance below safety reserve"),
            ctx.tr(
                "可用余额低于安全备付的银行账户（A01，红色）。",
                "Bank accounts whose available balance is below their safety reserve (A01, red).",
            ),
        )
        .param(
            ParameterSpec::period_picker("date", ctx.tr("日期", "Date"), PeriodGrain::Day)
                .default_value(DEFAULT_DATE.to_string()),
        )
    }

    fn evaluate(params: Params) -> Result<Vec<Finding>, AppError> {
        let en = context().is_english();
        let date = params.date_or("date", DEFAULT_DATE)?;

        let rows = Query::dataset(DATASET)
            .dimensions(["org_id", "org_name", "acct_no", "bank", "acct_type"])
            .measures(["available", "safety_reserve"])
            .filter_eq("balance_date", date)
            .limit(10_000)
            .run()?;
        let mut shortfalls = Vec::new();
        for row in rows.iter() {
            let available = row.money("available")?;
            let safety_reserve = row.money("safety_reserve")?;
            if available < safety_reserve {
                shortfalls.push(Shortfall {
                    org_id: row.text("org_id")?.to_string(),
                    org_name: row.text("org_name")?.to_string(),
                    acct_no: row.text("acct_no")?.to_string(),
                    bank: row.text("bank")?.to_string(),
                    acct_type: row.text("acct_type")?.to_string(),
                    available,
                    safety_reserve,
                });
            }
        }
        zhiyun_sdk::info!(
            "A01 {date}: {} of {} accounts below reserve",
            shortfalls.len(),
            rows.len()
        );
        if shortfalls.is_empty() {
            return Ok(Vec::new());
        }

        let history = Query::dataset(DATASET)
            .dimensions(["acct_no", "balance_date"])
            .measures(["closing", "available", "safety_reserve"])
            .filter_in("acct_no", shortfalls.iter().map(|s| s.acct_no.as_str()))
            .filter_between("balance_date", date.add_days(1 - EVIDENCE_DAYS), date)
            .order_asc("acct_no")
            .order_asc("balance_date")
            .run()?;
        let acct_no = history.column("acct_no")?;
        Ok(shortfalls
            .iter()
            .map(|s| {
                let evidence =
                    history.subset(|row| row.text(acct_no).is_ok_and(|no| no == s.acct_no));
                finding(en, s, date, evidence)
            })
            .collect())
    }
}

zhiyun_sdk::export_alert_rule!(LowBalance);

/// One finding; pure, so it is unit-tested natively.
fn finding(en: bool, s: &Shortfall, date: Date, evidence: DataTable) -> Finding {
    let wan = |fen| format_wan_yuan(fen, 2);
    let gap = s.safety_reserve - s.available;
    let message = if en {
        format!(
            "{} account {} at {} ({}): available {} below safety reserve {} on {date}, short by {} (10k yuan).",
            s.org_name,
            s.acct_no,
            s.bank,
            s.acct_type,
            wan(s.available),
            wan(s.safety_reserve),
            wan(gap)
        )
    } else {
        format!(
            "{}{}账户 {}（{}）{date} 可用余额 {} 万元，低于安全备付 {} 万元，缺口 {} 万元。",
            s.org_name,
            s.bank,
            s.acct_no,
            s.acct_type,
            wan(s.available),
            wan(s.safety_reserve),
            wan(gap)
        )
    };
    Finding::new(
        format!("A01:{}", s.acct_no),
        s.org_id.clone(),
        Severity::Red,
        message,
    )
    .observed(Value::money(s.available))
    .threshold(Value::money(s.safety_reserve))
    .evidence(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_names_account_and_gap() {
        let s = Shortfall {
            org_id: "330101".into(),
            org_name: "城关供电所".into(),
            acct_no: "6222001".into(),
            bank: "建设银行".into(),
            acct_type: "一般户".into(),
            available: 1_234_567_890,
            safety_reserve: 2_000_000_000,
        };
        let f = finding(false, &s, DEFAULT_DATE, DataTable::default());
        assert_eq!(f.fingerprint, "A01:6222001");
        assert_eq!(f.severity, Severity::Red);
        assert_eq!(f.observed, Value::Money(1_234_567_890));
        assert_eq!(
            f.message,
            "城关供电所建设银行账户 6222001（一般户）2026-11-30 可用余额 1,234.57 万元，低于安全备付 2,000.00 万元，缺口 765.43 万元。"
        );
    }
}
