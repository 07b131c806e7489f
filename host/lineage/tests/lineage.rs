//! Column-level lineage of every supported query shape, asserted in full, plus every
//! error variant and a batch of malformed input that must fail cleanly.

use std::collections::{BTreeMap, HashMap};

use zhiyun_lineage::{
    ColumnRef, Dialect, Edge, EdgeKind, IndirectEdge, IndirectKind, LineageError, OutputColumn,
    QueryLineage, Schema, lineage,
};

const I: EdgeKind = EdgeKind::Identity;
const T: EdgeKind = EdgeKind::Transformation;
const A: EdgeKind = EdgeKind::Aggregation;

const JOIN: IndirectKind = IndirectKind::Join;
const FILTER: IndirectKind = IndirectKind::Filter;
const GROUP_BY: IndirectKind = IndirectKind::GroupBy;
const WINDOW: IndirectKind = IndirectKind::Window;
const SORT: IndirectKind = IndirectKind::Sort;
const COND: IndirectKind = IndirectKind::Conditional;

const TXN: &str = "dwd_bank_txn";
const BAL: &str = "dwd_bank_balance_daily";
const ACCT: &str = "dwd_bank_account";
const ORG: &str = "dwd_dim_org";
const PLAN: &str = "dwd_fund_plan";

fn schema() -> BTreeMap<String, Vec<String>> {
    let tables: &[(&str, &[&str])] = &[
        (
            TXN,
            &["acct_no", "txn_time", "dir", "amount", "counterparty"],
        ),
        (
            BAL,
            &["acct_no", "date", "book_bal", "bank_bal", "available"],
        ),
        (
            ACCT,
            &["acct_no", "org_id", "type", "status", "safety_reserve"],
        ),
        (ORG, &["org_id", "name", "parent_id"]),
        (PLAN, &["org_id", "plan_date", "amount"]),
        ("DwdCase", &["Id", "Amount"]),
        ("ods.raw_txn", &["id", "amt"]),
    ];
    tables
        .iter()
        .map(|(name, columns)| {
            (
                name.to_string(),
                columns.iter().map(|c| c.to_string()).collect(),
            )
        })
        .collect()
}

fn col(table: &str, column: &str) -> ColumnRef {
    ColumnRef::new(table, column)
}

fn e(table: &str, column: &str, kind: EdgeKind) -> Edge {
    Edge {
        from: col(table, column),
        kind,
    }
}

fn i(table: &str, column: &str, kind: IndirectKind) -> IndirectEdge {
    IndirectEdge {
        from: col(table, column),
        kind,
    }
}

/// An expected output column; edges may be listed in any order.
fn out(name: &str, mut direct: Vec<Edge>, mut indirect: Vec<IndirectEdge>) -> OutputColumn {
    direct.sort();
    indirect.sort();
    OutputColumn {
        name: name.to_string(),
        direct,
        indirect,
    }
}

/// An expected query lineage; edges and tables may be listed in any order.
fn expected(
    columns: Vec<OutputColumn>,
    mut indirect: Vec<IndirectEdge>,
    tables: &[&str],
) -> QueryLineage {
    indirect.sort();
    let mut tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    tables.sort();
    QueryLineage {
        columns,
        indirect,
        tables,
    }
}

fn strictly_sorted<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|pair| pair[0] < pair[1])
}

/// The documented shape of every result: sorted, deduplicated, one direct edge per column.
fn check_invariants(result: &QueryLineage) {
    for column in &result.columns {
        assert!(
            column
                .direct
                .windows(2)
                .all(|pair| pair[0].from < pair[1].from),
            "direct edges of {} not sorted with one per source: {:?}",
            column.name,
            column.direct
        );
        assert!(
            strictly_sorted(&column.indirect),
            "indirect edges of {} not sorted/deduplicated",
            column.name
        );
    }
    assert!(strictly_sorted(&result.indirect));
    assert!(strictly_sorted(&result.tables));
}

fn run(sql: &str, dialect: Dialect) -> QueryLineage {
    let result = lineage(sql, dialect, &schema())
        .unwrap_or_else(|error| panic!("{dialect:?}: {error}\n{sql}"));
    check_invariants(&result);
    result
}

/// Runs on both dialects and requires the same answer.
fn both(sql: &str) -> QueryLineage {
    let sqlite = run(sql, Dialect::Sqlite);
    let postgres = run(sql, Dialect::Postgres);
    assert_eq!(sqlite, postgres, "dialects disagree on\n{sql}");
    sqlite
}

fn error(sql: &str, dialect: Dialect) -> LineageError {
    match lineage(sql, dialect, &schema()) {
        Ok(result) => panic!("{dialect:?}: expected an error, got {result:?}\n{sql}"),
        Err(error) => error,
    }
}

/// The same error on both dialects.
fn error_both(sql: &str) -> LineageError {
    let sqlite = error(sql, Dialect::Sqlite);
    let postgres = error(sql, Dialect::Postgres);
    assert_eq!(sqlite, postgres, "dialects disagree on\n{sql}");
    sqlite
}

// ---------------------------------------------------------------------------------------
// Plain selects, aliases, names
// ---------------------------------------------------------------------------------------

#[test]
fn plain_columns_are_identity_and_keep_their_names() {
    let result = both("SELECT acct_no, amount AS amt, dwd_bank_txn.dir FROM dwd_bank_txn");
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("amt", vec![e(TXN, "amount", I)], vec![]),
                out("dir", vec![e(TXN, "dir", I)], vec![]),
            ],
            vec![],
            &[TXN],
        )
    );
}

#[test]
fn table_aliases_resolve_to_the_physical_table() {
    for sql in [
        "SELECT x.acct_no, (x.amount) AS amount FROM dwd_bank_txn AS x",
        "SELECT x.acct_no, (x.amount) AS amount FROM dwd_bank_txn x",
        "SELECT X.ACCT_NO, x.Amount AS amount FROM DWD_BANK_TXN x",
    ] {
        assert_eq!(
            both(sql),
            expected(
                vec![
                    out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                    out("amount", vec![e(TXN, "amount", I)], vec![]),
                ],
                vec![],
                &[TXN],
            ),
            "{sql}"
        );
    }
}

#[test]
fn a_bare_column_in_parentheses_keeps_its_name() {
    let result = both("SELECT (amount) FROM dwd_bank_txn");
    assert_eq!(
        result.columns,
        vec![out("amount", vec![e(TXN, "amount", I)], vec![])]
    );
}

#[test]
fn unquoted_names_fold_to_lower_case_and_quoted_names_keep_theirs() {
    let result =
        both("SELECT Acct_No AS AcctNo, \"Id\" AS \"TheId\" FROM dwd_bank_txn, \"DwdCase\"");
    assert_eq!(
        result,
        expected(
            vec![
                out("acctno", vec![e(TXN, "acct_no", I)], vec![]),
                out("TheId", vec![e("DwdCase", "Id", I)], vec![]),
            ],
            vec![],
            &["DwdCase", TXN],
        )
    );

    // Unquoted references match the schema's spelling case-insensitively; the output name
    // of a bare column is the column as the schema spells it.
    let result = both("SELECT id, AMOUNT FROM dwdcase");
    assert_eq!(
        result,
        expected(
            vec![
                out("Id", vec![e("dwdcase", "Id", I)], vec![]),
                out("Amount", vec![e("dwdcase", "Amount", I)], vec![]),
            ],
            vec![],
            &["dwdcase"],
        )
    );
}

