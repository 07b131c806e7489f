//! Builders for alert-rule [`Finding`]s and for [`DataTable`]s (their evidence).

use crate::findings_types::{Finding, Severity};
use crate::{ColumnMeta, DataTable, Value, ValueKind};

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

impl DataTable {
    /// An empty table with `(name, kind)` columns.
    pub fn new<I, S>(columns: I) -> Self
    where
        I: IntoIterator<Item = (S, ValueKind)>,
        S: Into<String>,
    {
        DataTable {
            columns: columns
                .into_iter()
                .map(|(name, kind)| ColumnMeta {
                    name: name.into(),
                    kind,
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one value per column).
    pub fn row(mut self, values: Vec<Value>) -> Self {
        self.push_row(values);
        self
    }

    pub fn push_row(&mut self, values: Vec<Value>) {
        debug_assert_eq!(values.len(), self.columns.len(), "one value per column");
        self.rows.push(values);
    }
}
