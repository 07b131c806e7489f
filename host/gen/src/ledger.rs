//! The general ledger: vouchers are derived from business documents and
//! posted here; `gl_balance` is the aggregation of the posted lines (plus
//! opening balances that balance by themselves), one period at a time, so
//! the ledger is consistent by construction and memory stays bounded by the
//! open periods, never the number of lines.

use crate::calendar::Day;
use crate::orgs::{A1002, A1604, A2202, A4103, A4104, Acct, ENTITIES};
use crate::sim::World;
use anyhow::{Result, bail};
use std::collections::BTreeMap;

/// The auxiliary dimension gl_balance is kept by (2202 by supplier, 1604 by project).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Aux {
    None,
    Supp(u32),
    Proj(u32),
}

pub type Key = (usize, Acct, Aux);

#[derive(Default, Clone, Copy)]
struct Bal {
    net: i64,
    ytd_dr: i64,
    ytd_cr: i64,
}

/// A voucher line before it is written.
pub struct Line {
    pub acct: Acct,
    pub dr: i64,
    pub cr: i64,
    pub summary: String,
    /// Cost center (an org id).
    pub cc: &'static str,
    pub proj: Option<u32>,
    pub supp: Option<u32>,
    pub emp: Option<u32>,
    pub cust: Option<String>,
    pub cashflow: &'static str,
    pub biz: &'static str,
    pub fund: &'static str,
    /// For 1002 lines: the bank account (index into Funds), the purpose and the counterparty.
    pub bank: Option<(usize, &'static str, String)>,
}

impl Line {
    pub fn dr(acct: Acct, fen: i64, summary: &str, cc: &'static str) -> Line {
        Line::new(acct, fen, 0, summary, cc)
    }
    pub fn cr(acct: Acct, fen: i64, summary: &str, cc: &'static str) -> Line {
        Line::new(acct, 0, fen, summary, cc)
    }
    fn new(acct: Acct, dr: i64, cr: i64, summary: &str, cc: &'static str) -> Line {
        Line {
            acct,
            dr,
            cr,
            summary: summary.to_owned(),
            cc,
            proj: None,
            supp: None,
            emp: None,
            cust: None,
            cashflow: "",
            biz: "",
            fund: "",
            bank: None,
        }
    }
    pub fn proj(mut self, p: u32) -> Line {
        self.proj = Some(p);
        self
    }
    pub fn supp(mut self, s: u32) -> Line {
        self.supp = Some(s);
        self
    }
    pub fn emp(mut self, e: u32) -> Line {
        self.emp = Some(e);
        self
    }
    pub fn bank(mut self, acct: usize, purpose: &'static str, counterparty: &str) -> Line {
        self.bank = Some((acct, purpose, counterparty.to_owned()));
        self
    }
    /// 现金流量项目, 业务活动 and 资金流向 (the 多维 dimensions).
    pub fn dims(mut self, cashflow: &'static str, biz: &'static str, fund: &'static str) -> Line {
        self.cashflow = cashflow;
        self.biz = biz;
        self.fund = fund;
        self
    }
    fn aux(&self) -> Aux {
        match (self.acct, self.supp, self.proj) {
            (a, Some(s), _) if a == A2202 => Aux::Supp(s),
            (a, _, Some(p)) if a == A1604 => Aux::Proj(p),
            _ => Aux::None,
        }
    }
}

pub struct Voucher {
    pub org: usize,
    pub date: Day,
    /// Time of day (seconds) of its bank transactions.
    pub secs: u32,
    pub word: &'static str,
    pub source: &'static str,
    pub doc: String,
    pub lines: Vec<Line>,
    /// A voucher id reserved earlier (documents that reference it were
    /// written before the voucher).
    pub id: Option<String>,
    /// May carry an A20 (unbalanced voucher) anomaly.
    pub may_break: bool,
}

impl Voucher {
    pub fn new(
        org: usize,
        date: Day,
        word: &'static str,
        source: &'static str,
        doc: &str,
    ) -> Voucher {
        Voucher {
            org,
            date,
            secs: 10 * 3600,
            word,
            source,
            doc: doc.to_owned(),
            lines: Vec::new(),
            id: None,
            may_break: false,
        }
    }
    pub fn line(mut self, l: Line) -> Voucher {
        if l.dr != 0 || l.cr != 0 {
            self.lines.push(l);
        }
        self
    }
    pub fn at(mut self, secs: u32) -> Voucher {
        self.secs = secs;
        self
    }
}

#[derive(Default)]
pub struct Ledger {
    seq: BTreeMap<(usize, u32), u32>,
    bal: BTreeMap<Key, Bal>,
    pending: BTreeMap<u32, BTreeMap<Key, (i64, i64)>>,
    flushed_through: u32,
    pub lines_written: u64,
}

impl Ledger {
    /// Reserves the next voucher id of an entity in a period.
    pub fn next_id(&mut self, org: usize, period: u32) -> String {
        let n = self.seq.entry((org, period)).or_default();
        *n += 1;
        format!("{}{}{:06}", ENTITIES[org], period, n)
    }

