//! The built-in demo datasets: `fund_daily` (always) and `bench_journal`
//! (on request). Deterministic: the same build yields the same rows.

use crate::dataset::{Cell, Dataset, Measure};
use std::sync::Arc;
use zhiyun_contract::{ColumnMeta, Date, ValueKind};

/// SplitMix64: a tiny, fast, seeded PRNG (Steele, Lea & Flood 2014). Good
/// enough for fixture data; not for anything that must be unpredictable.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// An organisation of the demo tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoOrg {
    pub id: &'static str,
    pub name: &'static str,
    /// The parent org id; `""` for the root.
    pub parent_id: &'static str,
}

/// The demo organisation tree: the 二级单位 `3300`, its three 县公司 and two
/// 供电所 under each.
pub const DEMO_ORGS: [DemoOrg; 10] = [
    DemoOrg {
        id: "3300",
        name: "示范市供电公司",
        parent_id: "",
    },
    DemoOrg {
        id: "3301",
        name: "城东县供电公司",
        parent_id: "3300",
    },
    DemoOrg {
        id: "3302",
        name: "城西县供电公司",
        parent_id: "3300",
    },
    DemoOrg {
        id: "3303",
        name: "南山县供电公司",
        parent_id: "3300",
    },
    DemoOrg {
        id: "330101",
        name: "城东县城关供电所",
        parent_id: "3301",
    },
    DemoOrg {
        id: "330102",
        name: "城东县东湖供电所",
        parent_id: "3301",
    },
    DemoOrg {
        id: "330201",
        name: "城西县城关供电所",
        parent_id: "3302",
    },
    DemoOrg {
        id: "330202",
        name: "城西县西山供电所",
        parent_id: "3302",
    },
    DemoOrg {
        id: "330301",
        name: "南山县城关供电所",
        parent_id: "3303",
    },
    DemoOrg {
        id: "330302",
        name: "南山县南岭供电所",
        parent_id: "3303",
    },
];

/// The first and last `balance_date` of `fund_daily` (2026-11-01..=2026-11-30).
pub const FUND_DAILY_FIRST_DAY: Date = Date {
    year: 2026,
    month: 11,
    day: 1,
};
pub const FUND_DAILY_LAST_DAY: Date = Date {
    year: 2026,
    month: 11,
    day: 30,
};

const fn nov(day: u8) -> Date {
    Date {
        year: 2026,
        month: 11,
        day,
    }
}

/// An account that falls below its safety reserve on some days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveDip {
    pub org_id: &'static str,
    pub acct_no: &'static str,
    pub acct_type: &'static str,
    /// The days on which `closing < safety_reserve` (and so
    /// `available < safety_reserve`).
    pub dates: &'static [Date],
}

/// The account-days of `fund_daily` below the safety reserve — exactly
/// these, nothing else:
///
/// | org | account | type | days |
/// |---|---|---|---|
/// | 3301 城东县供电公司 | 1202330100006 | 基本户 | 2026-11-24, 2026-11-25 |
/// | 3303 南山县供电公司 | 1903330300013 | 农网 | 2026-11-28, 2026-11-29, 2026-11-30 |
/// | 330202 城西县西山供电所 | 3305330202025 | 一般户 | 2026-11-10 |
///
/// On every other account-day `available ≥ safety_reserve` (and so
/// `closing ≥ safety_reserve`), by a wide margin.
pub const FUND_DAILY_RESERVE_DIPS: [ReserveDip; 3] = [
    ReserveDip {
        org_id: "3301",
        acct_no: "1202330100006",
        acct_type: "基本户",
        dates: &[nov(24), nov(25)],
    },
    ReserveDip {
        org_id: "3303",
        acct_no: "1903330300013",
        acct_type: "农网",
        dates: &[nov(28), nov(29), nov(30)],
    },
    ReserveDip {
        org_id: "330202",
        acct_no: "3305330202025",
        acct_type: "一般户",
        dates: &[nov(10)],
    },
];

