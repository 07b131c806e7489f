//! Procurement and projects (物资/工程): suppliers and power plants,
//! materials, projects, contracts with staged pay terms, AP invoices, their
//! vouchers and payments, material receipts and issues with the inventory
//! they move, and monthly power-purchase settlement.
//!
//! Chain: contract → AP invoice per pay-term stage (Σ stages = contract
//! amount, so payments never exceed it) → voucher (Dr 1605/1403/1604/6401 +
//! 22210101, Cr 2202 by supplier) → payment (Dr 2202, Cr 1002) by the due
//! date. 物资 receipts go into a warehouse (1605 工程物资 or 1403 原材料) and
//! are issued whole to the project (Dr 1604) or to O&M (Dr 640104), always
//! before the project is commissioned.

use crate::anomalies::Rule;
use crate::calendar::{self, Day};
use crate::funds::Kind;
use crate::ledger::{Line, Voucher};
use crate::orgs::{
    A1002, A1403, A1604, A1605, A2202, A640101, A640104, A640105, A640106, A22210101, ENTITIES, HQ,
};
use crate::sim::World;
use crate::values;
use anyhow::Result;
use rand::Rng;
use std::collections::BTreeMap;

pub fn supp_id(i: u32) -> String {
    format!("S{i:06}")
}
pub fn proj_id(i: u32) -> String {
    format!("PJ{i:06}")
}

pub struct Supplier {
    pub name: String,
    pub acct: String,
    pub sme: bool,
    pub kind: &'static str,
}

pub struct Plant {
    supp: u32,
    source: usize,
    weight: i64,
}

pub struct Project {
    pub org: usize,
    pub kind: &'static str,
    pub start: Day,
    pub commission: Day,
    pub capitalize: Option<Day>,
    pub budget: i64,
    pub rural: bool,
}

pub struct Material {
    code: String,
    category: &'static str,
    price: i64,
}

#[derive(Default)]
pub struct Procurement {
    pub suppliers: Vec<Supplier>,
    /// Indices of whitelisted suppliers of each kind (物资/服务/施工).
    by_kind: BTreeMap<&'static str, Vec<u32>>,
    plants: Vec<Plant>,
    pub projects: Vec<Project>,
    next_project: usize,
    materials: Vec<Material>,
    contract_seq: u32,
    inv_seq: u64,
    doc_seq: u64,
    pub pay_seq: u64,
    plant_contracts: BTreeMap<(u32, i32), String>,
    inv: Inventory,
}

/// Inventory by (warehouse, material): balances as of the last closed
/// period and the open periods' movements.
#[derive(Default)]
struct Inventory {
    bal: BTreeMap<(String, u32), (i64, i64)>,
    pending: BTreeMap<u32, BTreeMap<(String, u32), InvMove>>,
}

#[derive(Default, Clone, Copy)]
struct InvMove {
    in_amt: i64,
    out_amt: i64,
    qty: i64,
}

const SOURCES: [(&str, i64, u32); 4] = [
    ("火", 3_910, 55),
    ("水", 2_880, 15),
    ("风", 3_600, 15),
    ("光", 3_300, 15),
];
const MAT_CATEGORIES: &[(&str, &str, &str, i64, i64)] = &[
    ("电缆", "电力电缆", "YJV22-8.7/15-3×", 30_000, 120_000),
    ("导线", "钢芯铝绞线", "JL/G1A-", 1_500, 3_000),
    ("变压器", "配电变压器", "S13-M-", 8_000_000, 30_000_000),
    ("开关", "柱上断路器", "ZW32-12/", 1_500_000, 3_000_000),
    ("金具", "耐张线夹", "NXL-", 2_000, 9_000),
    ("电表", "智能电能表", "DDZY-", 30_000, 90_000),
    ("杆塔", "混凝土电杆", "Φ190-", 150_000, 400_000),
];

pub fn warehouse(org: usize, project: bool) -> String {
    format!("{}-{}", ENTITIES[org], if project { "GC" } else { "YC" })
}