#[test]
fn schema_qualified_tables_keep_their_dotted_name() {
    let result = both("SELECT r.id, ods.raw_txn.amt FROM ods.raw_txn, ods.raw_txn AS r");
    assert_eq!(
        result,
        expected(
            vec![
                out("id", vec![e("ods.raw_txn", "id", I)], vec![]),
                out("amt", vec![e("ods.raw_txn", "amt", I)], vec![]),
            ],
            vec![],
            &["ods.raw_txn"],
        )
    );
}

#[test]
fn literals_have_no_inputs() {
    let result = both("SELECT 1 AS one, 'x' AS label, NULL AS nothing");
    assert_eq!(
        result,
        expected(
            vec![
                out("one", vec![], vec![]),
                out("label", vec![], vec![]),
                out("nothing", vec![], vec![]),
            ],
            vec![],
            &[],
        )
    );
}

// ---------------------------------------------------------------------------------------
// Transformations, CASE, casts, dialect syntax
// ---------------------------------------------------------------------------------------

#[test]
fn computed_columns_are_transformations() {
    let result = both(
        "SELECT bank_bal - book_bal AS diff,
                CAST(available AS TEXT) AS available_text,
                COALESCE(available, book_bal, 0) AS usable,
                upper(trim(acct_no)) AS acct,
                round(book_bal * 1.0 / 10000, 2) AS book_wan,
                -bank_bal AS negative,
                book_bal IS NULL AS missing,
                date BETWEEN '2026-01-01' AND '2026-12-31' AS this_year,
                acct_no LIKE '62%' AS is_card
         FROM dwd_bank_balance_daily",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out(
                    "diff",
                    vec![e(BAL, "bank_bal", T), e(BAL, "book_bal", T)],
                    vec![],
                ),
                out("available_text", vec![e(BAL, "available", T)], vec![]),
                out(
                    "usable",
                    vec![e(BAL, "available", T), e(BAL, "book_bal", T)],
                    vec![],
                ),
                out("acct", vec![e(BAL, "acct_no", T)], vec![]),
                out("book_wan", vec![e(BAL, "book_bal", T)], vec![]),
                out("negative", vec![e(BAL, "bank_bal", T)], vec![]),
                out("missing", vec![e(BAL, "book_bal", T)], vec![]),
                out("this_year", vec![e(BAL, "date", T)], vec![]),
                out("is_card", vec![e(BAL, "acct_no", T)], vec![]),
            ],
            vec![],
            &[BAL],
        )
    );
}

#[test]
fn string_concatenation_is_a_transformation_on_both_dialects() {
    let result = both("SELECT acct_no || '-' || dir AS label FROM dwd_bank_txn");
    assert_eq!(
        result.columns,
        vec![out(
            "label",
            vec![e(TXN, "acct_no", T), e(TXN, "dir", T)],
            vec![]
        )]
    );
}

#[test]
fn postgres_double_colon_casts_are_transformations() {
    let result = run(
        "SELECT amount::numeric(18, 2) AS amount, txn_time::date AS day,
                substring(acct_no FROM 1 FOR 4) AS bank, EXTRACT(YEAR FROM txn_time::date) AS y
         FROM dwd_bank_txn",
        Dialect::Postgres,
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("amount", vec![e(TXN, "amount", T)], vec![]),
                out("day", vec![e(TXN, "txn_time", T)], vec![]),
                out("bank", vec![e(TXN, "acct_no", T)], vec![]),
                out("y", vec![e(TXN, "txn_time", T)], vec![]),
            ],
            vec![],
            &[TXN],
        )
    );
    // The portable spelling gives the same answer on SQLite.
    let cast = run(
        "SELECT CAST(amount AS NUMERIC) AS amount, date(txn_time) AS day,
                substr(acct_no, 1, 4) AS bank, strftime('%Y', txn_time) AS y
         FROM dwd_bank_txn",
        Dialect::Sqlite,
    );
    assert_eq!(cast, result);
}

#[test]
fn case_results_are_direct_and_conditions_are_conditional() {
    let result = both(
        "SELECT CASE WHEN dir = '收' THEN amount ELSE -amount END AS signed,
                CASE dir WHEN '收' THEN 'in' ELSE 'out' END AS direction,
                CASE WHEN amount > 100 THEN counterparty END AS big_counterparty
         FROM dwd_bank_txn",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out(
                    "signed",
                    vec![e(TXN, "amount", T)],
                    vec![i(TXN, "dir", COND)],
                ),
                out("direction", vec![], vec![i(TXN, "dir", COND)]),
                // amount is both the condition and not a result: only conditional.
                out(
                    "big_counterparty",
                    vec![e(TXN, "counterparty", T)],
                    vec![i(TXN, "amount", COND)],
                ),
            ],
            vec![],
            &[TXN],
        )
    );
}

#[test]
fn sqlite_iif_is_a_case_in_function_form() {
    let result = run(
        "SELECT iif(dir = '收', amount, 0) AS inflow FROM dwd_bank_txn",
        Dialect::Sqlite,
    );
    assert_eq!(
        result.columns,
        vec![out(
            "inflow",
            vec![e(TXN, "amount", T)],
            vec![i(TXN, "dir", COND)]
        )]
    );
}

// ---------------------------------------------------------------------------------------
// Aggregates, GROUP BY, HAVING, ORDER BY
// ---------------------------------------------------------------------------------------

#[test]
fn aggregates_group_by_and_having() {
    let result = both(
        "SELECT acct_no, SUM(amount) AS total, COUNT(*) AS n, COUNT(DISTINCT counterparty) AS parties,
                MIN(txn_time) AS first_time, MAX(txn_time) AS last_time, AVG(amount) AS mean,
                SUM(CASE WHEN dir = '收' THEN amount ELSE 0 END) / NULLIF(SUM(amount), 0) AS in_share
         FROM dwd_bank_txn
         WHERE txn_time >= '2026-01-01'
         GROUP BY acct_no
         HAVING COUNT(*) > 1 AND SUM(amount) > 0",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("total", vec![e(TXN, "amount", A)], vec![]),
                // COUNT(*) reads no column; the query-level edges still apply to it.
                out("n", vec![], vec![]),
                out("parties", vec![e(TXN, "counterparty", A)], vec![]),
                out("first_time", vec![e(TXN, "txn_time", A)], vec![]),
                out("last_time", vec![e(TXN, "txn_time", A)], vec![]),
                out("mean", vec![e(TXN, "amount", A)], vec![]),
                out(
                    "in_share",
                    vec![e(TXN, "amount", A)],
                    vec![i(TXN, "dir", COND)],
                ),
            ],
            vec![
                i(TXN, "txn_time", FILTER),
                i(TXN, "acct_no", GROUP_BY),
                i(TXN, "amount", FILTER),
            ],
            &[TXN],
        )
    );
}

#[test]
fn nested_aggregates_make_every_input_an_aggregation() {
    let result = both(
        "SELECT SUM(book_bal) / NULLIF(SUM(bank_bal), 0) AS ratio FROM dwd_bank_balance_daily",
    );
    assert_eq!(
        result.columns,
        vec![out(
            "ratio",
            vec![e(BAL, "bank_bal", A), e(BAL, "book_bal", A)],
            vec![]
        )]
    );
}

#[test]
fn sqlite_scalar_min_max_are_transformations() {
    let result = run(
        "SELECT max(book_bal, bank_bal) AS larger, min(book_bal) AS smallest
         FROM dwd_bank_balance_daily",
        Dialect::Sqlite,
    );
    assert_eq!(
        result.columns,
        vec![
            out(
                "larger",
                vec![e(BAL, "bank_bal", T), e(BAL, "book_bal", T)],
                vec![]
            ),
            out("smallest", vec![e(BAL, "book_bal", A)], vec![]),
        ]
    );
}

