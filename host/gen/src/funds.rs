//! Bank accounts and the money in them: every 1002 voucher line becomes a
//! `bank_txn` on a named account, processed day by day in time order so
//! `balance_after` and `bank_balance_daily` are running balances. At the end
//! of each day the fund office's routine runs: electricity-fee accounts are
//! swept (上划) to 本部, accounts that would fall below twice their safety
//! reserve are topped up (下拨/调拨, or a short-term loan for 本部), and at
//! month end the bank fees the bank already deducted are booked, so
//! bank_bal − book_bal is exactly the unbooked fees (未达账).

use crate::anomalies::Rule;
use crate::calendar::Day;
use crate::ledger::{Line, Voucher};
use crate::orgs::{A1002, A1221, A2001, A2241, A6603, ENTITIES, HQ};
use crate::out::{Out, def};
use crate::sim::World;
use crate::values::{self, R};
use anyhow::Result;
use rand::Rng;
use std::collections::BTreeMap;
use zhiyun_batch::ColumnType::{self, Bool, Date, Money};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Basic,
    General,
    Revenue,
    Special,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Basic => "基本户",
            Kind::General => "一般户",
            Kind::Revenue => "电费收入户",
            Kind::Special => "农网专户",
        }
    }
}

pub struct BankAcct {
    pub no: String,
    pub bank: &'static str,
    pub code: &'static str,
    pub org: usize,
    pub kind: Kind,
    pub reserve: i64,
    pub book: i64,
    unbooked_fee: i64,
}

struct Pending {
    acct: usize,
    amount: i64,
    counterparty: String,
    purpose: &'static str,
    voucher: String,
}

#[derive(Default)]
pub struct Funds {
    pub accts: Vec<BankAcct>,
    queue: BTreeMap<(Day, u32, u64), Pending>,
    seq: u64,
    txn_seq: u64,
}

/// A bank fee per outgoing transfer, deducted by the bank at once and booked monthly.
const FEE: i64 = 200;
const BANKS: &[(&str, &str)] = &[
    ("中国工商银行", "102"),
    ("中国农业银行", "103"),
    ("中国银行", "104"),
    ("中国建设银行", "105"),
    ("交通银行", "301"),
];

impl Funds {
    pub fn new(rng: &mut R) -> Funds {
        let mut accts = Vec::new();
        for org in 0..ENTITIES.len() {
            let kinds: &[Kind] = if org == HQ {
                &[Kind::Basic, Kind::General, Kind::General, Kind::Special]
            } else {
                &[
                    Kind::Basic,
                    Kind::General,
                    Kind::Revenue,
                    Kind::Revenue,
                    Kind::Special,
                ]
            };
            for (i, &kind) in kinds.iter().enumerate() {
                let (bank, code) = BANKS[(org + i) % BANKS.len()];
                let reserve = match kind {
                    Kind::Basic => 50_000_000,
                    Kind::General => 200_000_000,
                    Kind::Revenue => 100_000_000,
                    Kind::Special => 20_000_000,
                } * if org == HQ { 2 } else { 1 };
                let book = reserve * 4 + 100 * values::range(rng, 0, 2_000_000);
                accts.push(BankAcct {
                    no: values::corp_account(rng),
                    bank,
                    code,
                    org,
                    kind,
                    reserve,
                    book,
                    unbooked_fee: 0,
                });
            }
        }
        Funds {
            accts,
            ..Funds::default()
        }
    }