    /// An opening balance (as of the day before the data starts), as a net debit.
    pub fn open(&mut self, org: usize, acct: Acct, aux: Aux, net: i64) {
        self.bal.entry((org, acct, aux)).or_default().net += net;
    }

    pub fn opening_total(&self, org: usize, acct: Acct) -> i64 {
        self.bal
            .iter()
            .filter(|((o, a, _), _)| *o == org && *a == acct)
            .map(|(_, b)| b.net)
            .sum()
    }

    /// The balance including every posting made so far up to `period`.
    pub fn balance_upto(&self, key: Key, period: u32) -> i64 {
        let mut net = self.bal.get(&key).map_or(0, |b| b.net);
        for (_, acts) in self.pending.range(..=period) {
            if let Some((dr, cr)) = acts.get(&key) {
                net += dr - cr;
            }
        }
        net
    }

    /// Net balances of an entity's P&L accounts up to `period` (for closing).
    fn pnl_upto(&self, org: usize, period: u32) -> BTreeMap<Acct, i64> {
        let mut out: BTreeMap<Acct, i64> = BTreeMap::new();
        for (&(o, a, _), b) in &self.bal {
            if o == org && a.is_pnl() {
                *out.entry(a).or_default() += b.net;
            }
        }
        for (_, acts) in self.pending.range(..=period) {
            for (&(o, a, _), (dr, cr)) in acts {
                if o == org && a.is_pnl() {
                    *out.entry(a).or_default() += dr - cr;
                }
            }
        }
        out
    }
}

impl World<'_> {
    /// Writes a voucher and its lines, posts it to the ledger and queues its
    /// bank transactions. Returns the voucher id.
    pub fn post(&mut self, mut v: Voucher) -> Result<String> {
        let period = v.date.period();
        if period <= self.ledger.flushed_through {
            bail!(
                "internal: voucher dated {} posted after its period was closed",
                v.date.iso()
            );
        }
        if v.lines.is_empty() {
            bail!("internal: voucher {} has no lines", v.doc);
        }
        let (dr, cr) = v
            .lines
            .iter()
            .fold((0, 0), |(d, c), l| (d + l.dr, c + l.cr));
        if dr != cr {
            bail!("internal: voucher {} does not balance ({dr} ≠ {cr})", v.doc);
        }
        let id = match v.id.take() {
            Some(id) => id,
            None => self.ledger.next_id(v.org, period),
        };
        // A20: the line file carries an error the ledger (which posts the
        // approved voucher) does not; gl_voucher's totals show it.
        let mut broken: Option<(usize, i64)> = None;
        if v.may_break && v.lines.len() >= 2 && self.anom.roll(crate::anomalies::Rule::A20) {
            let delta = 100 * crate::values::range(&mut self.rng, 1, 500);
            broken = Some((v.lines.len() - 1, delta));
        }
        let org_id = ENTITIES[v.org];
        let (mut tot_dr, mut tot_cr) = (dr, cr);
        if let Some((i, delta)) = broken {
            if v.lines[i].dr != 0 {
                tot_dr += delta;
            } else {
                tot_cr += delta;
            }
        }
        {
            let r = self.t.gl_voucher.rec.start();
            r.s(&id)
                .s(org_id)
                .f(format_args!("{period}"))
                .day(v.date)
                .s(v.word)
                .s(v.source)
                .s(&v.doc);
            let maker = crate::values::pick(&mut self.rng, MAKERS);
            r.s(maker)
                .s(if v.source == "总账" {
                    "系统"
                } else {
                    REVIEWERS[v.org]
                })
                .s("已记账")
                .fen(tot_dr)
                .fen(tot_cr);
        }
        if let Some((_, delta)) = broken {
            let detail = format!("Σ借 {} ≠ Σ贷 {}", tot_dr, tot_cr);
            self.t.gl_voucher.flag(&mut self.out, "A20", &detail)?;
            let _ = delta;
        }
        self.t.gl_voucher.emit(&mut self.out)?;

        for (n, l) in v.lines.iter().enumerate() {
            let (mut ldr, mut lcr) = (l.dr, l.cr);
            if let Some((i, delta)) = broken
                && i == n
            {
                if ldr != 0 {
                    ldr += delta;
                } else {
                    lcr += delta;
                }
            }
            let r = self.t.gl_voucher_line.rec.start();
            r.s(&id)
                .int(n as i64 + 1)
                .s(org_id)
                .f(format_args!("{period}"))
                .s(l.acct.code())
                .fen(ldr)
                .fen(lcr)
                .s(&l.summary)
                .s(l.cc);
            match l.proj {
                Some(p) => r.f(format_args!("{}", crate::procurement::proj_id(p))),
                None => r.s(""),
            };
            r.s(l.cust.as_deref().unwrap_or(""));
            match l.supp {
                Some(s) => r.f(format_args!("{}", crate::procurement::supp_id(s))),
                None => r.s(""),
            };
            match l.emp {
                Some(e) => r.f(format_args!("{}", crate::staff::emp_id(e))),
                None => r.s(""),
            };
            r.s(l.cashflow).s(l.biz).s(l.fund);
            self.t.gl_voucher_line.emit(&mut self.out)?;
            self.ledger.lines_written += 1;

            let acts = self.ledger.pending.entry(period).or_default();
            let e = acts.entry((v.org, l.acct, l.aux())).or_default();
            e.0 += l.dr;
            e.1 += l.cr;

            if let Some((acct, purpose, counterparty)) = &l.bank {
                if l.acct != A1002 {
                    bail!("internal: a bank transaction on account {}", l.acct.code());
                }
                self.funds.queue(
                    v.date,
                    v.secs,
                    *acct,
                    l.dr - l.cr,
                    counterparty,
                    purpose,
                    &id,
                );
            } else if l.acct == A1002 {
                bail!("internal: a 1002 line without a bank account in {}", v.doc);
            }
        }
        Ok(id)
    }