#[test]
fn aggregate_filter_and_ordering_clauses() {
    let result = run(
        "SELECT SUM(amount) FILTER (WHERE dir = '收') AS inflow,
                string_agg(counterparty, ',' ORDER BY txn_time) AS parties,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS median_amount
         FROM dwd_bank_txn",
        Dialect::Postgres,
    );
    assert_eq!(
        result.columns,
        vec![
            out(
                "inflow",
                vec![e(TXN, "amount", A)],
                vec![i(TXN, "dir", COND)]
            ),
            out(
                "parties",
                vec![e(TXN, "counterparty", A)],
                vec![i(TXN, "txn_time", SORT)]
            ),
            out("median_amount", vec![e(TXN, "amount", A)], vec![]),
        ]
    );
    let result = run(
        "SELECT group_concat(counterparty, ',') AS parties, total(amount) AS t FROM dwd_bank_txn",
        Dialect::Sqlite,
    );
    assert_eq!(
        result.columns,
        vec![
            out("parties", vec![e(TXN, "counterparty", A)], vec![]),
            out("t", vec![e(TXN, "amount", A)], vec![]),
        ]
    );
}

#[test]
fn group_by_accepts_expressions_aliases_and_positions() {
    let expect = expected(
        vec![
            out("day", vec![e(TXN, "txn_time", T)], vec![]),
            out("total", vec![e(TXN, "amount", A)], vec![]),
        ],
        vec![i(TXN, "txn_time", GROUP_BY)],
        &[TXN],
    );
    for group_by in ["substr(txn_time, 1, 10)", "day", "1"] {
        let sql = format!(
            "SELECT substr(txn_time, 1, 10) AS day, SUM(amount) AS total
             FROM dwd_bank_txn GROUP BY {group_by}"
        );
        assert_eq!(both(&sql), expect, "{sql}");
    }
}

#[test]
fn order_by_is_sort_by_name_alias_position_or_expression() {
    let result = both(
        "SELECT acct_no, amount AS amt FROM dwd_bank_txn ORDER BY amt DESC, 1, length(dir) LIMIT 10",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("amt", vec![e(TXN, "amount", I)], vec![]),
            ],
            vec![
                i(TXN, "amount", SORT),
                i(TXN, "acct_no", SORT),
                i(TXN, "dir", SORT),
            ],
            &[TXN],
        )
    );
    // An output name wins over an input column of the same name in ORDER BY.
    let result = both("SELECT dir AS amount FROM dwd_bank_txn ORDER BY amount");
    assert_eq!(result.indirect, vec![i(TXN, "dir", SORT)]);
}

#[test]
fn sqlite_where_may_use_an_output_alias() {
    let result = run(
        "SELECT amount * 2 AS doubled FROM dwd_bank_txn WHERE doubled > 10",
        Dialect::Sqlite,
    );
    assert_eq!(result.indirect, vec![i(TXN, "amount", FILTER)]);
    assert!(matches!(
        error(
            "SELECT amount * 2 AS doubled FROM dwd_bank_txn WHERE doubled > 10",
            Dialect::Postgres
        ),
        LineageError::UnknownColumn { .. }
    ));
}

#[test]
fn distinct_on_is_a_group_by() {
    let result = run(
        "SELECT DISTINCT ON (acct_no) acct_no, amount FROM dwd_bank_txn ORDER BY acct_no, txn_time DESC",
        Dialect::Postgres,
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("amount", vec![e(TXN, "amount", I)], vec![]),
            ],
            vec![
                i(TXN, "acct_no", GROUP_BY),
                i(TXN, "acct_no", SORT),
                i(TXN, "txn_time", SORT),
            ],
            &[TXN],
        )
    );
}

// ---------------------------------------------------------------------------------------
// Joins
// ---------------------------------------------------------------------------------------

#[test]
fn every_join_kind_records_its_on_columns() {
    for join in [
        "JOIN",
        "INNER JOIN",
        "LEFT JOIN",
        "LEFT OUTER JOIN",
        "RIGHT JOIN",
        "FULL OUTER JOIN",
    ] {
        let sql = format!(
            "SELECT a.acct_no, o.name AS org_name
             FROM dwd_bank_account a {join} dwd_dim_org o ON o.org_id = a.org_id AND o.parent_id IS NOT NULL"
        );
        assert_eq!(
            both(&sql),
            expected(
                vec![
                    out("acct_no", vec![e(ACCT, "acct_no", I)], vec![]),
                    out("org_name", vec![e(ORG, "name", I)], vec![]),
                ],
                vec![
                    i(ORG, "org_id", JOIN),
                    i(ACCT, "org_id", JOIN),
                    i(ORG, "parent_id", JOIN),
                ],
                &[ACCT, ORG],
            ),
            "{sql}"
        );
    }
}

#[test]
fn cross_joins_and_comma_joins_have_no_join_edges() {
    for from in [
        "dwd_bank_account a CROSS JOIN dwd_dim_org o",
        "dwd_bank_account a, dwd_dim_org o",
    ] {
        let sql = format!("SELECT a.acct_no, o.name FROM {from} WHERE o.org_id = a.org_id");
        assert_eq!(
            both(&sql),
            expected(
                vec![
                    out("acct_no", vec![e(ACCT, "acct_no", I)], vec![]),
                    out("name", vec![e(ORG, "name", I)], vec![]),
                ],
                vec![i(ORG, "org_id", FILTER), i(ACCT, "org_id", FILTER)],
                &[ACCT, ORG],
            ),
            "{sql}"
        );
    }
}

#[test]
fn using_joins_record_both_sides_and_merge_the_column() {
    let result = both(
        "SELECT acct_no, b.book_bal, a.status
         FROM dwd_bank_balance_daily b JOIN dwd_bank_account a USING (acct_no)",
    );
    assert_eq!(
        result,
        expected(
            vec![
                // Unqualified `acct_no` is the merged column, not ambiguous.
                out("acct_no", vec![e(BAL, "acct_no", I)], vec![]),
                out("book_bal", vec![e(BAL, "book_bal", I)], vec![]),
                out("status", vec![e(ACCT, "status", I)], vec![]),
            ],
            vec![i(BAL, "acct_no", JOIN), i(ACCT, "acct_no", JOIN)],
            &[ACCT, BAL],
        )
    );

    // RIGHT JOIN takes the right side's value; FULL JOIN coalesces both.
    let result = both(
        "SELECT acct_no FROM dwd_bank_balance_daily b RIGHT JOIN dwd_bank_account a USING (acct_no)",
    );
    assert_eq!(
        result.columns,
        vec![out("acct_no", vec![e(ACCT, "acct_no", I)], vec![])]
    );
    let result = both(
        "SELECT acct_no FROM dwd_bank_balance_daily b FULL JOIN dwd_bank_account a USING (acct_no)",
    );
    assert_eq!(
        result.columns,
        vec![out(
            "acct_no",
            vec![e(ACCT, "acct_no", T), e(BAL, "acct_no", T)],
            vec![]
        )]
    );
}

