-- One row per bank account per day: the account's master data, the day's
-- balances (book, bank, available) and the day's flows.
SELECT
    b.acct_no,
    b.date AS balance_date,
    substr(b.date, 1, 7) AS balance_period,
    a.org_id,
    o.name AS org_name,
    o.parent_id,
    a.bank,
    a.type AS acct_type,
    a.in_pool,
    a.safety_reserve,
    b.book_bal - COALESCE(t.inflow, 0) + COALESCE(t.outflow, 0) AS opening,
    COALESCE(t.inflow, 0) AS inflow,
    COALESCE(t.outflow, 0) AS outflow,
    COALESCE(t.txn_count, 0) AS txn_count,
    b.book_bal AS closing,
    b.bank_bal,
    b.available,
    b.bank_bal - b.book_bal AS unreconciled,
    b.frozen
FROM {{ source('dwd_bank_balance_daily') }} AS b
JOIN {{ source('dwd_bank_account') }} AS a ON a.acct_no = b.acct_no
LEFT JOIN {{ source('dwd_dim_org') }} AS o ON o.org_id = a.org_id
LEFT JOIN {{ ref('dws_bank_txn_daily') }} AS t ON t.acct_no = b.acct_no AND t.txn_date = b.date
WHERE {{ partitions(substr(b.date, 1, 7)) }}
