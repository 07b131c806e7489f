//! The business simulation: master data first, then day by day from
//! 2025-01-01 to the as-of date, each business event writing its documents
//! and vouchers at once, and each day ending with the fund office's routine
//! and, at month end, accruals, depreciation, closing and the period's
//! balances.

use crate::anomalies::Anomalies;
use crate::assets::Assets;
use crate::calendar::{self, Day};
use crate::funds::Funds;
use crate::ledger::{Aux, Ledger};
use crate::orgs::{self, A1002, A1601, A1602, A2501, A4001, A4104, A112201, ENTITIES};
use crate::out::Out;
use crate::procurement::Procurement;
use crate::revenue::Revenue;
use crate::schema::{self, Tables};
use crate::staff::Staff;
use crate::values::{self, R};
use anyhow::Result;

/// How many of everything, from the journal-line target (§4's demo column
/// is 300,000 lines).
#[derive(Clone, Debug)]
pub struct Volumes {
    pub lines: u64,
    pub f: f64,
    pub customers: usize,
    pub suppliers: usize,
    pub plants: usize,
    pub employees: usize,
    pub projects: usize,
    pub materials: usize,
    pub opening_cards: usize,
    pub claims_per_day: f64,
    pub contracts_per_day: f64,
    /// Collections and sweeps are posted every `post_every` days (and at month end).
    pub post_every: i32,
    /// Row factor of the filler tables.
    pub filler: f64,
}

impl Volumes {
    pub fn for_lines(lines: u64) -> Volumes {
        let f = lines as f64 / 300_000.0;
        let n = |demo: f64, min: usize| ((demo * f).round() as usize).max(min);
        // Fixed postings (revenue summaries and sweeps ≈ 50 lines per posting day)
        // should stay near a tenth of the lines.
        let post_days = (lines as f64 * 0.1 / 50.0).max(1.0);
        let post_every = ((669.0 / post_days).ceil() as i32).clamp(1, 31);
        // The daily postings (≈ 37k lines once they are daily) do not grow
        // with the batch; the business events fill the rest.
        let fixed = (lines as f64 * 0.123).min(37_000.0);
        let g = (lines as f64 - fixed) / 263_000.0;
        Volumes {
            lines,
            f,
            customers: n(43_000.0, 30),
            suppliers: n(800.0, 12),
            plants: n(100.0, 4),
            employees: n(3_000.0, 20),
            projects: n(800.0, 6),
            materials: n(2_000.0, 14),
            opening_cards: n(18_000.0, 40),
            // Calibrated so gl_voucher_line ≈ lines (see the crate tests).
            claims_per_day: 36_000.0 * g / 478.0,
            contracts_per_day: 3_400.0 * g / 478.0,
            post_every,
            filler: f.sqrt(),
        }
    }

    /// Rough row counts, for progress bars and to decide which tables get malformed lines.
    pub fn expected(&self, table: &str) -> u64 {
        let f = self.f;
        let x = |demo: f64| (demo * f).max(1.0) as u64;
        match table {
            "dim_customer" => self.customers as u64,
            "dim_supplier" => (self.suppliers + self.plants) as u64,
            "dim_employee" => self.employees as u64,
            "dim_project" => self.projects as u64,
            "dim_material" => self.materials as u64,
            "gl_voucher" => self.lines / 4,
            "gl_voucher_line" => self.lines,
            "gl_balance" => 22 * 4 * 45 + x(30_000.0),
            "budget_plan" => 56,
            "cash_plan_daily" => 669 * 4 * 4,
            "payment" => x(40_000.0),
            "bank_txn" => x(80_000.0) + 669 * 6,
            "bank_balance_daily" => 669 * 19,
            "elec_bill" => self.customers as u64 * 23,
            "elec_payment" => self.customers as u64 * 30,
            "power_purchase" => self.plants as u64 * 21,
            "contract" => x(3_000.0),
            "ap_invoice" => x(12_000.0),
            "material_move" => x(8_000.0),
            "inventory_balance" => x(8_000.0),
            "fixed_asset" => self.opening_cards as u64 + x(1_500.0),
            "asset_depr" => self.opening_cards as u64 * 18,
            "tax_invoice" => self.customers as u64 * 3 + x(12_000.0),
            "payroll" => self.employees as u64 * 22,
            "shared_work_order" => x(40_000.0),
            "expense_claim" => x(26_000.0),
            "expense_claim_line" => x(55_000.0),
            _ => 100,
        }
    }
}

pub struct World<'a> {
    pub out: Out<'a>,
    pub rng: R,
    pub anom: Anomalies,
    pub vol: Volumes,
    pub t: Tables,
    pub ledger: Ledger,
    pub funds: Funds,
    pub rev: Revenue,
    pub proc: Procurement,
    pub assets: Assets,
    pub staff: Staff,
}