#[test]
fn star_after_using_follows_each_database() {
    let sql = "SELECT * FROM dwd_dim_org o JOIN dwd_fund_plan p USING (org_id)";
    let names = |dialect| -> Vec<String> {
        run(sql, dialect)
            .columns
            .into_iter()
            .map(|c| c.name)
            .collect()
    };
    // SQLite keeps the left table's order and drops the right-hand duplicate.
    assert_eq!(
        names(Dialect::Sqlite),
        ["org_id", "name", "parent_id", "plan_date", "amount"]
    );
    // PostgreSQL moves the USING columns first (here the same order).
    assert_eq!(
        names(Dialect::Postgres),
        ["org_id", "name", "parent_id", "plan_date", "amount"]
    );

    let sql = "SELECT * FROM dwd_fund_plan p JOIN dwd_dim_org o USING (org_id)";
    assert_eq!(
        run(sql, Dialect::Sqlite)
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["org_id", "plan_date", "amount", "name", "parent_id"]
    );
    let sql = "SELECT * FROM dwd_bank_txn t JOIN dwd_bank_balance_daily b USING (acct_no)";
    assert_eq!(
        run(sql, Dialect::Postgres)
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "acct_no",
            "txn_time",
            "dir",
            "amount",
            "counterparty",
            "date",
            "book_bal",
            "bank_bal",
            "available"
        ]
    );
    let sql = "SELECT * FROM dwd_dim_org o JOIN dwd_fund_plan p USING (amount)";
    assert_eq!(
        error(sql, Dialect::Sqlite),
        LineageError::UnknownColumn {
            column: "amount".to_string(),
            searched: vec!["dwd_dim_org AS o".to_string()],
        }
    );
}

#[test]
fn postgres_star_after_using_puts_the_using_column_first() {
    let sql = "SELECT * FROM dwd_fund_plan p JOIN dwd_dim_org o USING (org_id)";
    let result = run(sql, Dialect::Postgres);
    assert_eq!(
        result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["org_id", "plan_date", "amount", "name", "parent_id"]
    );
    let sql = "SELECT * FROM dwd_bank_account a JOIN dwd_dim_org o USING (org_id)";
    let result = run(sql, Dialect::Postgres);
    assert_eq!(
        result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "org_id",
            "acct_no",
            "type",
            "status",
            "safety_reserve",
            "name",
            "parent_id"
        ]
    );
    let result = run(sql, Dialect::Sqlite);
    assert_eq!(
        result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "acct_no",
            "org_id",
            "type",
            "status",
            "safety_reserve",
            "name",
            "parent_id"
        ]
    );
    assert_eq!(
        result.columns[1],
        out("org_id", vec![e(ACCT, "org_id", I)], vec![])
    );
}

#[test]
fn natural_joins_use_the_common_columns() {
    let result = both("SELECT org_id, name, plan_date FROM dwd_dim_org NATURAL JOIN dwd_fund_plan");
    assert_eq!(
        result,
        expected(
            vec![
                out("org_id", vec![e(ORG, "org_id", I)], vec![]),
                out("name", vec![e(ORG, "name", I)], vec![]),
                out("plan_date", vec![e(PLAN, "plan_date", I)], vec![]),
            ],
            vec![i(ORG, "org_id", JOIN), i(PLAN, "org_id", JOIN)],
            &[ORG, PLAN],
        )
    );
}

#[test]
fn parenthesised_joins_are_flattened() {
    let result = both(
        "SELECT a.acct_no, o.name FROM (dwd_bank_account a JOIN dwd_dim_org o ON o.org_id = a.org_id)",
    );
    assert_eq!(
        result.indirect,
        vec![i(ACCT, "org_id", JOIN), i(ORG, "org_id", JOIN)]
    );
}

// ---------------------------------------------------------------------------------------
// CTEs and derived tables
// ---------------------------------------------------------------------------------------

#[test]
fn ctes_resolve_to_physical_columns_and_compose_kinds() {
    let result = both(
        "WITH daily AS (
             SELECT acct_no, substr(txn_time, 1, 10) AS day, SUM(amount) AS total
             FROM dwd_bank_txn WHERE dir = '收' GROUP BY acct_no, substr(txn_time, 1, 10)
         ),
         ranked AS (
             SELECT acct_no, day, total, total * 2 AS doubled FROM daily WHERE total > 0
         )
         SELECT acct_no AS account, day, total, doubled, upper(acct_no) AS shout FROM ranked",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("account", vec![e(TXN, "acct_no", I)], vec![]),
                // Identity of a transformation is a transformation.
                out("day", vec![e(TXN, "txn_time", T)], vec![]),
                // Identity of an aggregation is an aggregation…
                out("total", vec![e(TXN, "amount", A)], vec![]),
                // …and so is a transformation of one.
                out("doubled", vec![e(TXN, "amount", A)], vec![]),
                out("shout", vec![e(TXN, "acct_no", T)], vec![]),
            ],
            vec![
                i(TXN, "dir", FILTER),
                i(TXN, "acct_no", GROUP_BY),
                i(TXN, "txn_time", GROUP_BY),
                // `WHERE total > 0` in the second CTE filters on the aggregated amount.
                i(TXN, "amount", FILTER),
            ],
            &[TXN],
        )
    );
}

#[test]
fn cte_column_lists_name_the_columns() {
    let result = both(
        "WITH t(account, n) AS (SELECT acct_no, COUNT(*) FROM dwd_bank_txn GROUP BY acct_no)
         SELECT account, n FROM t",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("account", vec![e(TXN, "acct_no", I)], vec![]),
                out("n", vec![], vec![]),
            ],
            vec![i(TXN, "acct_no", GROUP_BY)],
            &[TXN],
        )
    );
}

#[test]
fn unreferenced_ctes_are_checked_but_not_read() {
    let result = both(
        "WITH unused AS (SELECT name FROM dwd_dim_org WHERE parent_id IS NULL)
         SELECT acct_no FROM dwd_bank_txn",
    );
    assert_eq!(
        result,
        expected(
            vec![out("acct_no", vec![e(TXN, "acct_no", I)], vec![])],
            vec![],
            &[TXN],
        )
    );
    // …but an error inside one is still an error.
    assert!(matches!(
        error_both(
            "WITH unused AS (SELECT nope FROM dwd_dim_org) SELECT acct_no FROM dwd_bank_txn"
        ),
        LineageError::UnknownColumn { .. }
    ));
}

#[test]
fn a_cte_shadows_a_table_of_the_same_name() {
    let result = both(
        "WITH dwd_dim_org AS (SELECT acct_no AS org_id, dir AS name FROM dwd_bank_txn)
         SELECT name FROM dwd_dim_org",
    );
    assert_eq!(
        result,
        expected(
            vec![out("name", vec![e(TXN, "dir", I)], vec![])],
            vec![],
            &[TXN],
        )
    );
}

#[test]
fn cte_scoping_and_nested_with() {
    // A WITH inside a derived table shadows the outer CTE there and only there; its
    // ORDER BY is recorded as a sort like any other.
    let result = both(
        "WITH c AS (SELECT name AS v FROM dwd_dim_org)
         SELECT s.v, c.v AS outer_v
         FROM (WITH c AS (SELECT plan_date AS v FROM dwd_fund_plan ORDER BY amount) SELECT v FROM c) s, c",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("v", vec![e(PLAN, "plan_date", I)], vec![]),
                out("outer_v", vec![e(ORG, "name", I)], vec![]),
            ],
            vec![i(PLAN, "amount", SORT)],
            &[ORG, PLAN],
        )
    );
    // It is not visible outside.
    assert_eq!(
        error_both(
            "SELECT s.v FROM (WITH inner_c AS (SELECT name AS v FROM dwd_dim_org) SELECT v FROM inner_c) s,
                    inner_c"
        ),
        LineageError::UnknownTable("inner_c".to_string())
    );
    // A CTE used only inside a WHERE subquery is read, and its filters are filters.
    let result = both(
        "WITH big AS (SELECT org_id FROM dwd_fund_plan WHERE amount > 100)
         SELECT name FROM dwd_dim_org WHERE org_id IN (SELECT org_id FROM big)",
    );
    assert_eq!(
        result,
        expected(
            vec![out("name", vec![e(ORG, "name", I)], vec![])],
            vec![
                i(ORG, "org_id", FILTER),
                i(PLAN, "org_id", FILTER),
                i(PLAN, "amount", FILTER),
            ],
            &[ORG, PLAN],
        )
    );
}

