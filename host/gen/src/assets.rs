//! Fixed assets (资产): cards, their monthly depreciation and the transfer of
//! finished projects from 在建工程 to 固定资产 (转资).
//!
//! A card's whole depreciation schedule up to the as-of date is written when
//! the card is created, and only the per-entity monthly totals are kept, for
//! the month-end depreciation voucher (Dr 640102, Cr 1602). So Σ orig_value
//! = 1601, Σ accum_depr = 1602, and Σ asset_depr.accum per period = 1602 of
//! that period.

use crate::calendar::{self, Day};
use crate::ledger::{Aux, Line, Voucher};
use crate::orgs::{A1601, A1602, A1604, A640102, ENTITIES};
use crate::procurement::proj_id;
use crate::sim::World;
use crate::values;
use anyhow::Result;
use rand::Rng;
use std::collections::BTreeMap;

/// (class, life in months, residual ‰, typical original value range in 元).
const CLASSES: &[(&str, i64, i64, i64, i64)] = &[
    ("架空线路", 360, 30, 200_000, 5_000_000),
    ("电缆", 216, 30, 100_000, 3_000_000),
    ("变压器", 216, 30, 80_000, 8_000_000),
    ("配电设备", 180, 30, 20_000, 800_000),
    ("房屋", 360, 30, 500_000, 20_000_000),
    ("通信", 96, 30, 10_000, 300_000),
    ("车辆", 96, 50, 100_000, 400_000),
];

#[derive(Default)]
pub struct Assets {
    seq: u32,
    /// (entity, period) → depreciation of the month.
    pub depr: BTreeMap<(usize, u32), i64>,
    /// Opening 1601 / 1602 per entity.
    pub opening: [(i64, i64); 4],
}

fn months_between(from: u32, to: u32) -> i64 {
    i64::from(to / 100 * 12 + to % 100) - i64::from(from / 100 * 12 + from % 100)
}

impl World<'_> {
    pub fn opening_cards(&mut self) -> Result<()> {
        for _ in 0..self.vol.opening_cards {
            let rng = &mut self.rng;
            let class = rng.random_range(0..CLASSES.len());
            let (_, _, _, lo, hi) = CLASSES[class];
            let orig = 100 * values::range(rng, lo, hi);
            let cap = Day::ymd(
                rng.random_range(2004..=2024),
                rng.random_range(1..=11),
                rng.random_range(1..=28),
            );
            let org = rng.random_range(0..ENTITIES.len());
            self.card(org, None, class, cap, orig, true)?;
        }
        Ok(())
    }

    /// Writes a card and its depreciation schedule; returns nothing but
    /// records opening balances or future monthly totals.
    fn card(
        &mut self,
        org: usize,
        proj: Option<u32>,
        class: usize,
        cap: Day,
        orig: i64,
        opening: bool,
    ) -> Result<()> {
        let (cname, life, residual_pm, _, _) = CLASSES[class];
        let depreciable = orig - orig * residual_pm / 1000;
        let monthly = (depreciable / life).max(1);
        let cap_p = cap.period();
        let accum_at = |p: u32| -> i64 {
            let m = months_between(cap_p, p).max(0);
            (monthly * m).min(depreciable)
        };
        let start_p = calendar::start().period();
        let open_accum = accum_at(calendar::prev_period(start_p));
        let as_of_p = calendar::as_of().period();
        let final_accum = accum_at(as_of_p);
        self.assets.seq += 1;
        let id = format!("FA{:09}", self.assets.seq);
        let name = format!(
            "{}{}{}",
            ENTITIES[org],
            cname,
            match cname {
                "架空线路" => "10kV线路段",
                "电缆" => "电缆段",
                "变压器" => "配变",
                "配电设备" => "环网柜",
                "房屋" => "生产用房",
                "通信" => "光通信设备",
                _ => "生产用车",
            }
        );
        let status = if final_accum >= depreciable {
            "已提足"
        } else {
            "在用"
        };
        let r = self.t.fixed_asset.rec.start();
        r.s(&id)
            .s(&name)
            .s(cname)
            .s(ENTITIES[org])
            .s(&proj.map(proj_id).unwrap_or_default())
            .day(cap);
        r.fen(orig)
            .fen(final_accum)
            .int(life)
            .dec(residual_pm, 3)
            .s(status);
        self.t.fixed_asset.emit(&mut self.out)?;
        if opening {
            self.assets.opening[org].0 += orig;
            self.assets.opening[org].1 += open_accum;
        }
        let mut p = if opening {
            start_p
        } else {
            calendar::next_period(cap_p)
        };
        let mut prev = accum_at(calendar::prev_period(p));
        while p <= as_of_p {
            let accum = accum_at(p);
            let amt = accum - prev;
            if amt <= 0 {
                break;
            }
            *self.assets.depr.entry((org, p)).or_default() += amt;
            let r = self.t.asset_depr.rec.start();
            r.s(&id)
                .f(format_args!("{p}"))
                .s(ENTITIES[org])
                .fen(amt)
                .fen(accum)
                .fen(orig - accum);
            self.t.asset_depr.emit(&mut self.out)?;
            prev = accum;
            p = calendar::next_period(p);
        }
        Ok(())
    }

    /// Month-end depreciation vouchers.
    pub fn depreciate(&mut self, day: Day) -> Result<()> {
        let p = day.period();
        for (org, &cc) in ENTITIES.iter().enumerate() {
            let amt = self.assets.depr.remove(&(org, p)).unwrap_or(0);
            if amt == 0 {
                continue;
            }
            let v = Voucher::new(org, day, "转", "资产", &format!("ZJ{p}{cc}"))
                .at(19 * 3600)
                .line(Line::dr(A640102, amt, "计提本月折旧", cc).dims("", "折旧", ""))
                .line(Line::cr(A1602, amt, "计提本月折旧", cc).dims("", "折旧", ""));
            self.post(v)?;
        }
        Ok(())
    }

    /// 转资: projects capitalised today move their whole CIP to fixed assets.
    pub fn capitalize(&mut self, day: Day) -> Result<()> {
        for i in 0..self.proc.projects.len() {
            if self.proc.projects[i].capitalize != Some(day) {
                continue;
            }
            let org = self.proc.projects[i].org;
            let p = i as u32;
            let cip = self
                .ledger
                .balance_upto((org, A1604, Aux::Proj(p)), day.period());
            if cip <= 0 {
                continue;
            }
            let cc = ENTITIES[org];
            let v = Voucher::new(org, day, "转", "资产", &format!("ZZ{}", proj_id(p)))
                .line(
                    Line::dr(A1601, cip, "工程转资", cc)
                        .proj(p)
                        .dims("", "工程转资", ""),
                )
                .line(
                    Line::cr(A1604, cip, "工程转资", cc)
                        .proj(p)
                        .dims("", "工程转资", ""),
                );
            self.post(v)?;
            let parts = self.rng.random_range(1..=3).min(cip as usize);
            let mut left = cip;
            for n in 0..parts {
                let amt = if n + 1 == parts {
                    left
                } else {
                    left / (parts - n) as i64
                };
                left -= amt;
                let class = self.rng.random_range(0..4);
                self.card(org, Some(p), class, day, amt, false)?;
            }
        }
        Ok(())
    }
}