impl World<'_> {
    pub fn init_suppliers(&mut self) -> Result<()> {
        let n = self.vol.suppliers;
        for i in 0..n {
            let rng = &mut self.rng;
            let kind = *values::weighted(rng, &[("物资", 50), ("服务", 30), ("施工", 20)]);
            let s = Supplier {
                name: values::company_name(rng),
                acct: values::corp_account(rng),
                sme: rng.random_bool(0.6),
                kind,
            };
            // Non-whitelisted suppliers are on file but never contracted: paying them is A03.
            let whitelist = i < 3 || rng.random_bool(0.95);
            self.write_supplier(i as u32, &s, whitelist, kind)?;
            if whitelist {
                self.proc.by_kind.entry(kind).or_default().push(i as u32);
            }
            self.proc.suppliers.push(s);
        }
        for p in 0..self.vol.plants {
            let rng = &mut self.rng;
            let source = if p < 4 {
                p
            } else {
                *values::weighted(rng, &[(0usize, 55), (1, 15), (2, 15), (3, 15)])
            };
            let name = format!(
                "{}{}{}电厂",
                values::city(rng),
                values::pick(
                    rng,
                    &["华能", "大唐", "华电", "国电投", "浙能", "三峡", "协鑫"]
                ),
                ["火", "水", "风", "光伏"][source]
            );
            let s = Supplier {
                name,
                acct: values::corp_account(rng),
                sme: false,
                kind: "电厂",
            };
            let id = self.proc.suppliers.len() as u32;
            self.write_supplier(id, &s, true, "电厂")?;
            self.proc.suppliers.push(s);
            let weight = values::range(&mut self.rng, 10, 100) * i64::from(SOURCES[source].2);
            self.proc.plants.push(Plant {
                supp: id,
                source,
                weight,
            });
        }
        Ok(())
    }

    fn write_supplier(&mut self, i: u32, s: &Supplier, whitelist: bool, kind: &str) -> Result<()> {
        let rng = &mut self.rng;
        let ownership = *values::weighted(rng, &[("央企", 15), ("国企", 25), ("民营", 60)]);
        let (_, code) = values::pick(
            rng,
            &[
                ("中国工商银行", "102"),
                ("中国农业银行", "103"),
                ("中国银行", "104"),
                ("中国建设银行", "105"),
            ],
        );
        let remark = if rng.random_bool(0.2) {
            format!("联系人电话 {}", values::mobile(rng))
        } else {
            String::new()
        };
        let uscc = values::uscc(rng);
        let r = self.t.dim_supplier.rec.start();
        r.s(&supp_id(i))
            .s(&s.name)
            .s(&uscc)
            .s(ownership)
            .b(s.sme)
            .b(whitelist)
            .s(&s.acct)
            .s(code)
            .s(kind)
            .s(&remark);
        self.t.dim_supplier.emit(&mut self.out)
    }

    pub fn init_materials(&mut self) -> Result<()> {
        for i in 0..self.vol.materials {
            let rng = &mut self.rng;
            let (cat, name, spec, lo, hi) = MAT_CATEGORIES[i % MAT_CATEGORIES.len()];
            let price = values::range(rng, lo, hi);
            let code = format!("50{:08}", 1_000_000 + i * 7);
            let spec = format!("{spec}{}", rng.random_range(25..400));
            let uom = match cat {
                "电缆" | "导线" => "米",
                "变压器" | "开关" | "电表" => "台",
                "杆塔" => "基",
                _ => "套",
            };
            let r = self.t.dim_material.rec.start();
            r.s(&code).s(name).s(&spec).s(cat).s(uom).fen(price);
            self.t.dim_material.emit(&mut self.out)?;
            self.proc.materials.push(Material {
                code,
                category: cat,
                price,
            });
        }
        Ok(())
    }

    pub fn init_projects(&mut self) -> Result<()> {
        let start = calendar::start();
        let as_of = calendar::as_of();
        let span = (Day::ymd(2026, 9, 30).0 - start.0) as i64;
        let mut projects = Vec::new();
        for _ in 0..self.vol.projects {
            let rng = &mut self.rng;
            let s = start.plus(values::range(rng, 0, span) as i32);
            let kind = *values::weighted(
                rng,
                &[
                    ("基建", 30),
                    ("技改", 30),
                    ("大修", 15),
                    ("营销", 10),
                    ("信息化", 10),
                    ("零购", 5),
                ],
            );
            let commission = s.plus(values::range(rng, 75, 300) as i32);
            let budget = 100 * values::range(rng, 300_000, 30_000_000);
            let org = rng.random_range(0..ENTITIES.len());
            projects.push(Project {
                org,
                kind,
                start: s,
                commission,
                capitalize: None,
                budget,
                rural: org != HQ && rng.random_bool(0.3),
            });
        }
        projects.sort_by_key(|p| p.start);
        for (i, p) in projects.iter_mut().enumerate() {
            let commissioned = p.commission <= as_of;
            let mut a13 = false;
            if commissioned {
                let k = p
                    .commission
                    .plus(values::range(&mut self.rng, 5, 75) as i32);
                // A13: commissioned more than three months ago and never capitalised.
                if p.commission.plus(100) < as_of && self.anom.roll(Rule::A13) {
                    a13 = true;
                } else if k <= as_of {
                    p.capitalize = Some(k);
                }
            }
            let rng = &mut self.rng;
            let voltage = values::pick(rng, &["10kV", "35kV", "110kV", "0.4kV"]);
            let place = values::pick(
                rng,
                &["城东", "城西", "临港", "山前", "湖滨", "新塘", "工业园"],
            );
            let name = format!(
                "{}{}{}{}工程",
                ENTITIES[p.org],
                place,
                voltage,
                match p.kind {
                    "基建" => "输变电新建",
                    "技改" => "配网设备改造",
                    "大修" => "线路大修",
                    "营销" => "计量装置更换",
                    "信息化" => "信息系统建设",
                    _ => "零星购置",
                }
            );
            let plan = p.commission.plus(values::range(rng, -20, 20) as i32);
            let r = self.t.dim_project.rec.start();
            r.s(&proj_id(i as u32))
                .f(format_args!(
                    "{}-{}-{:05}.01",
                    ENTITIES[p.org],
                    p.start.year() % 100,
                    i
                ))
                .s(&name)
                .s(p.kind)
                .s(voltage)
                .s(ENTITIES[p.org]);
            r.fen(p.budget)
                .day(p.start)
                .day(plan)
                .opt_day(commissioned.then_some(p.commission))
                .opt_day(p.capitalize);
            r.s(if p.capitalize.is_some_and(|k| k.plus(120) < as_of) {
                "已决算"
            } else if commissioned {
                "决算中"
            } else {
                "未决算"
            });
            if a13 {
                let detail = format!("{} 投运，超过 3 个月未转资", p.commission.iso());
                self.t.dim_project.flag(&mut self.out, "A13", &detail)?;
            }
            self.t.dim_project.emit(&mut self.out)?;
        }
        self.proc.projects = projects;
        Ok(())
    }

    /// Contracts of the projects starting today, and of O&M purchases.
    pub fn daily_procurement(&mut self, day: Day, om_contracts: u32) -> Result<()> {
        while self.proc.next_project < self.proc.projects.len()
            && self.proc.projects[self.proc.next_project].start <= day
        {
            let i = self.proc.next_project;
            self.proc.next_project += 1;
            let (org, budget, commission) = {
                let p = &self.proc.projects[i];
                (p.org, p.budget, p.commission)
            };
            let last = commission.plus(-25);
            let shares: &[(&str, i64)] = &[("施工", 45), ("物资", 30), ("服务", 8)];
            for &(kind, pct) in shares {
                let amount = budget * pct / 100 * values::range(&mut self.rng, 80, 100) / 100;
                self.contract(day, kind, org, Some(i as u32), amount, last)?;
            }
        }
        for _ in 0..om_contracts {
            let kind = *values::weighted(&mut self.rng, &[("物资", 50), ("服务", 50)]);
            let org = self.rng.random_range(0..ENTITIES.len());
            let amount = 100 * values::range(&mut self.rng, 20_000, 1_500_000);
            self.contract(day, kind, org, None, amount, calendar::as_of().plus(400))?;
        }
        Ok(())
    }

    /// A contract and everything that follows from it up to the as-of date.
    fn contract(
        &mut self,
        sign: Day,
        kind: &'static str,
        org: usize,
        proj: Option<u32>,
        amount: i64,
        last_stage: Day,
    ) -> Result<()> {
        let Some(pool) = self.proc.by_kind.get(kind).filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let supp = values::pick(&mut self.rng, pool);
        self.proc.contract_seq += 1;
        let cid = format!("HT{}{:06}", sign.year(), self.proc.contract_seq);
        let terms: &[(&str, i64)] = match (kind, proj.is_some()) {
            ("施工", _) => &[("预付款", 20), ("进度款", 50), ("竣工款", 30)],
            ("物资", true) => &[("预付款", 30), ("到货款", 60), ("投运款", 10)],
            ("物资", false) => &[("到货款", 90), ("质保金", 10)],
            _ => &[
                ("季度款", 25),
                ("季度款", 25),
                ("季度款", 25),
                ("季度款", 25),
            ],
        };
        let terms_text: Vec<String> = terms.iter().map(|(n, p)| format!("{n}{p}%")).collect();
        let window = (last_stage.0 - sign.0 - 5).max(3);
        let mut offsets: Vec<i32> = terms
            .iter()
            .map(|_| 5 + self.rng.random_range(0..window))
            .collect();
        offsets.sort();
        let plan_delivery = sign.plus(*offsets.last().unwrap_or(&30));
        let name = match (kind, proj) {
            ("施工", Some(p)) => format!("{}施工合同", proj_id(p)),
            ("物资", Some(p)) => format!("{}物资采购合同", proj_id(p)),
            ("服务", Some(p)) => format!("{}设计监理服务合同", proj_id(p)),
            ("物资", None) => "运维材料采购合同".to_owned(),
            _ => "设备运维检修服务合同".to_owned(),
        };
        let r = self.t.contract.rec.start();
        r.s(&cid)
            .s(kind)
            .s(&supp_id(supp))
            .s(&proj.map(proj_id).unwrap_or_default())
            .s(ENTITIES[org])
            .day(sign)
            .fen(amount);
        r.s(&terms_text.join("/")).day(plan_delivery).s(&name);
        self.t.contract.emit(&mut self.out)?;

        let mut left = amount;
        for (n, (&(stage, pct), off)) in terms.iter().zip(offsets).enumerate() {
            let part = if n + 1 == terms.len() {
                left
            } else {
                amount * pct / 100
            };
            left -= part;
            let inv_date = sign.plus(off);
            self.ap_invoice(kind, org, proj, supp, &cid, stage, inv_date, part)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn ap_invoice(
        &mut self,
        kind: &'static str,
        org: usize,
        proj: Option<u32>,
        supp: u32,
        cid: &str,
        stage: &str,
        inv_date: Day,
        gross: i64,
    ) -> Result<()> {
        let as_of = calendar::as_of();
        let received = inv_date.plus(self.rng.random_range(0..=3));
        let booked = received.plus(self.rng.random_range(1..=4));
        if booked > as_of || gross <= 0 {
            return Ok(());
        }
        let (rate_pm, rate_txt) = match kind {
            "物资" => (130, "0.13"),
            "施工" => (90, "0.09"),
            _ => (60, "0.06"),
        };
        let net = gross * 1000 / (1000 + rate_pm);
        let tax = gross - net;
        let sme = self.proc.suppliers[supp as usize].sme;
        let due = booked.plus(if sme { 30 } else { 60 });
        let pay_day = booked.plus(self.rng.random_range(5..(due.0 - booked.0)));
        // A15: past due and unpaid.
        let a15 = due < as_of && self.anom.roll(Rule::A15);
        let paid = !a15 && pay_day <= as_of;
        self.proc.inv_seq += 1;
        let inv_id = format!("AP{:09}", self.proc.inv_seq);
        let invoice_no = format!("2533200{:013}", self.proc.inv_seq);
        let cc = ENTITIES[org];
        let summary = format!("{}{}挂账", cid, stage);
        let (target, project_stock) = match (kind, proj) {
            ("物资", Some(_)) => (A1605, true),
            ("物资", None) => (A1403, false),
            (_, Some(_)) => (A1604, false),
            ("服务", None) if self.rng.random_bool(0.6) => (A640105, false),
            _ => (A640106, false),
        };
        let mut debit = Line::dr(target, net, &summary, cc)
            .supp(supp)
            .dims("", "采购挂账", "");
        if let Some(p) = proj {
            debit = debit.proj(p);
        }
        let mut v = Voucher::new(org, booked, "转", "物资", &inv_id)
            .line(debit)
            .line(Line::dr(A22210101, tax, &summary, cc).dims("", "采购挂账", ""))
            .line(
                Line::cr(A2202, gross, &summary, cc)
                    .supp(supp)
                    .dims("", "采购挂账", ""),
            );
        v.may_break = true;
        let voucher_id = self.post(v)?;

        let r = self.t.ap_invoice.rec.start();
        r.s(&inv_id)
            .s(&supp_id(supp))
            .s(cid)
            .s(cc)
            .s(&invoice_no)
            .day(inv_date)
            .fen(net)
            .fen(tax)
            .s(rate_txt)
            .s("已认证");
        r.day(received)
            .day(booked)
            .day(due)
            .fen(if paid { gross } else { 0 })
            .s(&voucher_id);
        if a15 {
            let detail = format!(
                "到期日 {} 已过仍未付款{}",
                due.iso(),
                if sme { "（中小企业）" } else { "" }
            );
            self.t.ap_invoice.flag(&mut self.out, "A15", &detail)?;
        }
        self.t.ap_invoice.emit(&mut self.out)?;

        // The input VAT invoice; A18: it turns abnormal after booking.
        let a18 = self.anom.roll(Rule::A18);
        let status = if a18 {
            values::pick(&mut self.rng, &["异常", "作废", "红冲"])
        } else {
            "正常"
        };
        let supp_name = self.proc.suppliers[supp as usize].name.clone();
        let r = self.t.tax_invoice.rec.start();
        r.s(&invoice_no)
            .s("进")
            .s(cc)
            .s(&supp_name)
            .day(inv_date)
            .fen(net)
            .fen(tax)
            .s(rate_txt)
            .s(status)
            .s(&inv_id);
        if a18 {
            self.t.tax_invoice.flag(
                &mut self.out,
                "A18",
                &format!("进项发票已入账后状态为{status}"),
            )?;
        }
        self.t.tax_invoice.emit(&mut self.out)?;

        self.work_order("应付发票", &inv_id, org, received, booked)?;

        if kind == "物资" {
            self.material_flow(org, proj, project_stock, net, booked, &voucher_id)?;
        }
        if paid {
            let rural = proj.is_some_and(|p| self.proc.projects[p as usize].rural);
            let acct = self
                .funds
                .find(org, if rural { Kind::Special } else { Kind::General }, 0);
            let purpose = match kind {
                "物资" => "物资款",
                "施工" => "工程款",
                _ => "服务费",
            };
            self.pay_supplier(org, acct, supp, gross, pay_day, purpose, &inv_id, due)?;
        }
        Ok(())
    }

    /// Pays a supplier: voucher Dr 2202, Cr 1002 and the payment row.
    #[allow(clippy::too_many_arguments)]
    pub fn pay_supplier(
        &mut self,
        org: usize,
        acct: usize,
        supp: u32,
        gross: i64,
        pay_day: Day,
        purpose: &'static str,
        doc: &str,
        plan: Day,
    ) -> Result<String> {
        let cc = ENTITIES[org];
        let s = &self.proc.suppliers[supp as usize];
        let (sname, sacct) = (s.name.clone(), s.acct.clone());
        let cashflow = if purpose == "工程款" {
            "购建固定资产、无形资产和其他长期资产支付的现金"
        } else {
            "购买商品、接受劳务支付的现金"
        };
        self.proc.pay_seq += 1;
        let pay_id = format!("PAY{:010}", self.proc.pay_seq);
        let v = Voucher::new(org, pay_day, "付", "资金", &pay_id)
            .at(self.rng.random_range(9 * 3600..16 * 3600))
            .line(
                Line::dr(A2202, gross, &format!("支付{purpose}"), cc)
                    .supp(supp)
                    .dims(cashflow, "对外支付", "流出"),
            )
            .line(
                Line::cr(A1002, gross, &format!("支付{purpose}"), cc)
                    .bank(acct, purpose, &sname)
                    .dims(cashflow, "对外支付", "流出"),
            );
        self.post(v)?;
        let budget_item = match purpose {
            "购电费" => "YS0101",
            "工程款" => "YS0301",
            "物资款" => "YS0302",
            _ => "YS0201",
        };
        let a04 = self.anom.roll(Rule::A04);
        let from = self.funds.accts[acct].no.clone();
        let r = self.t.payment.rec.start();
        r.s(&pay_id)
            .s(cc)
            .s(&from)
            .s(&sname)
            .s(&sacct)
            .s("对公")
            .fen(gross)
            .day(plan.min(pay_day))
            .day(pay_day)
            .s(purpose)
            .s(doc);
        r.s(if a04 { "" } else { budget_item }).b(false);
        if a04 {
            self.t
                .payment
                .flag(&mut self.out, "A04", "付款未关联预算项目")?;
        }
        self.t.payment.emit(&mut self.out)?;
        Ok(pay_id)
    }

    fn material_flow(
        &mut self,
        org: usize,
        proj: Option<u32>,
        project_stock: bool,
        amount: i64,
        booked: Day,
        voucher: &str,
    ) -> Result<()> {
        let as_of = calendar::as_of();
        let m = self.rng.random_range(0..self.proc.materials.len());
        let (code, price) = (
            self.proc.materials[m].code.clone(),
            self.proc.materials[m].price,
        );
        let _ = self.proc.materials[m].category;
        let qty_milli = (amount * 1000 / price.max(1)).max(1);
        let wh = warehouse(org, project_stock);
        let cc = ENTITIES[org];
        self.proc.doc_seq += 1;
        let proj_txt = proj.map(proj_id).unwrap_or_default();
        let r = self.t.material_move.rec.start();
        r.f(format_args!("MM{:010}", self.proc.doc_seq))
            .s(&code)
            .s(&wh)
            .s(cc)
            .s("入库")
            .dec(qty_milli, 3)
            .fen(amount)
            .s(&proj_txt)
            .day(booked)
            .s(voucher);
        self.t.material_move.emit(&mut self.out)?;
        self.inv_move(booked.period(), &wh, m as u32, amount, 0, qty_milli);

        // Issued whole, before the project's commissioning.
        let mut issue = booked.plus(self.rng.random_range(2..=10));
        if let Some(p) = proj {
            issue = issue.min(self.proc.projects[p as usize].commission.plus(-1));
        }
        if issue > as_of {
            return Ok(());
        }
        let stock = if project_stock { A1605 } else { A1403 };
        let mut debit = if let Some(p) = proj {
            Line::dr(A1604, amount, "物资领用", cc).proj(p)
        } else {
            Line::dr(A640104, amount, "运维材料领用", cc)
        };
        debit = debit.dims("", "物资领用", "");
        let v = Voucher::new(
            org,
            issue,
            "转",
            "物资",
            &format!("MM{:010}", self.proc.doc_seq + 1),
        )
        .line(debit)
        .line(Line::cr(stock, amount, "物资领用", cc).dims("", "物资领用", ""));
        let vid = self.post(v)?;
        self.proc.doc_seq += 1;
        let r = self.t.material_move.rec.start();
        r.f(format_args!("MM{:010}", self.proc.doc_seq))
            .s(&code)
            .s(&wh)
            .s(cc)
            .s("领用")
            .dec(-qty_milli, 3)
            .fen(amount)
            .s(&proj_txt)
            .day(issue)
            .s(&vid);
        self.t.material_move.emit(&mut self.out)?;
        self.inv_move(issue.period(), &wh, m as u32, 0, amount, -qty_milli);
        Ok(())
    }

    fn inv_move(&mut self, period: u32, wh: &str, mat: u32, in_amt: i64, out_amt: i64, qty: i64) {
        let e = self
            .proc
            .inv
            .pending
            .entry(period)
            .or_default()
            .entry((wh.to_owned(), mat))
            .or_default();
        e.in_amt += in_amt;
        e.out_amt += out_amt;
        e.qty += qty;
    }

    /// inventory_balance of a finished period.
    pub fn flush_inventory(&mut self, period: u32) -> Result<()> {
        let moves = self.proc.inv.pending.remove(&period).unwrap_or_default();
        let mut keys: Vec<(String, u32)> = self
            .proc
            .inv
            .bal
            .iter()
            .filter(|(_, b)| b.0 != 0)
            .map(|(k, _)| k.clone())
            .collect();
        keys.extend(moves.keys().cloned());
        keys.sort();
        keys.dedup();
        for key in keys {
            let m = moves.get(&key).copied().unwrap_or_default();
            let b = self.proc.inv.bal.entry(key.clone()).or_default();
            let open = b.0;
            b.0 += m.in_amt - m.out_amt;
            b.1 += m.qty;
            let (close, qty) = *b;
            let org = &key.0[..4];
            let r = self.t.inventory_balance.rec.start();
            r.f(format_args!("{period}"))
                .s(&key.0)
                .s(org)
                .s(&self.proc.materials[key.1 as usize].code)
                .fen(open)
                .fen(m.in_amt)
                .fen(m.out_amt)
                .fen(close)
                .dec(qty, 3);
            self.t.inventory_balance.emit(&mut self.out)?;
        }
        Ok(())
    }

    /// Power purchase of `month`, settled on `day` in 本部: invoice → voucher → payment.
    pub fn power_purchase(&mut self, day: Day, month: u32) -> Result<()> {
        let Some(&billed) = self.rev.billed_kwh.get(&month) else {
            return Ok(());
        };
        let as_of = calendar::as_of();
        let total_weight: i64 = self
            .proc
            .plants
            .iter()
            .map(|p| p.weight)
            .sum::<i64>()
            .max(1);
        let bought = billed * 106 / 100;
        for pi in 0..self.proc.plants.len() {
            let (supp, source, weight) = {
                let p = &self.proc.plants[pi];
                (p.supp, p.source, p.weight)
            };
            let kwh = (bought * weight / total_weight).max(1);
            let price_e4 = SOURCES[source].1 + self.rng.random_range(-100..=100);
            let gross = kwh * price_e4 / 100;
            let subsidy = if source >= 2 { kwh * 3 / 10 } else { 0 };
            let year = day.year();
            let cid = match self.proc.plant_contracts.get(&(supp, year)) {
                Some(c) => c.clone(),
                None => {
                    self.proc.contract_seq += 1;
                    let cid = format!("HT{}{:06}", year, self.proc.contract_seq);
                    // A year's estimate, generously: payments stay within it.
                    let amount = gross * 12 * 3;
                    let r = self.t.contract.rec.start();
                    r.s(&cid)
                        .s("购电")
                        .s(&supp_id(supp))
                        .s("")
                        .s(ENTITIES[HQ])
                        .day(Day::ymd(year, 1, 5))
                        .fen(amount);
                    r.s("按月结算100%")
                        .day(Day::ymd(year, 12, 31))
                        .s(&format!("{}年度购售电合同", year));
                    self.t.contract.emit(&mut self.out)?;
                    self.proc.plant_contracts.insert((supp, year), cid.clone());
                    cid
                }
            };
            self.proc.inv_seq += 1;
            let inv_id = format!("AP{:09}", self.proc.inv_seq);
            let invoice_no = format!("2533200{:013}", self.proc.inv_seq);
            let net = gross * 1000 / 1130;
            let tax = gross - net;
            let cc = ENTITIES[HQ];
            let v = Voucher::new(HQ, day, "转", "营销", &inv_id)
                .line(
                    Line::dr(A640101, net, &format!("{month}购电费"), cc)
                        .supp(supp)
                        .dims("", "购电结算", ""),
                )
                .line(
                    Line::dr(A22210101, tax, &format!("{month}购电费进项税"), cc).dims(
                        "",
                        "购电结算",
                        "",
                    ),
                )
                .line(
                    Line::cr(A2202, gross, &format!("{month}购电费"), cc)
                        .supp(supp)
                        .dims("", "购电结算", ""),
                );
            let vid = self.post(v)?;
            let due = day.plus(30);
            let pay_day = day.plus(self.rng.random_range(10..=25));
            let paid = pay_day <= as_of;
            let r = self.t.ap_invoice.rec.start();
            r.s(&inv_id)
                .s(&supp_id(supp))
                .s(&cid)
                .s(cc)
                .s(&invoice_no)
                .day(day.plus(-2))
                .fen(net)
                .fen(tax)
                .s("0.13")
                .s("已认证");
            r.day(day.plus(-1))
                .day(day)
                .day(due)
                .fen(if paid { gross } else { 0 })
                .s(&vid);
            self.t.ap_invoice.emit(&mut self.out)?;
            let pname = self.proc.suppliers[supp as usize].name.clone();
            let r = self.t.tax_invoice.rec.start();
            r.s(&invoice_no)
                .s("进")
                .s(cc)
                .s(&pname)
                .day(day.plus(-2))
                .fen(net)
                .fen(tax)
                .s("0.13")
                .s("正常")
                .s(&inv_id);
            self.t.tax_invoice.emit(&mut self.out)?;
            let pay_id = if paid {
                let acct = self.funds.find(HQ, Kind::General, 1);
                self.pay_supplier(HQ, acct, supp, gross, pay_day, "购电费", &inv_id, due)?
            } else {
                String::new()
            };
            let r = self.t.power_purchase.rec.start();
            r.f(format_args!("PL{:04}", pi + 1))
                .f(format_args!("{month}"))
                .s(&supp_id(supp))
                .s(&pname)
                .s(SOURCES[source].0);
            r.int(kwh)
                .dec(price_e4, 4)
                .fen(gross)
                .fen(subsidy)
                .s(&invoice_no)
                .s(&pay_id);
            self.t.power_purchase.emit(&mut self.out)?;
        }
        Ok(())
    }
}