#[test]
fn derived_tables_resolve_through_their_alias() {
    let result = both(
        "SELECT s.acct_no, s.total * 100 AS cents
         FROM (SELECT acct_no, SUM(amount) AS total FROM dwd_bank_txn GROUP BY acct_no) AS s
         WHERE s.total > 0",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("cents", vec![e(TXN, "amount", A)], vec![]),
            ],
            vec![i(TXN, "acct_no", GROUP_BY), i(TXN, "amount", FILTER)],
            &[TXN],
        )
    );
}

#[test]
fn derived_table_column_lists_and_nesting() {
    let result = both(
        "SELECT x.k, x.v
         FROM (SELECT * FROM (SELECT org_id, amount * 2 FROM dwd_fund_plan) AS inner_t(a, b)) AS x(k, v)",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("k", vec![e(PLAN, "org_id", I)], vec![]),
                out("v", vec![e(PLAN, "amount", T)], vec![]),
            ],
            vec![],
            &[PLAN],
        )
    );
}

#[test]
fn stars_expand_from_the_schema_and_from_ctes() {
    let result = both("SELECT * FROM dwd_dim_org");
    assert_eq!(
        result,
        expected(
            vec![
                out("org_id", vec![e(ORG, "org_id", I)], vec![]),
                out("name", vec![e(ORG, "name", I)], vec![]),
                out("parent_id", vec![e(ORG, "parent_id", I)], vec![]),
            ],
            vec![],
            &[ORG],
        )
    );

    let result = both(
        "WITH c AS (SELECT org_id, SUM(amount) AS planned FROM dwd_fund_plan GROUP BY org_id)
         SELECT o.name, c.* FROM dwd_dim_org o JOIN c ON c.org_id = o.org_id",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("name", vec![e(ORG, "name", I)], vec![]),
                out("org_id", vec![e(PLAN, "org_id", I)], vec![]),
                out("planned", vec![e(PLAN, "amount", A)], vec![]),
            ],
            vec![
                i(PLAN, "org_id", GROUP_BY),
                i(PLAN, "org_id", JOIN),
                i(ORG, "org_id", JOIN),
            ],
            &[ORG, PLAN],
        )
    );

    // `*` over a join lists every FROM item's columns in order.
    let result = both("SELECT * FROM dwd_dim_org o, dwd_fund_plan p");
    assert_eq!(
        result
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        [
            "org_id",
            "name",
            "parent_id",
            "org_id",
            "plan_date",
            "amount"
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Set operations
// ---------------------------------------------------------------------------------------

#[test]
fn set_operations_draw_each_column_from_every_branch() {
    for op in ["UNION", "UNION ALL", "INTERSECT", "EXCEPT"] {
        let sql = format!(
            "SELECT org_id AS id, amount FROM dwd_fund_plan WHERE plan_date > '2026-01-01'
             {op}
             SELECT acct_no, SUM(amount) AS ignored_name FROM dwd_bank_txn GROUP BY acct_no"
        );
        assert_eq!(
            both(&sql),
            expected(
                vec![
                    out(
                        "id",
                        vec![e(PLAN, "org_id", I), e(TXN, "acct_no", I)],
                        vec![],
                    ),
                    out(
                        "amount",
                        vec![e(PLAN, "amount", I), e(TXN, "amount", A)],
                        vec![],
                    ),
                ],
                vec![i(PLAN, "plan_date", FILTER), i(TXN, "acct_no", GROUP_BY)],
                &[PLAN, TXN],
            ),
            "{sql}"
        );
    }
}

#[test]
fn set_operations_take_order_by_on_output_names_and_chain() {
    let result = both(
        "SELECT org_id AS id FROM dwd_fund_plan
         UNION SELECT org_id FROM dwd_dim_org
         UNION ALL SELECT acct_no FROM dwd_bank_account
         ORDER BY id LIMIT 5",
    );
    assert_eq!(
        result,
        expected(
            vec![out(
                "id",
                vec![
                    e(PLAN, "org_id", I),
                    e(ORG, "org_id", I),
                    e(ACCT, "acct_no", I),
                ],
                vec![],
            )],
            vec![
                i(PLAN, "org_id", SORT),
                i(ORG, "org_id", SORT),
                i(ACCT, "acct_no", SORT),
            ],
            &[PLAN, ORG, ACCT],
        )
    );
}

#[test]
fn a_union_inside_a_cte_composes() {
    let result = both(
        "WITH flows AS (
             SELECT acct_no, amount FROM dwd_bank_txn WHERE dir = '收'
             UNION ALL
             SELECT acct_no, -amount FROM dwd_bank_txn WHERE dir = '付'
         )
         SELECT acct_no, SUM(amount) AS net FROM flows GROUP BY acct_no",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("net", vec![e(TXN, "amount", A)], vec![]),
            ],
            vec![i(TXN, "dir", FILTER), i(TXN, "acct_no", GROUP_BY)],
            &[TXN],
        )
    );
}

// ---------------------------------------------------------------------------------------
// Subqueries in expressions
// ---------------------------------------------------------------------------------------

#[test]
fn scalar_subqueries_in_the_select_list() {
    let result = both(
        "SELECT a.acct_no,
                (SELECT o.name FROM dwd_dim_org o WHERE o.org_id = a.org_id) AS org_name,
                (SELECT SUM(t.amount) FROM dwd_bank_txn t WHERE t.acct_no = a.acct_no) AS total
         FROM dwd_bank_account a",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(ACCT, "acct_no", I)], vec![]),
                // A lookup passes the value through; its filter (correlated to the outer
                // account) decides this column only.
                out(
                    "org_name",
                    vec![e(ORG, "name", I)],
                    vec![i(ORG, "org_id", FILTER), i(ACCT, "org_id", FILTER)],
                ),
                out(
                    "total",
                    vec![e(TXN, "amount", A)],
                    vec![i(TXN, "acct_no", FILTER), i(ACCT, "acct_no", FILTER)],
                ),
            ],
            vec![],
            &[ACCT, ORG, TXN],
        )
    );
}

#[test]
fn subqueries_in_where_are_filters() {
    let result = both(
        "SELECT acct_no FROM dwd_bank_account a
         WHERE org_id IN (SELECT org_id FROM dwd_dim_org WHERE parent_id = 1)
           AND EXISTS (SELECT * FROM dwd_bank_txn t WHERE t.acct_no = a.acct_no AND t.amount > 0)
           AND safety_reserve < (SELECT MAX(book_bal) FROM dwd_bank_balance_daily)",
    );
    assert_eq!(
        result,
        expected(
            vec![out("acct_no", vec![e(ACCT, "acct_no", I)], vec![])],
            vec![
                i(ACCT, "org_id", FILTER),
                i(ORG, "org_id", FILTER),
                i(ORG, "parent_id", FILTER),
                // EXISTS reads only the rows: its `*` contributes nothing.
                i(TXN, "acct_no", FILTER),
                i(TXN, "amount", FILTER),
                i(ACCT, "acct_no", FILTER),
                i(ACCT, "safety_reserve", FILTER),
                i(BAL, "book_bal", FILTER),
            ],
            &[ACCT, BAL, ORG, TXN],
        )
    );
}

