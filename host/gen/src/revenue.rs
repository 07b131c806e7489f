//! Electricity revenue (营销电费): customers, monthly bills, payments and
//! their daily (or, in small batches, less frequent) summary postings to the
//! ledger, and the output VAT invoices of non-residential customers.
//!
//! Postings: issuing bills debits 112201 应收电费 and credits 6001 (fees net
//! of VAT and funds), 22210102 销项税额 and 2241 (government funds collected
//! on their behalf); collections debit the electricity-fee bank account and
//! credit 112201 (and 6051 for late fees). So Σ bills − Σ payments per
//! customer is the open AR and its total is 112201.

use crate::anomalies::Rule;
use crate::calendar::{self, Day};
use crate::funds::Kind;
use crate::ledger::{Line, Voucher};
use crate::orgs::{A1002, A2241, A6001, A6051, A112201, A22210102, ORGS, STATIONS};
use crate::sim::World;
use crate::values;
use anyhow::Result;
use rand::Rng;
use std::collections::BTreeMap;

pub struct Category {
    pub name: &'static str,
    pub code: &'static str,
    price_e4: i64,
    kwh: (i64, i64),
    weight: u32,
}

pub const CATEGORIES: [Category; 4] = [
    Category {
        name: "居民",
        code: "100",
        price_e4: 5583,
        kwh: (60, 600),
        weight: 870,
    },
    Category {
        name: "一般工商业",
        code: "200",
        price_e4: 6820,
        kwh: (2_000, 60_000),
        weight: 90,
    },
    Category {
        name: "大工业",
        code: "300",
        price_e4: 6120,
        kwh: (150_000, 2_500_000),
        weight: 20,
    },
    Category {
        name: "农业",
        code: "400",
        price_e4: 4800,
        kwh: (500, 8_000),
        weight: 20,
    },
];

pub struct Cust {
    station: u8,
    cat: u8,
    base_kwh: u32,
    kva: u32,
    slow: bool,
    name: Option<Box<str>>,
}

struct Collection {
    voucher: String,
    amount: i64,
    late: i64,
}

#[derive(Default)]
pub struct Revenue {
    pub custs: Vec<Cust>,
    pending: BTreeMap<(Day, usize, usize), Collection>,
    pub billed_kwh: BTreeMap<u32, i64>,
    rcpt_seq: u64,
    inv_seq: u64,
    /// Opening AR per entity (bills of 202412 unpaid at the start).
    pub opening_ar: [i64; 4],
}

pub fn cust_no(c: &Cust, i: usize) -> String {
    format!("{}{:07}", ORGS[STATIONS[c.station as usize]].id, i)
}

