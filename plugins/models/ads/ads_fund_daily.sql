-- The fund position dataset (资金全景监控, S02): every account every day, with
-- the day its last transaction happened and whether it is idle (闲置: no
-- transaction for 365 days, counted from its first day in the data).
-- Those look back over earlier months, so a change rebuilds its month and
-- every later one (partition_scope = "from_earliest"), reading all history.
WITH history AS (
    SELECT
        f.*,
        MAX(CASE WHEN f.txn_count > 0 THEN f.balance_date END)
            OVER (PARTITION BY f.acct_no ORDER BY f.balance_date ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            AS last_txn_date,
        MIN(f.balance_date) OVER (PARTITION BY f.acct_no) AS first_date
    FROM {{ ref('dws_fund_account_daily') }} AS f
)
SELECT
    org_id,
    org_name,
    parent_id,
    acct_no,
    bank,
    acct_type,
    in_pool,
    balance_date,
    balance_period,
    opening,
    inflow,
    outflow,
    closing,
    available,
    safety_reserve,
    bank_bal,
    unreconciled,
    frozen,
    CASE WHEN in_pool = 1 THEN closing ELSE 0 END AS pooled_closing,
    CASE WHEN available < safety_reserve THEN 1 ELSE 0 END AS below_reserve,
    last_txn_date,
    CASE
        WHEN {{ days_between(COALESCE(last_txn_date, first_date), balance_date) }} >= 365 THEN 1
        ELSE 0
    END AS idle
FROM history