#[test]
fn correlated_subqueries_reach_outer_ctes_and_derived_tables() {
    let result = both(
        "WITH acct AS (SELECT acct_no AS no, upper(org_id) AS org FROM dwd_bank_account)
         SELECT acct.no,
                (SELECT COUNT(*) FROM dwd_bank_txn t WHERE t.acct_no = acct.no AND org = 'X') AS n
         FROM acct",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("no", vec![e(ACCT, "acct_no", I)], vec![]),
                out(
                    "n",
                    vec![],
                    vec![
                        i(TXN, "acct_no", FILTER),
                        i(ACCT, "acct_no", FILTER),
                        i(ACCT, "org_id", FILTER),
                    ],
                ),
            ],
            vec![],
            &[ACCT, TXN],
        )
    );
}

#[test]
fn postgres_lateral_subqueries_see_the_items_to_their_left() {
    let result = run(
        "SELECT a.acct_no, s.total
         FROM dwd_bank_account a,
              LATERAL (SELECT SUM(t.amount) AS total FROM dwd_bank_txn t WHERE t.acct_no = a.acct_no) s",
        Dialect::Postgres,
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(ACCT, "acct_no", I)], vec![]),
                out("total", vec![e(TXN, "amount", A)], vec![]),
            ],
            vec![i(TXN, "acct_no", FILTER), i(ACCT, "acct_no", FILTER)],
            &[ACCT, TXN],
        )
    );
    // Without LATERAL the sibling is out of reach.
    assert!(matches!(
        error(
            "SELECT s.total FROM dwd_bank_account a,
                  (SELECT SUM(t.amount) AS total FROM dwd_bank_txn t WHERE t.acct_no = a.acct_no) s",
            Dialect::Postgres
        ),
        LineageError::UnknownTable(table) if table == "a"
    ));
}

// ---------------------------------------------------------------------------------------
// Window functions
// ---------------------------------------------------------------------------------------

#[test]
fn window_functions_transform_their_arguments_and_record_the_window() {
    let result = both(
        "SELECT acct_no,
                SUM(amount) OVER (PARTITION BY acct_no ORDER BY txn_time) AS running,
                ROW_NUMBER() OVER (PARTITION BY dir ORDER BY amount DESC) AS rn,
                LAG(amount, 1) OVER w AS previous
         FROM dwd_bank_txn
         WINDOW w AS (PARTITION BY counterparty ORDER BY txn_time)",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("running", vec![e(TXN, "amount", T)], vec![]),
                out("rn", vec![], vec![]),
                out("previous", vec![e(TXN, "amount", T)], vec![]),
            ],
            vec![
                i(TXN, "acct_no", WINDOW),
                i(TXN, "txn_time", WINDOW),
                i(TXN, "dir", WINDOW),
                i(TXN, "amount", WINDOW),
                i(TXN, "counterparty", WINDOW),
            ],
            &[TXN],
        )
    );
}

#[test]
fn an_aggregate_inside_a_window_stays_an_aggregation() {
    let result = both(
        "SELECT acct_no, SUM(SUM(amount)) OVER (ORDER BY acct_no) AS cumulative
         FROM dwd_bank_txn GROUP BY acct_no",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("cumulative", vec![e(TXN, "amount", A)], vec![]),
            ],
            vec![i(TXN, "acct_no", GROUP_BY), i(TXN, "acct_no", WINDOW)],
            &[TXN],
        )
    );
}

#[test]
fn a_window_filtered_in_an_outer_query() {
    let result = both(
        "SELECT acct_no, amount FROM (
             SELECT acct_no, amount, ROW_NUMBER() OVER (PARTITION BY acct_no ORDER BY txn_time DESC) AS rn
             FROM dwd_bank_txn
         ) latest WHERE rn = 1",
    );
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(TXN, "acct_no", I)], vec![]),
                out("amount", vec![e(TXN, "amount", I)], vec![]),
            ],
            vec![i(TXN, "acct_no", WINDOW), i(TXN, "txn_time", WINDOW)],
            &[TXN],
        )
    );
}

// ---------------------------------------------------------------------------------------
// The realistic model
// ---------------------------------------------------------------------------------------

const FUND_MODEL: &str = "
WITH txn AS (
  SELECT acct_no, substr(txn_time, 1, 10) AS day,
         SUM(CASE WHEN dir = '收' THEN amount ELSE 0 END) AS inflow,
         SUM(CASE WHEN dir = '付' THEN amount ELSE 0 END) AS outflow,
         MAX(txn_time) AS last_txn_time
  FROM dwd_bank_txn GROUP BY acct_no, substr(txn_time, 1, 10)
)
SELECT b.acct_no, b.date AS balance_date, a.org_id, o.name AS org_name, a.type AS acct_type,
       b.book_bal AS closing, b.available, a.safety_reserve, COALESCE(t.inflow, 0) AS inflow,
       b.bank_bal - b.book_bal AS unreconciled
FROM dwd_bank_balance_daily b
JOIN dwd_bank_account a ON a.acct_no = b.acct_no
JOIN dwd_dim_org o ON o.org_id = a.org_id
LEFT JOIN txn t ON t.acct_no = b.acct_no AND t.day = b.date
WHERE a.status = '正常'
";

#[test]
fn realistic_fund_position_model() {
    let result = both(FUND_MODEL);
    assert_eq!(
        result,
        expected(
            vec![
                out("acct_no", vec![e(BAL, "acct_no", I)], vec![]),
                out("balance_date", vec![e(BAL, "date", I)], vec![]),
                out("org_id", vec![e(ACCT, "org_id", I)], vec![]),
                out("org_name", vec![e(ORG, "name", I)], vec![]),
                out("acct_type", vec![e(ACCT, "type", I)], vec![]),
                out("closing", vec![e(BAL, "book_bal", I)], vec![]),
                out("available", vec![e(BAL, "available", I)], vec![]),
                out("safety_reserve", vec![e(ACCT, "safety_reserve", I)], vec![]),
                out(
                    "inflow",
                    vec![e(TXN, "amount", A)],
                    vec![i(TXN, "dir", COND)],
                ),
                out(
                    "unreconciled",
                    vec![e(BAL, "bank_bal", T), e(BAL, "book_bal", T)],
                    vec![],
                ),
            ],
            vec![
                i(ACCT, "acct_no", JOIN),
                i(BAL, "acct_no", JOIN),
                i(ORG, "org_id", JOIN),
                i(ACCT, "org_id", JOIN),
                i(TXN, "acct_no", JOIN),
                // `t.day` is substr(txn_time, …): the join reaches the physical column.
                i(TXN, "txn_time", JOIN),
                i(BAL, "date", JOIN),
                i(ACCT, "status", FILTER),
                i(TXN, "acct_no", GROUP_BY),
                i(TXN, "txn_time", GROUP_BY),
            ],
            &[ACCT, BAL, ORG, TXN],
        )
    );
}