    /// Year-end closing: every P&L account to 4103 本年利润, then 4103 to 4104 利润分配.
    pub fn year_end_close(&mut self, day: Day) -> Result<()> {
        let period = day.period();
        for (org, &cc) in ENTITIES.iter().enumerate() {
            let pnl = self.ledger.pnl_upto(org, period);
            let mut v = Voucher::new(org, day, "转", "总账", &format!("JZ{}{}", cc, day.year()));
            v.secs = 20 * 3600;
            let mut profit = 0i64;
            for (&acct, &net) in &pnl {
                profit -= net;
                let l = if net > 0 {
                    Line::cr(acct, net, "结转本年损益", cc)
                } else {
                    Line::dr(acct, -net, "结转本年损益", cc)
                };
                v = v.line(l);
            }
            if v.lines.is_empty() {
                continue;
            }
            v = v.line(if profit >= 0 {
                Line::cr(A4103, profit, "结转本年利润", cc)
            } else {
                Line::dr(A4103, -profit, "结转本年亏损", cc)
            });
            self.post(v)?;
            let mut v = Voucher::new(org, day, "转", "总账", &format!("FP{}{}", cc, day.year()));
            v.secs = 20 * 3600 + 60;
            v = if profit >= 0 {
                v.line(Line::dr(A4103, profit, "本年利润转入利润分配", cc))
                    .line(Line::cr(A4104, profit, "本年利润转入利润分配", cc))
            } else {
                v.line(Line::cr(A4103, -profit, "本年亏损转入利润分配", cc))
                    .line(Line::dr(A4104, -profit, "本年亏损转入利润分配", cc))
            };
            if !v.lines.is_empty() {
                self.post(v)?;
            }
        }
        Ok(())
    }

    /// Writes gl_balance for a finished period and carries balances forward.
    pub fn flush_period(&mut self, period: u32) -> Result<()> {
        let acts = self.ledger.pending.remove(&period).unwrap_or_default();
        let new_year = period % 100 == 1;
        let mut keys: Vec<Key> = self
            .ledger
            .bal
            .iter()
            .filter(|(_, b)| b.net != 0)
            .map(|(k, _)| *k)
            .collect();
        keys.extend(acts.keys().copied());
        keys.sort();
        keys.dedup();
        for key in keys {
            let (per_dr, per_cr) = acts.get(&key).copied().unwrap_or_default();
            let b = self.ledger.bal.entry(key).or_default();
            if new_year {
                b.ytd_dr = 0;
                b.ytd_cr = 0;
            }
            let open = b.net;
            b.net += per_dr - per_cr;
            b.ytd_dr += per_dr;
            b.ytd_cr += per_cr;
            let b = *b;
            let (org, acct, aux) = key;
            let r = self.t.gl_balance.rec.start();
            r.s(ENTITIES[org])
                .f(format_args!("{period}"))
                .s(acct.code());
            match aux {
                Aux::None => r.s(""),
                Aux::Supp(s) => r.f(format_args!("S:{}", crate::procurement::supp_id(s))),
                Aux::Proj(p) => r.f(format_args!("P:{}", crate::procurement::proj_id(p))),
            };
            r.fen(open.max(0))
                .fen((-open).max(0))
                .fen(per_dr)
                .fen(per_cr)
                .fen(b.ytd_dr)
                .fen(b.ytd_cr);
            r.fen(b.net.max(0)).fen((-b.net).max(0));
            self.t.gl_balance.emit(&mut self.out)?;
        }
        self.ledger.flushed_through = period;
        Ok(())
    }
}

const MAKERS: &[&str] = &[
    "共享中心-核算岗01",
    "共享中心-核算岗02",
    "共享中心-核算岗03",
    "RPA机器人",
    "接口自动生成",
];
const REVIEWERS: [&str; 4] = ["本部-复核岗", "东城-复核岗", "西山-复核岗", "南湖-复核岗"];
