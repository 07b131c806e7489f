-- Bank transactions per account per day: money in, money out, how many.
SELECT
    acct_no,
    substr(txn_time, 1, 10) AS txn_date,
    substr(txn_time, 1, 7) AS txn_period,
    MAX(org_id) AS org_id,
    SUM(CASE WHEN dir = '收' THEN amount ELSE 0 END) AS inflow,
    SUM(CASE WHEN dir = '付' THEN amount ELSE 0 END) AS outflow,
    COUNT(*) AS txn_count,
    MAX(txn_time) AS last_txn_time
FROM {{ source('dwd_bank_txn') }}
WHERE {{ partitions(substr(txn_time, 1, 7)) }}
GROUP BY acct_no, substr(txn_time, 1, 10), substr(txn_time, 1, 7)
