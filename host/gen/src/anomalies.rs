//! When to inject an alert-rule violation (§3a). Each rule rolls
//! independently at the batch's anomaly rate over the rows it can apply to;
//! so that even a tiny batch exercises every rule, each rule also fires at
//! its first opportunity (unless the rate is zero). The
//! business modules build the violating row and report it as ground truth.

use crate::values::R;
use rand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Account available balance below its safety reserve (bank_balance_daily).
    A01,
    /// Outflow from an electricity-fee account that is not 上划/手续费/退费 (payment).
    A02,
    /// Payment to a private person ≥ 5万 (payment).
    A03,
    /// Payment without a budget item (payment).
    A04,
    /// Daily cash plan deviation > 5 % (cash_plan_daily).
    A06,
    /// Large customer arrears ≥ 10万, overdue > 30 days (elec_bill).
    A09,
    /// Duplicate invoice number across claims (expense_claim_line).
    A12,
    /// Commissioned > 3 months, not capitalised (dim_project).
    A13,
    /// AP invoice past due and unpaid (ap_invoice).
    A15,
    /// Input invoice abnormal/void/red-lettered after booking (tax_invoice).
    A18,
    /// Unbalanced voucher (gl_voucher).
    A20,
}

const RULES: usize = 11;
const FORCE_AT: u32 = 1;

pub struct Anomalies {
    rng: R,
    rate: f64,
    seen: [u32; RULES],
    hits: [u32; RULES],
}

impl Anomalies {
    pub fn new(rng: R, rate: f64) -> Anomalies {
        Anomalies {
            rng,
            rate,
            seen: [0; RULES],
            hits: [0; RULES],
        }
    }

    /// One opportunity for `rule`: should this row violate it?
    pub fn roll(&mut self, rule: Rule) -> bool {
        if self.rate <= 0.0 {
            return false;
        }
        let i = rule as usize;
        self.seen[i] += 1;
        let hit =
            self.rng.random::<f64>() < self.rate || (self.hits[i] == 0 && self.seen[i] == FORCE_AT);
        if hit {
            self.hits[i] += 1;
        }
        hit
    }
}