impl World<'_> {
    pub fn init_customers(&mut self) -> Result<()> {
        let n = self.vol.customers;
        let weights: Vec<(u8, u32)> = CATEGORIES
            .iter()
            .enumerate()
            .map(|(i, c)| (i as u8, c.weight))
            .collect();
        for i in 0..n {
            let rng = &mut self.rng;
            // At least one customer of every category, whatever the scale.
            let cat = if i < 4 {
                i as u8
            } else {
                *values::weighted(rng, &weights)
            };
            let c = &CATEGORIES[cat as usize];
            let station = rng.random_range(0..STATIONS.len()) as u8;
            let base_kwh = values::range(rng, c.kwh.0, c.kwh.1) as u32;
            let kva = match cat {
                2 => (base_kwh / 300).max(315),
                1 => (base_kwh / 400).max(50),
                _ => 8,
            };
            let company = cat == 1 || cat == 2;
            let name = if company {
                values::company_name(rng)
            } else {
                values::person_name(rng)
            };
            let cust = Cust {
                station,
                cat,
                base_kwh,
                kva,
                slow: cat == 0 && rng.random_bool(0.05),
                name: (cat != 0).then(|| name.clone().into_boxed_str()),
            };
            let no = cust_no(&cust, i);
            let voltage = match cat {
                0 => "交流220V",
                1 => values::pick(rng, &["交流380V", "交流10kV"]),
                2 => values::pick(rng, &["交流10kV", "交流35kV", "交流110kV"]),
                _ => "交流380V",
            };
            let industry = match cat {
                0 => "城乡居民生活用电",
                1 => values::pick(
                    rng,
                    &[
                        "批发和零售业",
                        "住宿和餐饮业",
                        "信息传输软件",
                        "房地产业",
                        "公共服务",
                    ],
                ),
                2 => values::pick(
                    rng,
                    &[
                        "黑色金属冶炼",
                        "化学原料制造",
                        "非金属矿物制品",
                        "纺织业",
                        "通用设备制造",
                    ],
                ),
                _ => values::pick(rng, &["农业排灌", "农副产品加工", "畜牧业"]),
            };
            let cert = if company {
                values::uscc(rng)
            } else {
                values::id_card(rng)
            };
            let mobile = values::mobile(rng);
            // 联系人 often carries the phone number too: a sensitive value in an innocuous column.
            let contact = if rng.random_bool(0.5) {
                format!("{} {}", values::person_name(rng), values::mobile(rng))
            } else {
                values::person_name(rng)
            };
            let address = format!(
                "{}市{}{}路{}号",
                values::city(rng),
                &ORGS[STATIONS[station as usize]].name[..9],
                values::pick(
                    rng,
                    &["人民", "解放", "建设", "中山", "新华", "环城", "滨江"]
                ),
                rng.random_range(1..999)
            );
            let open = Day::ymd(
                rng.random_range(1995..=2024),
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            );
            let r = self.t.dim_customer.rec.start();
            r.s(&no)
                .s(&name)
                .s(c.name)
                .s(c.code)
                .s(voltage)
                .s(industry)
                .s(ORGS[STATIONS[station as usize]].id);
            r.s(if cat == 0 && i % 3 == 0 {
                "预付费"
            } else {
                "后付费"
            })
            .dec(i64::from(kva) * 10, 1);
            r.s(values::pick(&mut self.rng, &["AA", "A", "B", "C"]));
            if cat == 2 && i % 4 == 0 {
                r.f(format_args!("G{:05}", i % 97));
            } else {
                r.s("");
            }
            r.s(&cert).s(&mobile).s(&contact).s(&address).day(open);
            self.t.dim_customer.emit(&mut self.out)?;
            self.rev.custs.push(cust);
        }
        Ok(())
    }

    /// The day collections arriving on `d` are posted (daily summaries, or
    /// every `post_every` days and at month end in small batches).
    pub fn post_day(&self, d: Day) -> Day {
        let k = self.vol.post_every;
        let mut p = d;
        loop {
            if p.is_month_end() || (k < 28 && (p.0 - calendar::start().0) % k == k - 1) {
                return p;
            }
            p = p.plus(1);
        }
    }

    /// Issues the bills of `period` on `issue` (day 25). `opening` bills
    /// (202412) are not posted: they are the opening AR.
    pub fn bill_month(&mut self, period: u32, issue: Day, opening: bool) -> Result<()> {
        let month = period % 100;
        let season: i64 = match month {
            7 | 8 => 125,
            1 | 12 => 115,
            6 | 9 => 108,
            _ => 100,
        };
        let due = issue.plus(15);
        let as_of = calendar::as_of();
        // (station) → (amount, net revenue, tax, fund)
        let mut totals = [(0i64, 0i64, 0i64, 0i64); 6];
        let mut kwh_total = 0i64;
        for i in 0..self.rev.custs.len() {
            let (station, cat, base, kva, slow) = {
                let c = &self.rev.custs[i];
                (
                    c.station as usize,
                    c.cat as usize,
                    i64::from(c.base_kwh),
                    i64::from(c.kva),
                    c.slow,
                )
            };
            let c = &CATEGORIES[cat];
            let rng = &mut self.rng;
            let kwh = (base * season / 100 * rng.random_range(85..=115) / 100).max(1);
            kwh_total += kwh;
            let energy = kwh * c.price_e4 / 100;
            let basic = if cat == 2 { kva * 2_500 } else { 0 };
            let pf = if cat == 1 || cat == 2 {
                energy * rng.random_range(-30..=20) / 1000
            } else {
                0
            };
            let fund = if cat == 0 { 0 } else { kwh * 29 / 10 };
            let amount = energy + basic + pf + fund;
            let tax = (amount - fund) * 13 / 113;
            let st = &mut totals[station];
            st.0 += amount;
            st.1 += amount - tax - fund;
            st.2 += tax;
            st.3 += fund;
            let cno = cust_no(&self.rev.custs[i], i);
            let station_id = ORGS[STATIONS[station]].id;
            let bill_id = format!("EB{period}{cno}");
            let r = self.t.elec_bill.rec.start();
            r.s(&bill_id)
                .s(&cno)
                .s(station_id)
                .f(format_args!("{period}"))
                .s(c.code)
                .int(kwh);
            r.fen(energy)
                .fen(basic)
                .fen(pf)
                .fen(fund)
                .fen(amount)
                .fen(tax)
                .day(issue)
                .day(due);
            // A09: a large industrial bill left unpaid long past its due date.
            let a09 = cat == 2
                && amount >= 10_000_000
                && due.plus(30) < as_of
                && self.anom.roll(Rule::A09);
            if a09 {
                let detail = format!(
                    "客户 {cno} 欠费 {} 元，逾期超过 30 天",
                    zhiyun_batch::money::fen_to_yuan(amount)
                );
                self.t.elec_bill.flag(&mut self.out, "A09", &detail)?;
            }
            self.t.elec_bill.emit(&mut self.out)?;
            if cat != 0 {
                self.rev.inv_seq += 1;
                let name = self.rev.custs[i].name.as_deref().unwrap_or("").to_owned();
                let r = self.t.tax_invoice.rec.start();
                r.f(format_args!("2533100{:013}", self.rev.inv_seq))
                    .s("销")
                    .s(crate::orgs::ENTITIES[ORGS[STATIONS[station]].entity]);
                r.s(&name)
                    .day(issue)
                    .fen(amount - tax)
                    .fen(tax)
                    .s("0.13")
                    .s("正常")
                    .s(&bill_id);
                self.t.tax_invoice.emit(&mut self.out)?;
            }
            if opening {
                self.rev.opening_ar[ORGS[STATIONS[station]].entity] += amount;
            }
            if !a09 {
                self.pay_bill(
                    i, &bill_id, &cno, station, cat, amount, issue, due, slow, opening,
                )?;
            }
        }
        if !opening {
            *self.rev.billed_kwh.entry(period).or_default() += kwh_total;
            for (s, &(amount, net, tax, fund)) in totals.iter().enumerate() {
                if amount == 0 {
                    continue;
                }
                let station = ORGS[STATIONS[s]].id;
                let entity = ORGS[STATIONS[s]].entity;
                let v = Voucher::new(
                    entity,
                    issue,
                    "转",
                    "营销",
                    &format!("DFFX{period}{station}"),
                )
                .line(Line::dr(A112201, amount, "电费发行", station).dims("", "电费发行", ""))
                .line(Line::cr(A6001, net, "电费发行-售电收入", station).dims("", "电费发行", ""))
                .line(Line::cr(A22210102, tax, "电费发行-销项税额", station).dims(
                    "",
                    "电费发行",
                    "",
                ))
                .line(
                    Line::cr(A2241, fund, "电费发行-代征政府性基金", station).dims(
                        "",
                        "电费发行",
                        "",
                    ),
                );
                self.post(v)?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn pay_bill(
        &mut self,
        cust: usize,
        bill_id: &str,
        cno: &str,
        station: usize,
        cat: usize,
        amount: i64,
        issue: Day,
        due: Day,
        slow: bool,
        opening: bool,
    ) -> Result<()> {
        let as_of = calendar::as_of();
        let rng = &mut self.rng;
        let parts = if cat == 0 {
            *values::weighted(rng, &[(1usize, 70), (2, 20), (3, 10)])
        } else {
            *values::weighted(rng, &[(1usize, 85), (2, 15)])
        };
        let first = if opening {
            calendar::start()
        } else {
            issue.plus(1)
        };
        let late = slow && amount < 1_000_000;
        let mut left = amount;
        let mut day = first;
        for n in 0..parts {
            let part = if n + 1 == parts {
                left
            } else {
                left / (parts - n) as i64
            };
            left -= part;
            if part == 0 {
                continue;
            }
            let last = if late { due.plus(20) } else { due };
            day = Day(values::range(
                &mut self.rng,
                i64::from(day.0),
                i64::from(last.0.max(day.0)),
            ) as i32);
            if day > as_of {
                break;
            }
            let late_fee = if day > due {
                part * i64::from(day.0 - due.0) / 1000
            } else {
                0
            };
            let channel = if cat == 0 {
                *values::weighted(
                    &mut self.rng,
                    &[
                        ("代扣", 30),
                        ("网上国网", 45),
                        ("柜台", 10),
                        ("走收", 5),
                        ("卡表购电", 10),
                    ],
                )
            } else {
                *values::weighted(
                    &mut self.rng,
                    &[("代扣", 40), ("网上国网", 30), ("柜台", 30)],
                )
            };
            let secs = self.rng.random_range(8 * 3600..22 * 3600);
            let arrive = if matches!(channel, "网上国网" | "代扣") && secs >= 16 * 3600 {
                day.plus(1).min(as_of)
            } else {
                day
            };
            let entity = ORGS[STATIONS[station]].entity;
            let acct = self.funds.find(
                entity,
                Kind::Revenue,
                usize::from(!matches!(channel, "代扣" | "网上国网")),
            );
            let post = self.post_day(arrive);
            let key = (post, station, acct);
            if !self.rev.pending.contains_key(&key) {
                let voucher = self.ledger.next_id(entity, post.period());
                self.rev.pending.insert(
                    key,
                    Collection {
                        voucher,
                        amount: 0,
                        late: 0,
                    },
                );
            }
            let reversal = self.rng.random_bool(0.002);
            let acct_no = self.funds.accts[acct].no.clone();
            let coll = self.rev.pending.get_mut(&key).map(|c| {
                c.amount += part;
                c.late += late_fee;
                c.voucher.clone()
            });
            let voucher = coll.unwrap_or_default();
            let rows: &[(i64, i64, &str)] = if reversal {
                &[
                    (part, late_fee, ""),
                    (-part, -late_fee, "冲正"),
                    (part, late_fee, ""),
                ]
            } else {
                &[(part, late_fee, "")]
            };
            for (k, &(amt, fee, flag)) in rows.iter().enumerate() {
                self.rev.rcpt_seq += 1;
                let r = self.t.elec_payment.rec.start();
                r.f(format_args!("RC{:011}", self.rev.rcpt_seq))
                    .s(bill_id)
                    .s(cno)
                    .s(ORGS[STATIONS[station]].id);
                r.ts(day, secs + k as u32 * 60)
                    .fen(amt)
                    .s(channel)
                    .fen(fee)
                    .s(&acct_no)
                    .day(arrive)
                    .s(&voucher)
                    .s(flag);
                self.t.elec_payment.emit(&mut self.out)?;
            }
            let _ = cust;
        }
        Ok(())
    }

    /// Posts the collection summaries due today.
    pub fn post_collections(&mut self, day: Day) -> Result<()> {
        let later = self.rev.pending.split_off(&(day.plus(1), 0, 0));
        let due = std::mem::replace(&mut self.rev.pending, later);
        for ((d, station, acct), c) in due {
            let sid = ORGS[STATIONS[station]].id;
            let entity = ORGS[STATIONS[station]].entity;
            let mut v = Voucher::new(
                entity,
                d,
                "收",
                "营销",
                &format!("DFSK{}{}{}", d.iso(), sid, acct),
            )
            .at(15 * 3600)
            .line(
                Line::dr(A1002, c.amount + c.late, "电费实收汇总入账", sid)
                    .bank(acct, "电费收入", "电费收费汇总")
                    .dims("销售商品、提供劳务收到的现金", "电费回收", "流入"),
            )
            .line(Line::cr(A112201, c.amount, "电费实收汇总入账", sid).dims(
                "销售商品、提供劳务收到的现金",
                "电费回收",
                "流入",
            ))
            .line(Line::cr(A6051, c.late, "电费违约金", sid).dims(
                "销售商品、提供劳务收到的现金",
                "电费回收",
                "流入",
            ));
            v.id = Some(c.voucher);
            self.post(v)?;
        }
        Ok(())
    }
}
