//! Test app: the compute benchmark. Reads every row of `bench_journal` as
//! plain rows (dimensions `org_id`, `acct_code`, `amount`; no measures, no
//! limit, so the host's row cap applies) and sums `amount` by
//! `(org_id, acct_code)` inside the sandbox with
//! [`zhiyun_sdk::bench::aggregate`] — the same function the host's benchmark
//! runs natively on the same `(&str, &str, i64)` tuples, borrowed from the
//! provider's rows there and from the columns' dictionaries here (no string
//! is copied per row). Returns the groups as a table.

use zhiyun_sdk::prelude::*;

struct ComputeHeavy;

impl Scenario for ComputeHeavy {
    fn describe() -> Description {
        Description::new(
            "计算密集测试",
            "在沙箱内按单位、科目汇总 bench_journal 的金额。",
        )
    }

    fn render(_params: Params) -> Result<View, AppError> {
        let rows = Query::dataset("bench_journal")
            .dimensions(["org_id", "acct_code", "amount"])
            .run()?;
        // Whole columns: two dictionary-encoded text columns and the amounts.
        let (orgs, org_codes) = rows.text_codes("org_id")?;
        let (accts, acct_codes) = rows.text_codes("acct_code")?;
        let amounts = rows.money_column("amount")?;
        let groups =
            zhiyun_sdk::bench::aggregate(org_codes.iter().zip(acct_codes).zip(amounts).map(
                |((&org, &acct), &amount)| {
                    (
                        orgs[org as usize].as_str(),
                        accts[acct as usize].as_str(),
                        amount,
                    )
                },
            ));
        let total: i64 = groups.iter().map(|g| g.2).sum();

        let mut table = Table::new("sums", "按单位、科目汇总").columns([
            TableColumn::text("org_id", "单位"),
            TableColumn::text("acct_code", "科目"),
            TableColumn::money("amount", "金额（元）"),
        ]);
        for (org_id, acct_code, sum) in groups.iter() {
            table.push_row(
                format!("{org_id}/{acct_code}"),
                vec![
                    Value::text(org_id),
                    Value::text(acct_code),
                    Value::money(*sum),
                ],
            );
        }
        Ok(View::new("计算密集测试")
            .kpis(vec![
                Kpi::count("rows", "明细行数", rows.len() as i64),
                Kpi::count("groups", "汇总组数", groups.len() as i64),
                Kpi::money("total", "金额合计", total),
            ])
            .table(table))
    }
}

zhiyun_sdk::export_scenario!(ComputeHeavy);