/// An account-day whose bank balance differs from its book balance (未达账:
/// an item one side has recorded and the other not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreconciled {
    pub org_id: &'static str,
    pub acct_no: &'static str,
    pub date: Date,
    /// `bank_bal − closing`, in fen: positive when the bank has credited
    /// what the books have not (银行已收、企业未收), negative when it has
    /// debited what the books have not (银行已付、企业未付).
    pub fen: i64,
}

/// The account-days of `fund_daily` with a 未达账 — exactly these; on every
/// other account-day `bank_bal = closing` and `unreconciled = 0`:
///
/// | org | account | day | `unreconciled` |
/// |---|---|---|---|
/// | 3300 示范市供电公司 | 1202330000001 | 2026-11-29 | +45 200.00 元 |
/// | 3300 示范市供电公司 | 1202330000001 | 2026-11-30 | +31 800.00 元 |
/// | 330101 城东县城关供电所 | 1903330101014 | 2026-11-30 | −1 265.00 元 |
///
/// So on 2026-11-30 the whole company's 未达账金额 is +30 535.00 元, and
/// 城东县供电公司's (3301 and its 供电所) −1 265.00 元.
pub const FUND_DAILY_UNRECONCILED: [Unreconciled; 3] = [
    Unreconciled {
        org_id: "3300",
        acct_no: "1202330000001",
        date: nov(29),
        fen: 4_520_000,
    },
    Unreconciled {
        org_id: "3300",
        acct_no: "1202330000001",
        date: nov(30),
        fen: 3_180_000,
    },
    Unreconciled {
        org_id: "330101",
        acct_no: "1903330101014",
        date: nov(30),
        fen: -126_500,
    },
];

#[derive(Clone, Copy)]
enum Bank {
    Icbc,
    Abc,
    Ccb,
    Boc,
    Bocom,
}

impl Bank {
    fn name(self) -> &'static str {
        match self {
            Bank::Icbc => "工商银行",
            Bank::Abc => "农业银行",
            Bank::Ccb => "建设银行",
            Bank::Boc => "中国银行",
            Bank::Bocom => "交通银行",
        }
    }
    fn code(self) -> &'static str {
        match self {
            Bank::Icbc => "1202",
            Bank::Abc => "1903",
            Bank::Ccb => "3305",
            Bank::Boc => "3566",
            Bank::Bocom => "3310",
        }
    }
}

const SHOURU: &str = "电费收入户";
const JIBEN: &str = "基本户";
const YIBAN: &str = "一般户";
const NONGWANG: &str = "农网";
const ZHUAN: &str = "专户";

struct Account {
    org: &'static str,
    bank: Bank,
    acct_type: &'static str,
    in_pool: bool,
    /// The typical closing balance, in 元.
    baseline_yuan: i64,
}

const fn acct(
    org: &'static str,
    bank: Bank,
    acct_type: &'static str,
    in_pool: bool,
    baseline_yuan: i64,
) -> Account {
    Account {
        org,
        bank,
        acct_type,
        in_pool,
        baseline_yuan,
    }
}

/// The demo accounts; the account number is
/// `<bank code><org id padded to 6 digits with 0><1-based position, 3 digits>`.
const ACCOUNTS: [Account; 31] = [
    acct("3300", Bank::Icbc, SHOURU, true, 86_000_000),
    acct("3300", Bank::Ccb, JIBEN, true, 42_000_000),
    acct("3300", Bank::Abc, YIBAN, false, 6_500_000),
    acct("3300", Bank::Boc, ZHUAN, false, 18_000_000),
    acct("3301", Bank::Abc, SHOURU, true, 21_000_000),
    acct("3301", Bank::Icbc, JIBEN, true, 9_800_000),
    acct("3301", Bank::Bocom, NONGWANG, false, 4_200_000),
    acct("3302", Bank::Ccb, SHOURU, true, 17_500_000),
    acct("3302", Bank::Abc, JIBEN, true, 7_600_000),
    acct("3302", Bank::Boc, YIBAN, false, 2_300_000),
    acct("3303", Bank::Icbc, SHOURU, true, 15_200_000),
    acct("3303", Bank::Ccb, JIBEN, true, 6_900_000),
    acct("3303", Bank::Abc, NONGWANG, false, 3_800_000),
    acct("330101", Bank::Abc, SHOURU, true, 2_600_000),
    acct("330101", Bank::Icbc, JIBEN, true, 850_000),
    acct("330101", Bank::Bocom, YIBAN, false, 320_000),
    acct("330102", Bank::Abc, SHOURU, true, 1_900_000),
    acct("330102", Bank::Ccb, JIBEN, true, 610_000),
    acct("330102", Bank::Abc, NONGWANG, false, 240_000),
    acct("330201", Bank::Ccb, SHOURU, true, 2_300_000),
    acct("330201", Bank::Boc, JIBEN, true, 720_000),
    acct("330201", Bank::Icbc, YIBAN, false, 180_000),
    acct("330202", Bank::Abc, SHOURU, true, 1_400_000),
    acct("330202", Bank::Abc, JIBEN, true, 530_000),
    acct("330202", Bank::Ccb, YIBAN, false, 150_000),
    acct("330301", Bank::Icbc, SHOURU, true, 2_100_000),
    acct("330301", Bank::Bocom, JIBEN, true, 680_000),
    acct("330301", Bank::Boc, ZHUAN, false, 400_000),
    acct("330302", Bank::Abc, SHOURU, true, 1_200_000),
    acct("330302", Bank::Ccb, JIBEN, true, 460_000),
    acct("330302", Bank::Abc, NONGWANG, false, 260_000),
];

