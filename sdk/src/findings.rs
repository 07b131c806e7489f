//! The builder for alert-rule [`Finding`]s. Their evidence is a
//! [`DataTable`], built with [`DataTable::new`] or [`crate::Rows::subset`].

use crate::findings_types::{Finding, Severity};
use crate::{DataTable, Value};

impl Finding {
    /// A finding with no observed value, threshold or evidence yet.
    ///
    /// `fingerprint` must identify the underlying issue stably across runs
    /// (e.g. `"A01:<acct_no>"`): the host dedupes and tracks state by it.
    pub fn new(
        fingerprint: impl Into<String>,
        org_id: impl Into<String>,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            fingerprint: fingerprint.into(),
            org_id: org_id.into(),
            severity,
            message: message.into(),
            observed: Value::Null,
            threshold: Value::Null,
            evidence: DataTable::default(),
        }
    }

    pub fn observed(mut self, value: Value) -> Self {
        self.observed = value;
        self
    }

    pub fn threshold(mut self, value: Value) -> Self {
        self.threshold = value;
        self
    }

    /// The rows that show the problem.
    pub fn evidence(mut self, table: DataTable) -> Self {
        self.evidence = table;
        self
    }
}