/// Runs the whole simulation; returns the Out (for the filler tables) and
/// the number of journal lines written.
pub fn run<'a>(
    mut out: Out<'a>,
    vol: Volumes,
    seed: u64,
    anomaly_rate: f64,
) -> Result<(Out<'a>, u64)> {
    orgs::write_masters(&mut out)?;
    schema::write_code_maps(&mut out)?;
    let mut rng = values::stream(seed, "core");
    let funds = Funds::new(&mut rng);
    funds.write_accounts(&mut out)?;
    let v2 = vol.clone();
    let t = Tables::open(&mut out, &move |name| v2.expected(name))?;
    let mut w = World {
        out,
        rng,
        anom: Anomalies::new(values::stream(seed, "anomalies"), anomaly_rate),
        vol,
        t,
        ledger: Ledger::default(),
        funds,
        rev: Revenue::default(),
        proc: Procurement::default(),
        assets: Assets::default(),
        staff: Staff::default(),
    };
    w.init()?;
    w.simulate()?;
    let lines = w.ledger.lines_written;
    let World { mut out, t, .. } = w;
    t.close(&mut out)?;
    Ok((out, lines))
}

impl World<'_> {
    fn init(&mut self) -> Result<()> {
        self.init_customers()?;
        self.init_suppliers()?;
        self.init_materials()?;
        self.init_employees()?;
        self.init_projects()?;
        self.opening_cards()?;
        self.write_budget()?;
        // Bills of 202412, issued before the data starts: the opening AR.
        self.bill_month(202412, Day::ymd(2024, 12, 25), true)?;
        // Opening balances that balance by themselves.
        for org in 0..ENTITIES.len() {
            let cash = self.funds.opening_by_org(org);
            let ar = self.rev.opening_ar[org];
            let (fa, depr) = self.assets.opening[org];
            let assets = cash + ar + fa - depr;
            let loan = assets * 3 / 10;
            let capital = assets * 4 / 10;
            self.ledger.open(org, A1002, Aux::None, cash);
            self.ledger.open(org, A112201, Aux::None, ar);
            self.ledger.open(org, A1601, Aux::None, fa);
            self.ledger.open(org, A1602, Aux::None, -depr);
            self.ledger.open(org, A2501, Aux::None, -loan);
            self.ledger.open(org, A4001, Aux::None, -capital);
            self.ledger
                .open(org, A4104, Aux::None, -(assets - loan - capital));
        }
        Ok(())
    }

    fn simulate(&mut self) -> Result<()> {
        let as_of = calendar::as_of();
        let mut day = calendar::start();
        let (mut claims_acc, mut contracts_acc) = (0.0f64, 0.0f64);
        while day <= as_of {
            let working = !day.is_weekend();
            let (mut claims, mut contracts) = (0, 0);
            if working {
                claims_acc += self.vol.claims_per_day;
                contracts_acc += self.vol.contracts_per_day;
                claims = claims_acc as u32;
                contracts = contracts_acc as u32;
                claims_acc -= f64::from(claims);
                contracts_acc -= f64::from(contracts);
            }
            self.daily_procurement(day, contracts)?;
            self.daily_claims(day, claims)?;
            match day.day_of_month() {
                8 => {
                    let prev = calendar::prev_period(day.period());
                    self.power_purchase(day, prev)?;
                }
                10 => self.payroll_pay(day)?,
                25 => self.bill_month(day.period(), day, false)?,
                _ => {}
            }
            self.capitalize(day)?;
            // End of day.
            self.post_collections(day)?;
            let month_end = day.is_month_end();
            if month_end {
                self.payroll_accrue(day)?;
                self.depreciate(day)?;
            }
            let every = self.vol.post_every;
            let sweep_day =
                month_end || (every < 28 && (day.0 - calendar::start().0) % every == every - 1);
            self.funds_end_of_day(day, sweep_day)?;
            if month_end {
                if day.parts().1 == 12 {
                    self.year_end_close(day)?;
                }
                self.flush_period(day.period())?;
                self.flush_inventory(day.period())?;
            }
            day = day.plus(1);
        }
        Ok(())
    }
}

/// Core table names, in the order they are written (for counting the batch).
pub fn core_table_names() -> Vec<&'static str> {
    let mut names = vec![
        "dim_org",
        "dim_account",
        "dim_period",
        "code_map_elec_category",
        "code_map_bank",
        "bank_account",
    ];
    names.extend_from_slice(schema::CORE_STREAMED);
    names
}
