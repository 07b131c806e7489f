//! Builders for what `describe` returns: [`Description`] and
//! [`ParameterSpec`] (also used as the filter controls of a view).

use crate::{Choice, ControlKind, Description, ParameterSpec, PeriodGrain, Value};

impl Description {
    pub fn new(title: impl Into<String>, summary: impl Into<String>) -> Self {
        Description {
            title: title.into(),
            summary: summary.into(),
            parameters: Vec::new(),
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, spec: ParameterSpec) -> Self {
        self.parameters.push(spec);
        self
    }

    pub fn params(mut self, specs: impl IntoIterator<Item = ParameterSpec>) -> Self {
        self.parameters.extend(specs);
        self
    }
}

impl ParameterSpec {
    /// An optional parameter with no default.
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: ControlKind) -> Self {
        ParameterSpec {
            name: name.into(),
            label: label.into(),
            kind,
            default_value: Value::Null,
            required: false,
        }
    }

    /// An organisation picker (the host limits it to the user's data scope).
    pub fn org_picker(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, ControlKind::OrgPicker)
    }
    pub fn period_picker(
        name: impl Into<String>,
        label: impl Into<String>,
        grain: PeriodGrain,
    ) -> Self {
        Self::new(name, label, ControlKind::PeriodPicker(grain))
    }
    /// One of `(key, label)` choices.
    pub fn select<I, K, L>(name: impl Into<String>, label: impl Into<String>, choices: I) -> Self
    where
        I: IntoIterator<Item = (K, L)>,
        K: Into<String>,
        L: Into<String>,
    {
        let choices = choices
            .into_iter()
            .map(|(key, label)| Choice::new(key, label))
            .collect();
        Self::new(name, label, ControlKind::Select(choices))
    }
    pub fn text(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, ControlKind::TextInput)
    }
    pub fn number(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, ControlKind::NumberInput)
    }
    pub fn date(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, ControlKind::DatePicker)
    }
    pub fn toggle(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, ControlKind::Toggle)
    }

    /// The default value; in a view's filters, the value currently applied.
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default_value = value.into();
        self
    }

    /// The caller must pass a value.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
}

impl Choice {
    pub fn new(key: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            key: key.into(),
            label: label.into(),
        }
    }
}
