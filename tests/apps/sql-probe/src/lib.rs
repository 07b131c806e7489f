//! Test app: runs the guarded SQL statement given in the `sql` parameter
//! (with `p1` bound to `?1` if given) through the `data.sql` import and
//! shows what came back: a KPI with the row count and a table of the rows,
//! typed as the host returned them. Without a statement it shows a note and
//! makes no host call (that is what the trial run at submission sees).
//! Errors from the host are returned as they are, so tests see their kind.

use zhiyun_sdk::prelude::*;

struct SqlProbe;

impl Scenario for SqlProbe {
    fn describe() -> Description {
        Description::new("SQL 探针", "执行给定的只读 SQL 并展示结果。")
    }

    fn render(params: Params) -> Result<View, AppError> {
        let Some(statement) = params.text("sql")? else {
            return Ok(View::new("SQL 探针").text_block(TextBlock::new("没有 SQL。")));
        };
        let binds: Vec<Value> = params.text("p1")?.map(Value::text).into_iter().collect();
        let rows = zhiyun_sdk::sql(&statement, binds)?;
        let columns: Vec<TableColumn> = rows
            .columns()
            .iter()
            .map(|c| TableColumn::text(c.name.clone(), c.name.clone()))
            .collect();
        let mut table = Table::new("rows", "结果").columns(columns);
        for row in rows.iter() {
            table = table.row(row.index().to_string(), row.values());
        }
        Ok(View::new("SQL 探针")
            .kpis(vec![Kpi::count("rows", "行数", rows.len() as i64)])
            .table(table))
    }
}

zhiyun_sdk::export_scenario!(SqlProbe);