fn acct_no(index: usize, a: &Account) -> String {
    format!("{}{:0<6}{:03}", a.bank.code(), a.org, index + 1)
}

const FUND_SEED: u64 = 0x7a68_6979_756e_2026; // "zhiyun" 2026
const BENCH_SEED: u64 = 0x6265_6e63_685f_6a6e;

fn text(s: &str) -> Cell {
    Cell::Text(Arc::from(s))
}

fn col(name: &str, kind: ValueKind) -> ColumnMeta {
    ColumnMeta {
        name: name.to_string(),
        kind,
    }
}

/// `fund_daily`: one row per bank account per day, 2026-11-01..=2026-11-30
/// (31 accounts × 30 days = 930 rows), with the columns, dimensions and
/// measures of the warehouse model `ads_fund_daily` (see
/// `plugins/models/ads/`) except its formula measures (`reserve_coverage`,
/// `pooling_rate`), which this provider has no way to express — apps divide
/// the sums themselves. See [`FUND_DAILY_RESERVE_DIPS`] and
/// [`FUND_DAILY_UNRECONCILED`].
///
/// Invariants: `closing = opening + inflow − outflow`; each day's `opening`
/// is the previous day's `closing`; `0 ≤ available ≤ closing`; all money in
/// fen. The model's derived columns follow from the rest:
///
/// - `bank_bal = closing + unreconciled`, where `unreconciled` is 0 except
///   on the [`FUND_DAILY_UNRECONCILED`] account-days;
/// - `frozen = closing − available`;
/// - `pooled_closing` (归集额) `= closing` for accounts in the pool, else 0;
/// - `below_reserve = available < safety_reserve`;
/// - `last_txn_date` is the latest day up to this one with any flow
///   (`inflow + outflow > 0`; null before the first) — every fixture day has
///   turnover, so it is always `balance_date`;
/// - `idle` (闲置: 365 days without a transaction) is false everywhere: the
///   fixture spans 30 days, all of them with transactions.
///
/// The flags sum as counts: `below_reserve_accounts` and `idle_accounts`
/// are the number of rows with the flag set.
pub fn fund_daily() -> Dataset {
    let columns = vec![
        col("org_id", ValueKind::Text),
        col("org_name", ValueKind::Text),
        col("parent_id", ValueKind::Text),
        col("acct_no", ValueKind::Text),
        col("bank", ValueKind::Text),
        col("acct_type", ValueKind::Text),
        col("in_pool", ValueKind::Boolean),
        col("balance_date", ValueKind::Date),
        col("opening", ValueKind::Money),
        col("inflow", ValueKind::Money),
        col("outflow", ValueKind::Money),
        col("closing", ValueKind::Money),
        col("available", ValueKind::Money),
        col("safety_reserve", ValueKind::Money),
        col("bank_bal", ValueKind::Money),
        col("unreconciled", ValueKind::Money),
        col("frozen", ValueKind::Money),
        col("pooled_closing", ValueKind::Money),
        col("below_reserve", ValueKind::Boolean),
        col("last_txn_date", ValueKind::Date),
        col("idle", ValueKind::Boolean),
    ];
    let dimensions = [
        "org_id",
        "org_name",
        "parent_id",
        "acct_no",
        "bank",
        "acct_type",
        "in_pool",
        "balance_date",
        "below_reserve",
        "idle",
        "last_txn_date",
    ]
    .map(String::from)
    .to_vec();
    let mut measures: Vec<(String, Measure)> = [
        "opening",
        "inflow",
        "outflow",
        "closing",
        "available",
        "safety_reserve",
        "bank_bal",
        "unreconciled",
        "pooled_closing",
    ]
    .iter()
    .map(|m| (m.to_string(), Measure::sum(m)))
    .collect();
    measures.extend([
        ("account_count".into(), Measure::count()),
        (
            "below_reserve_accounts".into(),
            Measure::sum("below_reserve"),
        ),
        ("idle_accounts".into(), Measure::sum("idle")),
        ("first_date".into(), Measure::min("balance_date")),
        ("latest_date".into(), Measure::max("balance_date")),
    ]);
    let mut ds = Dataset::new("fund_daily", columns, dimensions, measures)
        .expect("the fund_daily definition is valid");
    ds.reserve_rows(ACCOUNTS.len() * 30);

    for (idx, a) in ACCOUNTS.iter().enumerate() {
        let org = DEMO_ORGS
            .iter()
            .find(|o| o.id == a.org)
            .expect("every account belongs to a demo org");
        let no = acct_no(idx, a);
        let dip = FUND_DAILY_RESERVE_DIPS.iter().find(|d| d.acct_no == no);
        let unreconciled_on = |date: Date| {
            FUND_DAILY_UNRECONCILED
                .iter()
                .find(|u| u.acct_no == no && u.date == date)
                .map_or(0, |u| u.fen)
        };
        let (org_id, org_name, parent_id) = (text(org.id), text(org.name), text(org.parent_id));
        let (no, bank, acct_type) = (text(&no), text(a.bank.name()), text(a.acct_type));

        let base = a.baseline_yuan * 100;
        // 15–25 % of the baseline, rounded down to 10 000 元.
        let reserve_pct = 15 + (idx as i64 * 7) % 11;
        let reserve = base * reserve_pct / 100 / 1_000_000 * 1_000_000;
        let rng_for = |day: u64| SplitMix64::new(FUND_SEED ^ ((idx as u64) << 32) ^ day);
        let normal =
            |r: &mut SplitMix64| base * (920 + r.below(161) as i64) / 1000 + r.below(100) as i64;

        let mut opening = normal(&mut rng_for(0));
        let mut last_txn_date: Option<Date> = None;
        for day in 1..=30u8 {
            let date = nov(day);
            let mut r = rng_for(day as u64);
            let target = if dip.is_some_and(|d| d.dates.contains(&date)) {
                reserve * (50 + r.below(30) as i64) / 100 + r.below(100) as i64
            } else {
                normal(&mut r)
            };
            let turnover_permille = if a.acct_type == SHOURU {
                50 + r.below(100)
            } else {
                10 + r.below(40)
            } as i64;
            let turnover = base * turnover_permille / 1000 + r.below(100) as i64;
            let delta = target - opening;
            let inflow = turnover + delta.max(0);
            let outflow = turnover + (-delta).max(0);
            let closing = opening + inflow - outflow;
            let frozen_permille = if a.acct_type == ZHUAN {
                100
            } else {
                r.below(30) as i64
            };
            let available = closing - closing * frozen_permille / 1000;
            let unreconciled = unreconciled_on(date);
            if inflow + outflow > 0 {
                last_txn_date = Some(date);
            }
            ds.push_cells([
                org_id.clone(),
                org_name.clone(),
                parent_id.clone(),
                no.clone(),
                bank.clone(),
                acct_type.clone(),
                Cell::Boolean(a.in_pool),
                Cell::Date(date),
                Cell::Money(opening),
                Cell::Money(inflow),
                Cell::Money(outflow),
                Cell::Money(closing),
                Cell::Money(available),
                Cell::Money(reserve),
                Cell::Money(closing + unreconciled),
                Cell::Money(unreconciled),
                Cell::Money(closing - available),
                Cell::Money(if a.in_pool { closing } else { 0 }),
                Cell::Boolean(available < reserve),
                last_txn_date.map_or(Cell::Null, Cell::Date),
                Cell::Boolean(false),
            ]);
            opening = closing;
        }
    }
    ds
}

