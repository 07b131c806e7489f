//! People (人资/共享运营): employees, monthly payroll (accrue 2211 at month
//! end, pay net and withholdings on the 10th), expense claims with their
//! invoice lines (claim → voucher Dr 6602/6401, Cr 2241 → payment Dr 2241,
//! Cr 1002), the shared-service work orders that process claims and
//! invoices, and the annual budget.

use crate::anomalies::Rule;
use crate::calendar::{self, Day};
use crate::funds::Kind;
use crate::ledger::{Line, Voucher};
use crate::orgs::*;
use crate::sim::World;
use crate::values;
use anyhow::Result;
use rand::Rng;
use std::collections::BTreeMap;

pub fn emp_id(i: u32) -> String {
    format!("E{i:06}")
}

pub struct Emp {
    /// Index into ORGS (a 供电所 or a department).
    pub org: usize,
    pub grade: u8,
    pub name: String,
    pub card: String,
}

/// (type, item, budget item, dept account, amount range 元, standard markup %)
const CLAIM_TYPES: &[(&str, &str, &str, Acct, i64, i64, u32)] = &[
    ("差旅", "差旅费", "YS0211", A660201, 300, 8_000, 30),
    ("会议", "会议费", "YS0212", A660202, 2_000, 30_000, 10),
    ("招待", "业务招待费", "YS0213", A660203, 300, 3_000, 10),
    ("办公", "办公费", "YS0214", A660204, 100, 5_000, 20),
    ("培训", "培训费", "YS0215", A660205, 500, 8_000, 10),
    ("车辆", "车辆使用费", "YS0216", A660206, 200, 3_000, 10),
    ("其他", "其他费用", "YS0219", A660299, 100, 2_000, 10),
];
const CLAIM_WEIGHTS: &[(usize, u32)] =
    &[(0, 35), (1, 8), (2, 10), (3, 20), (4, 8), (5, 12), (6, 7)];

#[derive(Default)]
pub struct Staff {
    pub emps: Vec<Emp>,
    claim_seq: u64,
    wo_seq: u64,
    inv_seq: u64,
    recent_invoices: Vec<(String, String)>,
    /// entity → (gross, net, iit, social+housing) accrued, paid on the 10th.
    payroll_due: BTreeMap<usize, (i64, i64, i64, i64)>,
}

fn is_station(org: usize) -> bool {
    STATIONS.contains(&org)
}