    pub fn find(&self, org: usize, kind: Kind, nth: usize) -> usize {
        self.accts
            .iter()
            .enumerate()
            .filter(|(_, a)| a.org == org && a.kind == kind)
            .nth(nth)
            .or_else(|| {
                self.accts
                    .iter()
                    .enumerate()
                    .find(|(_, a)| a.org == org && a.kind == kind)
            })
            .map_or(0, |(i, _)| i)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn queue(
        &mut self,
        day: Day,
        secs: u32,
        acct: usize,
        amount: i64,
        counterparty: &str,
        purpose: &'static str,
        voucher: &str,
    ) {
        self.seq += 1;
        self.queue.insert(
            (day, secs, self.seq),
            Pending {
                acct,
                amount,
                counterparty: counterparty.to_owned(),
                purpose,
                voucher: voucher.to_owned(),
            },
        );
    }

    /// Today's queued movements of one account, in time order: (secs, amount, purpose).
    fn today(&self, day: Day, acct: usize) -> Vec<(u32, i64)> {
        self.queue
            .range((day, 0, 0)..(day.plus(1), 0, 0))
            .filter(|(_, p)| p.acct == acct)
            .map(|((_, s, _), p)| (*s, p.amount))
            .collect()
    }

    pub fn write_accounts(&self, out: &mut Out) -> Result<()> {
        let d = def(
            "bank_account",
            "资金",
            "银行账户台账（电费收入户/基本户/一般户/农网专户，含安全备付）",
        )
        .col("acct_no", ColumnType::String, "银行账号")
        .col("bank", ColumnType::String, "开户银行")
        .pad()
        .col(
            "bank_code",
            ColumnType::String,
            "行别代码（新代码：CNAPS行别）",
        )
        .old_code(crate::dirt::BANK_CODES)
        .col("org_id", ColumnType::String, "开户单位")
        .col(
            "type",
            ColumnType::String,
            "账户类型：电费收入户/基本户/一般户/农网/专户",
        )
        .col("in_pool", Bool, "是否纳入资金池归集")
        .col("safety_reserve", Money, "安全备付金额（元）")
        .col("status", ColumnType::String, "账户状态")
        .col("open_date", Date, "开户日期")
        .key(&["acct_no"])
        .org("org_id")
        .build();
        let mut t = out.open(d, self.accts.len() as u64, true)?;
        for (i, a) in self.accts.iter().enumerate() {
            t.rec
                .start()
                .s(&a.no)
                .s(a.bank)
                .s(a.code)
                .s(ENTITIES[a.org])
                .s(a.kind.label())
                .b(a.kind != Kind::Special)
                .fen(a.reserve)
                .s("正常")
                .day(Day::ymd(2008 + (i as i32 % 12), 1 + (i as u32 % 12), 10));
            t.emit(out)?;
        }
        out.close(t).map(|_| ())
    }

    pub fn opening_by_org(&self, org: usize) -> i64 {
        self.accts
            .iter()
            .filter(|a| a.org == org)
            .map(|a| a.book)
            .sum()
    }
}

fn category(purpose: &str) -> &'static str {
    match purpose {
        "电费收入" => "电费收入",
        "上划" | "下拨" | "调拨" => "内部资金往来",
        "借款" => "筹资",
        "购电费" => "购电支出",
        "工程款" | "物资款" | "服务费" => "采购与工程支出",
        "报销" => "费用支出",
        "工资" | "代扣个税" | "代扣社保公积金" => "人工支出",
        _ => "其他",
    }
}