#[test]
fn results_serialize_with_snake_case_kinds() {
    let result = both(FUND_MODEL);
    let json = serde_json::to_value(&result).expect("serialize");
    let inflow = &json["columns"][8];
    assert_eq!(inflow["name"], "inflow");
    assert_eq!(
        inflow["direct"][0],
        serde_json::json!({"from": {"table": TXN, "column": "amount"}, "kind": "aggregation"})
    );
    assert_eq!(
        inflow["indirect"][0],
        serde_json::json!({"from": {"table": TXN, "column": "dir"}, "kind": "conditional"})
    );
    assert_eq!(json["indirect"][0]["kind"], "join");
    assert!(
        json["indirect"]
            .as_array()
            .expect("array")
            .iter()
            .any(|edge| edge["kind"] == "group_by")
    );
    let back: QueryLineage = serde_json::from_value(json).expect("deserialize");
    assert_eq!(back, result);
}

// ---------------------------------------------------------------------------------------
// Schema implementations
// ---------------------------------------------------------------------------------------

#[test]
fn schema_maps_look_tables_up_exactly_then_case_insensitively() {
    let map = schema();
    assert_eq!(
        map.columns("dwd_dim_org"),
        Some(vec!["org_id".into(), "name".into(), "parent_id".into()])
    );
    assert_eq!(map.columns("DWD_DIM_ORG"), map.columns("dwd_dim_org"));
    assert_eq!(map.columns("nope"), None);

    let hash: HashMap<String, Vec<String>> = schema().into_iter().collect();
    assert_eq!(
        hash.columns("dwdcase"),
        Some(vec!["Id".into(), "Amount".into()])
    );
    let result = lineage("SELECT name FROM dwd_dim_org", Dialect::Sqlite, &hash).expect("lineage");
    assert_eq!(result.tables, vec![ORG.to_string()]);
}

#[test]
fn a_custom_schema_is_asked_for_the_written_name() {
    struct Recording(std::cell::RefCell<Vec<String>>);
    impl Schema for Recording {
        fn columns(&self, table: &str) -> Option<Vec<String>> {
            self.0.borrow_mut().push(table.to_string());
            (table == "public.t").then(|| vec!["a".to_string()])
        }
    }
    let schema = Recording(Default::default());
    let result = lineage("SELECT a FROM Public.T", Dialect::Postgres, &schema).expect("lineage");
    assert_eq!(
        result.columns,
        vec![out("a", vec![e("public.t", "a", I)], vec![])]
    );
    assert_eq!(*schema.0.borrow(), vec!["public.t".to_string()]);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn parse_errors() {
    for dialect in [Dialect::Sqlite, Dialect::Postgres] {
        let error = error("SELECT name FROM WHERE", dialect);
        // The parser's message says where.
        assert!(
            matches!(&error, LineageError::Parse(message) if message.contains("Line: 1")),
            "{error:?}"
        );
        assert!(error.to_string().starts_with("SQL parse error"));
    }
}

#[test]
fn statements_other_than_one_select_are_rejected() {
    for sql in [
        "INSERT INTO dwd_dim_org VALUES (1, 'a', NULL)",
        "UPDATE dwd_dim_org SET name = 'x'",
        "DELETE FROM dwd_dim_org",
        "CREATE TABLE x (a INT)",
        "SELECT 1 AS a; SELECT 2 AS b",
        "",
        "  -- only a comment\n",
    ] {
        assert!(
            matches!(error_both(sql), LineageError::NotASelect(_)),
            "{sql}"
        );
    }
    let message = error_both("UPDATE dwd_dim_org SET name = 'x'").to_string();
    assert_eq!(
        message,
        "not a single SELECT query: `UPDATE …` is not a query"
    );
    let message = error_both("SELECT 1 AS a; SELECT 2 AS b").to_string();
    assert!(message.contains("2 statements"), "{message}");
    assert!(matches!(
        error(
            "SELECT * INTO new_table FROM dwd_dim_org",
            Dialect::Postgres
        ),
        LineageError::NotASelect(_)
    ));
}

#[test]
fn unknown_tables() {
    assert_eq!(
        error_both("SELECT a FROM no_such_table"),
        LineageError::UnknownTable("no_such_table".to_string())
    );
    // A qualifier that names nothing in scope.
    assert_eq!(
        error_both("SELECT x.name FROM dwd_dim_org o"),
        LineageError::UnknownTable("x".to_string())
    );
    // An alias hides the table name.
    assert_eq!(
        error_both("SELECT dwd_dim_org.name FROM dwd_dim_org o"),
        LineageError::UnknownTable("dwd_dim_org".to_string())
    );
    assert_eq!(
        error_both("SELECT o.* FROM dwd_dim_org"),
        LineageError::UnknownTable("o".to_string())
    );
    // Quoted names keep their case, so "DWD_DIM_ORG" is not dwd_dim_org… unless the schema
    // matches it case-insensitively, which the map does.
    let message = error_both("SELECT a FROM no_such_table").to_string();
    assert!(message.contains("no_such_table"), "{message}");
}

#[test]
fn unknown_columns_name_the_column_and_the_tables_searched() {
    assert_eq!(
        error_both("SELECT nope FROM dwd_dim_org o JOIN dwd_fund_plan p ON p.org_id = o.org_id"),
        LineageError::UnknownColumn {
            column: "nope".to_string(),
            searched: vec![
                "dwd_dim_org AS o".to_string(),
                "dwd_fund_plan AS p".to_string()
            ],
        }
    );
    assert_eq!(
        error_both("SELECT o.nope FROM dwd_dim_org o"),
        LineageError::UnknownColumn {
            column: "o.nope".to_string(),
            searched: vec!["dwd_dim_org AS o".to_string()],
        }
    );
    // Inside a subquery the outer tables are searched too.
    assert_eq!(
        error_both("SELECT (SELECT nope FROM dwd_fund_plan) AS x FROM dwd_dim_org"),
        LineageError::UnknownColumn {
            column: "nope".to_string(),
            searched: vec!["dwd_fund_plan".to_string(), "dwd_dim_org".to_string()],
        }
    );
    // A quoted name keeps its case and does not match.
    assert!(matches!(
        error_both("SELECT \"NAME\" FROM dwd_dim_org"),
        LineageError::UnknownColumn { column, .. } if column == "NAME"
    ));
    let message = error_both("SELECT nope FROM dwd_dim_org").to_string();
    assert!(
        message.contains("nope") && message.contains("dwd_dim_org"),
        "{message}"
    );
}

#[test]
fn ambiguous_columns() {
    assert_eq!(
        error_both("SELECT org_id FROM dwd_dim_org o JOIN dwd_fund_plan p ON p.org_id = o.org_id"),
        LineageError::Ambiguous {
            column: "org_id".to_string(),
            candidates: vec![
                "dwd_dim_org AS o".to_string(),
                "dwd_fund_plan AS p".to_string()
            ],
        }
    );
    // The same table twice without aliases.
    assert!(matches!(
        error_both("SELECT dwd_dim_org.name FROM dwd_dim_org, dwd_dim_org"),
        LineageError::Ambiguous { .. }
    ));
    // An ORDER BY name given to two output columns.
    assert!(matches!(
        error_both("SELECT name AS x, org_id AS x FROM dwd_dim_org ORDER BY x"),
        LineageError::Ambiguous { .. }
    ));
    let message = error_both("SELECT org_id FROM dwd_dim_org, dwd_fund_plan").to_string();
    assert!(message.contains("ambiguous column `org_id`"), "{message}");
}

#[test]
fn unnamed_output_expressions_are_errors() {
    assert_eq!(
        error_both("SELECT org_id, amount * 2 FROM dwd_fund_plan"),
        LineageError::Unnamed {
            position: 2,
            expr: "amount * 2".to_string(),
            scope: "the query".to_string(),
        }
    );
    assert_eq!(
        error_both("WITH c AS (SELECT COUNT(*) FROM dwd_fund_plan) SELECT 1 AS one FROM c"),
        LineageError::Unnamed {
            position: 1,
            expr: "COUNT(*)".to_string(),
            scope: "CTE `c`".to_string(),
        }
    );
    assert_eq!(
        error_both("SELECT s.x FROM (SELECT org_id AS x, upper(org_id) FROM dwd_fund_plan) s"),
        LineageError::Unnamed {
            position: 2,
            expr: "upper(org_id)".to_string(),
            scope: "subquery `s`".to_string(),
        }
    );
    // The first branch of a set operation names the columns.
    assert!(matches!(
        error_both(
            "SELECT org_id + 1 FROM dwd_fund_plan UNION SELECT org_id AS x FROM dwd_dim_org"
        ),
        LineageError::Unnamed { position: 1, .. }
    ));
    let message = error_both("SELECT org_id, amount * 2 FROM dwd_fund_plan").to_string();
    assert!(
        message.contains("output column 2") && message.contains("amount * 2"),
        "{message}"
    );
}

#[test]
fn unsupported_syntax() {
    for sql in [
        // Recursive CTEs that reference themselves.
        "WITH RECURSIVE tree AS (
             SELECT org_id, parent_id FROM dwd_dim_org WHERE parent_id IS NULL
             UNION ALL
             SELECT o.org_id, o.parent_id FROM dwd_dim_org o JOIN tree ON o.parent_id = tree.org_id
         ) SELECT org_id FROM tree",
        "SELECT * FROM (VALUES (1, 2)) AS v(a, b)",
        "VALUES (1, 2)",
    ] {
        assert!(
            matches!(error_both(sql), LineageError::Unsupported(_)),
            "{sql}"
        );
    }
    assert!(matches!(
        error(
            "SELECT x FROM generate_series(1, 10) AS x",
            Dialect::Postgres
        ),
        LineageError::Unsupported(_)
    ));
    let message = error_both(
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 AS n FROM r) SELECT n FROM r",
    )
    .to_string();
    assert!(message.contains("recursive CTE `r`"), "{message}");
    // WITH RECURSIVE without self-reference is fine.
    let result = both("WITH RECURSIVE c AS (SELECT name FROM dwd_dim_org) SELECT name FROM c");
    assert_eq!(
        result.columns,
        vec![out("name", vec![e(ORG, "name", I)], vec![])]
    );
}