impl World<'_> {
    pub fn init_employees(&mut self) -> Result<()> {
        // Staff sit in the 供电所 and departments; a few in every unit.
        let units: Vec<usize> = (0..ORGS.len())
            .filter(|&i| ORGS[i].level == 4 || ORGS[i].kind == "部门")
            .collect();
        for i in 0..self.vol.employees {
            let rng = &mut self.rng;
            let org = units[if i < units.len() {
                i
            } else {
                rng.random_range(0..units.len())
            }];
            let grade = rng.random_range(3..=12u8);
            let e = Emp {
                org,
                grade,
                name: values::person_name(rng),
                card: values::bank_card(rng),
            };
            let post = if is_station(org) {
                values::pick(
                    rng,
                    &["台区经理", "营业厅值班", "抄表核算员", "线路运维工", "所长"],
                )
            } else {
                values::pick(
                    rng,
                    &[
                        "会计核算",
                        "资金管理",
                        "预算管理",
                        "税务管理",
                        "系统运维",
                        "客户经理",
                        "部门主任",
                    ],
                )
            };
            let id_card = values::id_card(rng);
            let mobile = values::mobile(rng);
            let entry = Day::ymd(
                rng.random_range(1990..=2024),
                rng.random_range(1..=12),
                rng.random_range(1..=28),
            );
            let r = self.t.dim_employee.rec.start();
            r.s(&emp_id(i as u32))
                .s(&e.name)
                .s(ORGS[org].id)
                .s(ORGS[org].name)
                .s(post)
                .int(i64::from(grade))
                .s("在岗");
            r.s(&id_card).s(&mobile).s(&e.card).day(entry);
            self.t.dim_employee.emit(&mut self.out)?;
            self.staff.emps.push(e);
        }
        Ok(())
    }

    /// Annual budgets per entity and item, sized from the expected spend.
    pub fn write_budget(&mut self) -> Result<()> {
        let claims_per_year = self.vol.claims_per_day * 250.0;
        for year in [2025, 2026] {
            for &org_id in &ENTITIES {
                for &(t, w) in CLAIM_WEIGHTS {
                    let (_, item, code, acct, lo, hi, _) = CLAIM_TYPES[t];
                    let expected = claims_per_year / 4.0 * f64::from(w) / 100.0 * (lo + hi) as f64
                        / 2.0
                        * 1.8
                        * 100.0;
                    let annual = ((expected * 1.15) as i64 / 1_000_000 + 1) * 1_000_000;
                    let r = self.t.budget_plan.rec.start();
                    r.s(org_id)
                        .int(i64::from(year))
                        .s(code)
                        .s(item)
                        .s(acct.code())
                        .s(org_id)
                        .s("")
                        .fen(annual);
                    let mut left = annual;
                    for m in 1..=12 {
                        let part = if m == 12 { left } else { annual / 12 };
                        left -= part;
                        r.fen(part);
                    }
                    r.s("V1").s(if t == 2 { "刚性" } else { "预警" });
                    self.t.budget_plan.emit(&mut self.out)?;
                }
            }
        }
        Ok(())
    }

    /// Today's expense claims.
    pub fn daily_claims(&mut self, day: Day, count: u32) -> Result<()> {
        for _ in 0..count {
            self.claim(day)?;
        }
        Ok(())
    }

    fn claim(&mut self, submit: Day) -> Result<()> {
        let as_of = calendar::as_of();
        let e = self.rng.random_range(0..self.staff.emps.len());
        let (eorg, ename, ecard) = {
            let x = &self.staff.emps[e];
            (x.org, x.name.clone(), x.card.clone())
        };
        let entity = ORGS[eorg].entity;
        let t = *values::weighted(&mut self.rng, CLAIM_WEIGHTS);
        let (ctype, item, budget_item, dept_acct, lo, hi, markup) = CLAIM_TYPES[t];
        // A03: a large claim paid to a private person (≥ 5万).
        let a03 = matches!(ctype, "会议" | "培训") && self.anom.roll(Rule::A03);
        let nlines = *values::weighted(&mut self.rng, &[(1usize, 35), (2, 35), (3, 20), (4, 10)]);
        self.staff.claim_seq += 1;
        let claim_id = format!("BX{:010}", self.staff.claim_seq);
        let mut lines = Vec::new();
        for n in 0..nlines {
            let mut amt = 100 * values::range(&mut self.rng, lo, hi) / nlines as i64;
            if a03 {
                amt = 100 * values::range(&mut self.rng, 60_000, 120_000) / nlines as i64;
            }
            let amt = amt.max(100);
            let tax = if ctype == "办公" && self.rng.random_bool(0.5) {
                amt * 13 / 100
            } else {
                0
            };
            // 招待 invoices are dated on working days (a weekend one is an A12 finding).
            let mut inv_day = submit.plus(-self.rng.random_range(0..=20));
            if ctype == "招待" {
                while inv_day.is_weekend() {
                    inv_day = inv_day.plus(-1);
                }
            }
            self.staff.inv_seq += 1;
            let mut invoice_no = format!("2533300{:013}", self.staff.inv_seq);
            let mut a12 = false;
            if !self.staff.recent_invoices.is_empty() && self.anom.roll(Rule::A12) {
                let k = self.rng.random_range(0..self.staff.recent_invoices.len());
                let (no, other) = self.staff.recent_invoices[k].clone();
                invoice_no = no;
                a12 = true;
                lines.push((n, amt, tax, invoice_no.clone(), inv_day, Some(other)));
            } else {
                lines.push((n, amt, tax, invoice_no.clone(), inv_day, None));
            }
            if !a12 {
                if self.staff.recent_invoices.len() >= 64 {
                    self.staff.recent_invoices.remove(0);
                }
                self.staff
                    .recent_invoices
                    .push((invoice_no, claim_id.clone()));
            }
        }
        let amount: i64 = lines.iter().map(|l| l.1 + l.2).sum();
        let std_amount = (amount * i64::from(100 + markup) / 100 + 9_999) / 10_000 * 10_000;
        let approve = submit.plus(self.rng.random_range(0..=3));
        let done = approve.plus(self.rng.random_range(0..=2));
        let pay = done.plus(self.rng.random_range(1..=5));
        let cc = ORGS[eorg].id;
        let dept = ORGS[eorg].name;
        let (mut voucher_id, mut pay_id) = (String::new(), String::new());
        let status = if pay <= as_of {
            "已付"
        } else if done <= as_of {
            "已审"
        } else {
            "审批中"
        };
        let reason = format!("{}{}报销", ename, item);
        if done <= as_of {
            self.work_order("报销单", &claim_id, entity, approve, done)?;
            let acct = if is_station(eorg) { A640106 } else { dept_acct };
            let mut v = Voucher::new(entity, done, "记", "报账", &claim_id);
            for l in &lines {
                v = v.line(
                    Line::dr(acct, l.1, &reason, cc)
                        .emp(e as u32)
                        .dims("", "费用报销", ""),
                );
                v = v.line(Line::dr(A22210101, l.2, &reason, cc).dims("", "费用报销", ""));
            }
            v = v.line(
                Line::cr(A2241, amount, &reason, cc)
                    .emp(e as u32)
                    .dims("", "费用报销", ""),
            );
            v.may_break = true;
            voucher_id = self.post(v)?;
        }
        if pay <= as_of {
            // A02: paid from an electricity-fee account (counties only have one).
            let a02 = entity != HQ && !a03 && self.anom.roll(Rule::A02);
            let acct = self
                .funds
                .find(entity, if a02 { Kind::Revenue } else { Kind::Basic }, 0);
            let pid = {
                self.proc.pay_seq += 1;
                format!("PAY{:010}", self.proc.pay_seq)
            };
            let v = Voucher::new(entity, pay, "付", "资金", &pid)
                .at(self.rng.random_range(9 * 3600..16 * 3600))
                .line(
                    Line::dr(A2241, amount, &format!("支付{reason}"), cc)
                        .emp(e as u32)
                        .dims("支付的其他与经营活动有关的现金", "费用报销", "流出"),
                )
                .line(
                    Line::cr(A1002, amount, &format!("支付{reason}"), cc)
                        .bank(acct, "报销", &ename)
                        .dims("支付的其他与经营活动有关的现金", "费用报销", "流出"),
                );
            self.post(v)?;
            let a04 = !a02 && !a03 && self.anom.roll(Rule::A04);
            let from = self.funds.accts[acct].no.clone();
            let r = self.t.payment.rec.start();
            r.s(&pid)
                .s(ENTITIES[entity])
                .s(&from)
                .s(&ename)
                .s(&ecard)
                .s("对私")
                .fen(amount)
                .day(pay)
                .day(pay)
                .s("费用报销")
                .s(&claim_id);
            r.s(if a04 { "" } else { budget_item }).b(false);
            if a02 {
                self.t
                    .payment
                    .flag(&mut self.out, "A02", "电费收入户对外支付报销款")?;
            }
            if a03 {
                let detail = format!(
                    "对私支付 {} 元 ≥ 5万",
                    zhiyun_batch::money::fen_to_yuan(amount)
                );
                self.t.payment.flag(&mut self.out, "A03", &detail)?;
            }
            if a04 {
                self.t
                    .payment
                    .flag(&mut self.out, "A04", "付款未关联预算项目")?;
            }
            self.t.payment.emit(&mut self.out)?;
            pay_id = pid;
        }
        let r = self.t.expense_claim.rec.start();
        r.s(&claim_id)
            .s(ENTITIES[entity])
            .s(&emp_id(e as u32))
            .s(dept)
            .s(ctype)
            .day(submit)
            .day(approve)
            .fen(amount)
            .fen(std_amount);
        r.s(budget_item)
            .s(status)
            .s(&voucher_id)
            .s(&pay_id)
            .s(&reason);
        self.t.expense_claim.emit(&mut self.out)?;
        for (n, amt, tax, invoice_no, inv_day, dup_of) in lines {
            let remark = if n == 0 && self.rng.random_bool(0.1) {
                format!("经办人电话{}", values::mobile(&mut self.rng))
            } else {
                String::new()
            };
            let r = self.t.expense_claim_line.rec.start();
            r.s(&claim_id)
                .int(n as i64 + 1)
                .s(item)
                .s(&invoice_no)
                .day(inv_day)
                .fen(amt)
                .fen(tax)
                .s(&remark);
            if let Some(other) = dup_of {
                self.t.expense_claim_line.flag(
                    &mut self.out,
                    "A12",
                    &format!("发票号与报销单 {other} 重复"),
                )?;
            }
            self.t.expense_claim_line.emit(&mut self.out)?;
        }
        Ok(())
    }

    /// A shared-service work order: received after `from`, done on `done`.
    pub fn work_order(
        &mut self,
        doc_type: &str,
        doc: &str,
        entity: usize,
        from: Day,
        done: Day,
    ) -> Result<()> {
        let rng = &mut self.rng;
        let receive = rng.random_range(9 * 3600..12 * 3600);
        let assign = receive + rng.random_range(60..3600);
        let done_secs = if done == from {
            assign + rng.random_range(600..3 * 3600)
        } else {
            rng.random_range(9 * 3600..17 * 3600)
        };
        let auto = rng.random_bool(0.35);
        let auditor = if auto {
            "RPA机器人"
        } else {
            values::pick(
                rng,
                &["审核岗-陈静", "审核岗-王磊", "审核岗-刘洋", "审核岗-赵敏"],
            )
        };
        // One in twenty is first sent back, then resubmitted the same day.
        if rng.random_bool(0.05) {
            self.staff.wo_seq += 1;
            let r = self.t.shared_work_order.rec.start();
            r.f(format_args!("WO{:010}", self.staff.wo_seq))
                .s(doc_type)
                .s(doc)
                .s(ENTITIES[entity])
                .ts(from, receive)
                .ts(from, assign);
            r.ts(from, assign + 300)
                .s(auditor)
                .s("退回")
                .s("附件不全，请补充")
                .b(auto);
            self.t.shared_work_order.emit(&mut self.out)?;
        }
        self.staff.wo_seq += 1;
        let r = self.t.shared_work_order.rec.start();
        r.f(format_args!("WO{:010}", self.staff.wo_seq))
            .s(doc_type)
            .s(doc)
            .s(ENTITIES[entity])
            .ts(from, receive + 600)
            .ts(from, assign + 600);
        r.ts(
            done,
            done_secs.max(if done == from { assign + 601 } else { 0 }),
        )
        .s(auditor)
        .s("通过")
        .s("")
        .b(auto);
        self.t.shared_work_order.emit(&mut self.out)
    }

    /// Month end: payroll rows and the accrual voucher (Dr 人工, Cr 2211).
    pub fn payroll_accrue(&mut self, day: Day) -> Result<()> {
        let p = day.period();
        // (entity, cost center org index) → gross
        let mut by_cc: BTreeMap<(usize, usize), i64> = BTreeMap::new();
        for i in 0..self.staff.emps.len() {
            let (org, grade) = (self.staff.emps[i].org, i64::from(self.staff.emps[i].grade));
            let entity = ORGS[org].entity;
            let gross = 100 * (4_000 + grade * 900 + values::range(&mut self.rng, 0, 1_500));
            let si = gross * 105 / 1000;
            let hf = gross * 12 / 100;
            let taxable = (gross - si - hf - 500_000).max(0);
            let iit = taxable * if taxable > 3_000_000 { 10 } else { 3 } / 100;
            let net = gross - si - hf - iit;
            let r = self.t.payroll.rec.start();
            r.s(&emp_id(i as u32))
                .f(format_args!("{p}"))
                .s(ENTITIES[entity])
                .fen(gross)
                .fen(si)
                .fen(hf)
                .fen(iit)
                .fen(net)
                .s(ORGS[org].id);
            self.t.payroll.emit(&mut self.out)?;
            *by_cc.entry((entity, org)).or_default() += gross;
            let due = self.staff.payroll_due.entry(entity).or_default();
            due.0 += gross;
            due.1 += net;
            due.2 += iit;
            due.3 += si + hf;
        }
        for (entity, &entity_id) in ENTITIES.iter().enumerate() {
            let mut v = Voucher::new(entity, day, "转", "薪酬", &format!("GZ{p}{}", entity_id))
                .at(19 * 3600);
            let mut total = 0;
            for (&(e, org), &gross) in &by_cc {
                if e != entity {
                    continue;
                }
                let acct = if is_station(org) { A640103 } else { A660207 };
                v = v.line(Line::dr(acct, gross, "计提本月工资", ORGS[org].id).dims(
                    "",
                    "薪酬计提",
                    "",
                ));
                total += gross;
            }
            if total == 0 {
                continue;
            }
            v = v.line(Line::cr(A2211, total, "计提本月工资", entity_id).dims("", "薪酬计提", ""));
            self.post(v)?;
        }
        Ok(())
    }

    /// The 10th: pay last month's payroll: net to employees, IIT and social
    /// insurance / housing fund to their collectors.
    pub fn payroll_pay(&mut self, day: Day) -> Result<()> {
        let due = std::mem::take(&mut self.staff.payroll_due);
        let prev = calendar::prev_period(day.period());
        for (entity, (gross, net, iit, si)) in due {
            let acct = self.funds.find(entity, Kind::Basic, 0);
            let cc = ENTITIES[entity];
            let cf = "支付给职工以及为职工支付的现金";
            let v = Voucher::new(entity, day, "付", "薪酬", &format!("GZFF{prev}{cc}"))
                .at(10 * 3600)
                .line(Line::dr(A2211, gross, "发放上月工资", cc).dims(cf, "薪酬发放", "流出"))
                .line(
                    Line::cr(A1002, net, "代发工资", cc)
                        .bank(acct, "工资", "工资代发批次")
                        .dims(cf, "薪酬发放", "流出"),
                )
                .line(
                    Line::cr(A1002, iit, "代扣个人所得税", cc)
                        .bank(acct, "代扣个税", "国家税务总局示范市税务局")
                        .dims(cf, "薪酬发放", "流出"),
                )
                .line(
                    Line::cr(A1002, si, "代扣社保公积金", cc)
                        .bank(acct, "代扣社保公积金", "示范市社会保险和住房公积金中心")
                        .dims(cf, "薪酬发放", "流出"),
                );
            self.post(v)?;
            let from = self.funds.accts[acct].no.clone();
            for (amt, payee, biz, item) in [
                (net, "工资代发批次（中国工商银行）", "工资代发", "YS0401"),
                (iit, "国家税务总局示范市税务局", "代缴个税", "YS0402"),
                (
                    si,
                    "示范市社会保险和住房公积金中心",
                    "代缴社保公积金",
                    "YS0403",
                ),
            ] {
                if amt == 0 {
                    continue;
                }
                self.proc.pay_seq += 1;
                let pid = format!("PAY{:010}", self.proc.pay_seq);
                let r = self.t.payment.rec.start();
                r.s(&pid)
                    .s(cc)
                    .s(&from)
                    .s(payee)
                    .s("")
                    .s("对公")
                    .fen(amt)
                    .day(day)
                    .day(day)
                    .s(biz)
                    .s(&format!("GZ{prev}{cc}"))
                    .s(item)
                    .b(false);
                self.t.payment.emit(&mut self.out)?;
            }
        }
        Ok(())
    }
}