impl World<'_> {
    /// The fund office's end-of-day routine and the bank's processing.
    pub fn funds_end_of_day(&mut self, day: Day, sweep_day: bool) -> Result<()> {
        let month_end = day.is_month_end();
        // Month end: book the fees the bank deducted (including today's).
        if month_end {
            for (org, &cc) in ENTITIES.iter().enumerate() {
                let mut v = Voucher::new(
                    org,
                    day,
                    "付",
                    "资金",
                    &format!("SXF{}{}", day.period(), cc),
                )
                .at(18 * 3600);
                let mut total = 0;
                for i in 0..self.funds.accts.len() {
                    if self.funds.accts[i].org != org {
                        continue;
                    }
                    let outgoing = self
                        .funds
                        .today(day, i)
                        .iter()
                        .filter(|(_, a)| *a < 0)
                        .count() as i64;
                    let fee = self.funds.accts[i].unbooked_fee + outgoing * FEE;
                    if fee > 0 {
                        let bank = self.funds.accts[i].bank;
                        total += fee;
                        v = v.line(
                            Line::cr(A1002, fee, "本月银行手续费", cc)
                                .bank(i, "手续费", bank)
                                .dims("支付的其他与经营活动有关的现金", "资金结算", "流出"),
                        );
                    }
                }
                if total > 0 {
                    v.lines.insert(
                        0,
                        Line::dr(A6603, total, "本月银行手续费", cc).dims(
                            "支付的其他与经营活动有关的现金",
                            "资金结算",
                            "流出",
                        ),
                    );
                    self.post(v)?;
                }
            }
        }
        // Sweep the electricity-fee accounts (上划) down to three times their reserve.
        if sweep_day {
            for i in 0..self.funds.accts.len() {
                if self.funds.accts[i].kind != Kind::Revenue {
                    continue;
                }
                let a = &self.funds.accts[i];
                let end = a.book + self.funds.today(day, i).iter().map(|(_, x)| x).sum::<i64>();
                let amount = (end - 3 * a.reserve) / 100 * 100;
                if amount <= 0 {
                    continue;
                }
                let org = a.org;
                let target = self.funds.find(HQ, Kind::General, 0);
                let cc = ENTITIES[org];
                let no = a.no.clone();
                let target_no = self.funds.accts[target].no.clone();
                let v = Voucher::new(org, day, "付", "资金", &format!("SH{}{}", day.period(), i))
                    .at(17 * 3600 + 1800)
                    .line(Line::dr(A1221, amount, "电费资金上划本部", cc).dims(
                        "",
                        "资金归集",
                        "内部",
                    ))
                    .line(
                        Line::cr(A1002, amount, "电费资金上划本部", cc)
                            .bank(i, "上划", &target_no)
                            .dims("", "资金归集", "内部"),
                    );
                self.post(v)?;
                let v = Voucher::new(HQ, day, "收", "资金", &format!("SH{}{}", day.period(), i))
                    .at(17 * 3600 + 1800)
                    .line(
                        Line::dr(A1002, amount, "收县公司上划电费资金", ENTITIES[HQ])
                            .bank(target, "上划", &no)
                            .dims("", "资金归集", "内部"),
                    )
                    .line(
                        Line::cr(A2241, amount, "收县公司上划电费资金", ENTITIES[HQ]).dims(
                            "",
                            "资金归集",
                            "内部",
                        ),
                    );
                self.post(v)?;
            }
        }
        // Top-ups: counties first (their 下拨 is an outflow of 本部's 一般户), then 本部.
        let hq_general = self.funds.find(HQ, Kind::General, 0);
        let mut order: Vec<usize> = (0..self.funds.accts.len())
            .filter(|&i| self.funds.accts[i].kind != Kind::Revenue && i != hq_general)
            .collect();
        order.sort_by_key(|&i| (self.funds.accts[i].org == HQ, i));
        order.push(hq_general);
        for i in order {
            let a = &self.funds.accts[i];
            let mut run = a.book;
            let mut min = run;
            for (_, x) in self.funds.today(day, i) {
                run += x;
                min = min.min(run);
            }
            if min >= 2 * a.reserve {
                continue;
            }
            let amount = (4 * a.reserve - min + 999_999) / 1_000_000 * 1_000_000;
            let org = a.org;
            let cc = ENTITIES[org];
            let no = a.no.clone();
            if i == hq_general {
                let v = Voucher::new(HQ, day, "收", "资金", &format!("JK{}", day.iso()))
                    .at(7 * 3600)
                    .line(
                        Line::dr(A1002, amount, "取得短期借款", cc)
                            .bank(i, "借款", "国网财务公司")
                            .dims("取得借款收到的现金", "融资", "流入"),
                    )
                    .line(Line::cr(A2001, amount, "取得短期借款", cc).dims(
                        "取得借款收到的现金",
                        "融资",
                        "流入",
                    ));
                self.post(v)?;
            } else if org == HQ {
                let gno = self.funds.accts[hq_general].no.clone();
                let v = Voucher::new(HQ, day, "转", "资金", &format!("DB{}{}", day.iso(), i))
                    .at(8 * 3600)
                    .line(
                        Line::dr(A1002, amount, "内部账户资金调拨", cc)
                            .bank(i, "调拨", &gno)
                            .dims("", "资金调拨", "内部"),
                    )
                    .line(
                        Line::cr(A1002, amount, "内部账户资金调拨", cc)
                            .bank(hq_general, "调拨", &no)
                            .dims("", "资金调拨", "内部"),
                    );
                self.post(v)?;
            } else {
                let gno = self.funds.accts[hq_general].no.clone();
                let v = Voucher::new(HQ, day, "付", "资金", &format!("XB{}{}", day.iso(), i))
                    .at(8 * 3600)
                    .line(
                        Line::dr(A2241, amount, "下拨县公司资金", ENTITIES[HQ]).dims(
                            "",
                            "资金下拨",
                            "内部",
                        ),
                    )
                    .line(
                        Line::cr(A1002, amount, "下拨县公司资金", ENTITIES[HQ])
                            .bank(hq_general, "下拨", &no)
                            .dims("", "资金下拨", "内部"),
                    );
                self.post(v)?;
                let v = Voucher::new(org, day, "收", "资金", &format!("XB{}{}", day.iso(), i))
                    .at(8 * 3600)
                    .line(
                        Line::dr(A1002, amount, "收本部下拨资金", cc)
                            .bank(i, "下拨", &gno)
                            .dims("", "资金下拨", "内部"),
                    )
                    .line(Line::cr(A1221, amount, "收本部下拨资金", cc).dims(
                        "",
                        "资金下拨",
                        "内部",
                    ));
                self.post(v)?;
            }
        }
        // The bank processes the day.
        let todays: Vec<((Day, u32, u64), Pending)> = {
            let later = self.funds.queue.split_off(&(day.plus(1), 0, 0));
            let now = std::mem::replace(&mut self.funds.queue, later);
            now.into_iter().collect()
        };
        let mut cash: BTreeMap<(usize, &'static str), (i64, i64)> = BTreeMap::new();
        for ((_, secs, _), p) in todays {
            let a = &mut self.funds.accts[p.acct];
            a.book += p.amount;
            if p.amount < 0 && p.purpose != "手续费" {
                a.unbooked_fee += FEE;
            }
            let e = cash.entry((a.org, category(p.purpose))).or_default();
            if p.amount >= 0 {
                e.0 += p.amount;
            } else {
                e.1 -= p.amount;
            }
            self.funds.txn_seq += 1;
            let r = self.t.bank_txn.rec.start();
            r.f(format_args!("T{:010}", self.funds.txn_seq))
                .s(&a.no)
                .s(ENTITIES[a.org])
                .ts(day, secs);
            r.s(if p.amount >= 0 { "收" } else { "付" })
                .fen(p.amount.abs())
                .s(&p.counterparty)
                .s(p.purpose)
                .fen(a.book)
                .s(&p.voucher);
            self.t.bank_txn.emit(&mut self.out)?;
        }
        if month_end {
            for a in &mut self.funds.accts {
                a.unbooked_fee = 0;
            }
        }
        for i in 0..self.funds.accts.len() {
            let a = &self.funds.accts[i];
            let bank_bal = a.book - a.unbooked_fee;
            let (no, org, reserve, book, unbooked) =
                (a.no.clone(), a.org, a.reserve, a.book, a.unbooked_fee);
            let a01 = self.anom.roll(Rule::A01);
            let frozen = if a01 { bank_bal - reserve / 2 } else { 0 };
            let r = self.t.bank_balance_daily.rec.start();
            r.s(&no)
                .day(day)
                .s(ENTITIES[org])
                .fen(book)
                .fen(bank_bal)
                .fen(bank_bal - frozen)
                .fen(-unbooked)
                .fen(frozen);
            if a01 {
                let detail = format!(
                    "可用余额 {} < 安全备付 {}（司法冻结）",
                    zhiyun_batch::money::fen_to_yuan(bank_bal - frozen),
                    zhiyun_batch::money::fen_to_yuan(reserve)
                );
                self.t
                    .bank_balance_daily
                    .flag(&mut self.out, "A01", &detail)?;
            }
            self.t.bank_balance_daily.emit(&mut self.out)?;
        }
        for ((org, cat), (inflow, outflow)) in cash {
            let a06 = self.anom.roll(Rule::A06);
            let (plan_in, plan_out) = if a06 {
                (inflow * 5 / 4, outflow * 5 / 4)
            } else {
                (
                    plan_near(&mut self.rng, inflow),
                    plan_near(&mut self.rng, outflow),
                )
            };
            let r = self.t.cash_plan_daily.rec.start();
            r.s(ENTITIES[org])
                .day(day)
                .s(cat)
                .fen(plan_in)
                .fen(plan_out)
                .fen(inflow)
                .fen(outflow);
            if a06 {
                self.t.cash_plan_daily.flag(
                    &mut self.out,
                    "A06",
                    "实际与计划偏差 20%（计划高估 25%）",
                )?;
            }
            self.t.cash_plan_daily.emit(&mut self.out)?;
        }
        Ok(())
    }
}

/// A plan within ±3 % of the actual (so the 5 % deviation rule A06 stays quiet).
fn plan_near(rng: &mut R, actual: i64) -> i64 {
    if actual == 0 {
        return 0;
    }
    let permille = rng.random_range(-30..=30i64);
    actual + actual * permille / 1000
}