#[test]
fn invalid_queries() {
    for sql in [
        "SELECT org_id AS a, name FROM dwd_dim_org UNION SELECT org_id AS a FROM dwd_fund_plan",
        "SELECT (SELECT org_id, name FROM dwd_dim_org) AS x",
        "SELECT name FROM dwd_dim_org ORDER BY 2",
        "SELECT name FROM dwd_dim_org GROUP BY 0",
        "SELECT *",
        "WITH c(a, b) AS (SELECT name FROM dwd_dim_org) SELECT a FROM c",
    ] {
        assert!(
            matches!(error_both(sql), LineageError::Invalid(_)),
            "{sql}: {:?}",
            lineage(sql, Dialect::Sqlite, &schema())
        );
    }
    // PostgreSQL accepts a SELECT without columns; a model needs at least one.
    assert_eq!(
        error("SELECT FROM dwd_dim_org", Dialect::Postgres),
        LineageError::Invalid("the query outputs no columns".to_string())
    );
    let message = error_both(
        "SELECT org_id AS a, name FROM dwd_dim_org UNION SELECT org_id AS a FROM dwd_fund_plan",
    )
    .to_string();
    assert!(message.contains("2 and 1 columns"), "{message}");
}

#[test]
fn long_but_reasonable_expressions_work() {
    // 400 chained operators and a 2 000-branch CASE mapping are within the limits.
    let sum = vec!["book_bal"; 200]
        .into_iter()
        .chain(vec!["bank_bal"; 200])
        .collect::<Vec<_>>()
        .join(" + ");
    let branches: String = (0..2000)
        .map(|n| format!(" WHEN acct_no = '{n}' THEN 'org{n}'"))
        .collect();
    let sql = format!(
        "SELECT {sum} AS total, CASE{branches} ELSE available END AS mapped FROM dwd_bank_balance_daily"
    );
    assert_eq!(
        both(&sql).columns,
        vec![
            out(
                "total",
                vec![e(BAL, "bank_bal", T), e(BAL, "book_bal", T)],
                vec![]
            ),
            out(
                "mapped",
                vec![e(BAL, "available", T)],
                vec![i(BAL, "acct_no", COND)]
            ),
        ]
    );
}

#[test]
fn malformed_and_odd_input_fails_cleanly() {
    let long_chain = format!(
        "SELECT {} AS x FROM dwd_bank_txn",
        vec!["amount"; 6000].join(" + ")
    );
    let deep_parens = format!("SELECT {}1{} AS x", "(".repeat(5000), ")".repeat(5000));
    let deep_subqueries = format!(
        "SELECT {}1{} AS x",
        "(SELECT ".repeat(200),
        " AS y)".repeat(200)
    );
    let medium_chain = format!(
        "SELECT {} AS x FROM dwd_bank_txn",
        vec!["amount"; 1000].join(" || ")
    );
    let long_syntax_error = format!("SELECT {} + FROM", vec!["1"; 4000].join(" + "));
    let inputs: Vec<String> = [
        "SELECT",
        "SELECT FROM",
        "SELECT * FROM",
        "SELECT a FROM dwd_dim_org WHERE",
        "SELECT 'unterminated FROM dwd_dim_org",
        "SELECT \"unterminated FROM dwd_dim_org",
        "SELECT (name FROM dwd_dim_org",
        "SELECT name) FROM dwd_dim_org",
        "SELECT name FROM dwd_dim_org)))",
        ";;;",
        "WITH",
        "WITH c AS (SELECT 1 AS a)",
        "WITH c AS SELECT 1",
        "SELECT * FROM (SELECT",
        "\u{0}\u{1}\u{2}",
        "🙂 SELECT 🙂",
        "SELECT name FROM dwd_dim_org o JOIN",
        "SELECT name FROM dwd_dim_org o JOIN dwd_fund_plan p ON",
        "SELECT CASE WHEN THEN END AS x",
        "SELECT COUNT(*) OVER w AS n FROM dwd_dim_org",
        "SELECT COUNT(*) OVER w AS n FROM dwd_dim_org WINDOW w AS (w)",
        "SELECT name FROM dwd_dim_org GROUP BY 99999999999999999999999",
        "SELECT name FROM dwd_dim_org ORDER BY",
        "SELECT * FROM dwd_dim_org a JOIN dwd_dim_org b USING (name, nope)",
        "SELECT a.b.c.d.e FROM dwd_dim_org",
        "SELECT * FROM dwd_dim_org UNION SELECT * FROM dwd_fund_plan UNION SELECT 1 AS x",
        "SELECT name FROM dwd_dim_org LIMIT",
        "SELECT 1 AS x FROM dwd_dim_org CROSS JOIN",
        "INSERT",
        "DROP TABLE dwd_dim_org",
        "EXPLAIN SELECT name FROM dwd_dim_org",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([
        long_chain,
        deep_parens,
        deep_subqueries,
        medium_chain,
        long_syntax_error,
    ])
    .collect();
    for input in &inputs {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let result = lineage(input, dialect, &schema());
            assert!(
                result.is_err(),
                "{dialect:?}: expected an error for {:?}, got {result:?}",
                input.chars().take(80).collect::<String>()
            );
        }
    }
}