/// The account codes of `bench_journal` (a slice of the Chinese chart of
/// accounts).
pub const BENCH_ACCT_CODES: [&str; 50] = [
    "1001", "1002", "1012", "1101", "1121", "1122", "1123", "1221", "1231", "1403", "1405", "1411",
    "1501", "1511", "1601", "1602", "1604", "1605", "1701", "1702", "1801", "1811", "2001", "2201",
    "2202", "2203", "2211", "2221", "2231", "2241", "2501", "2701", "4001", "4002", "4101", "4103",
    "4104", "6001", "6051", "6111", "6301", "6401", "6402", "6403", "6601", "6602", "6603", "6701",
    "6711", "6801",
];

/// `bench_journal`: `rows` journal lines over the 10 demo orgs and the 50
/// [`BENCH_ACCT_CODES`]; `amount` is signed money within ±1 000 000 元.
/// Measures: `amount` (sum) and `entry_count` (count).
pub fn bench_journal(rows: usize) -> Dataset {
    let mut ds = Dataset::new(
        "bench_journal",
        vec![
            col("org_id", ValueKind::Text),
            col("acct_code", ValueKind::Text),
            col("amount", ValueKind::Money),
        ],
        vec!["org_id".into(), "acct_code".into()],
        vec![
            ("amount".into(), Measure::sum("amount")),
            ("entry_count".into(), Measure::count()),
        ],
    )
    .expect("the bench_journal definition is valid");
    ds.reserve_rows(rows);
    let orgs: Vec<Cell> = DEMO_ORGS.iter().map(|o| text(o.id)).collect();
    let codes: Vec<Cell> = BENCH_ACCT_CODES.iter().map(|c| text(c)).collect();
    let mut r = SplitMix64::new(BENCH_SEED);
    for _ in 0..rows {
        let x = r.next_u64();
        let org = &orgs[(x % orgs.len() as u64) as usize];
        let code = &codes[((x >> 8) % codes.len() as u64) as usize];
        let amount = ((x >> 16) % 200_000_001) as i64 - 100_000_000;
        ds.push_cells([org.clone(), code.clone(), Cell::Money(amount)]);
    }
    ds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_deterministic() {
        let mut a = SplitMix64::new(1);
        let mut b = SplitMix64::new(1);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        // Reference value of SplitMix64 seeded with 0.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn account_numbers_of_the_dips_are_real() {
        for dip in FUND_DAILY_RESERVE_DIPS {
            let found = ACCOUNTS
                .iter()
                .enumerate()
                .find(|(i, a)| acct_no(*i, a) == dip.acct_no)
                .unwrap_or_else(|| panic!("{}", dip.acct_no));
            assert_eq!(found.1.org, dip.org_id);
            assert_eq!(found.1.acct_type, dip.acct_type);
        }
    }

    #[test]
    fn account_numbers_of_the_unreconciled_days_are_real() {
        for u in FUND_DAILY_UNRECONCILED {
            let found = ACCOUNTS
                .iter()
                .enumerate()
                .find(|(i, a)| acct_no(*i, a) == u.acct_no)
                .unwrap_or_else(|| panic!("{}", u.acct_no));
            assert_eq!(found.1.org, u.org_id);
            assert!((FUND_DAILY_FIRST_DAY..=FUND_DAILY_LAST_DAY).contains(&u.date));
            assert_ne!(u.fen, 0);
        }
    }

    #[test]
    fn every_org_has_accounts() {
        for o in DEMO_ORGS {
            let n = ACCOUNTS.iter().filter(|a| a.org == o.id).count();
            assert!((3..=4).contains(&n), "{}: {n}", o.id);
        }
    }
}
