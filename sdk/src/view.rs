//! Builders for the [`View`] a scenario returns: KPI cards, charts, tables
//! and text, laid out top to bottom.

use crate::view_types::{
    Align, Block, Category, Chart, ChartKind, DrillTarget, KpiCard, Series, Status, Table,
    TableColumn, TableRow, TextBlock, Tone, Trend, View,
};
use crate::{NumberFormat, ParameterSpec, Value};

impl View {
    pub fn new(title: impl Into<String>) -> Self {
        View {
            title: title.into(),
            subtitle: None,
            filters: Vec::new(),
            blocks: Vec::new(),
        }
    }

    /// e.g. the org and period shown.
    pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = Some(subtitle.into());
        self
    }

    /// Adds a filter control; set its `default_value` to the value applied.
    pub fn filter(mut self, spec: ParameterSpec) -> Self {
        self.filters.push(spec);
        self
    }

    pub fn filters(mut self, specs: impl IntoIterator<Item = ParameterSpec>) -> Self {
        self.filters.extend(specs);
        self
    }

    /// A row of KPI cards.
    pub fn kpis(self, cards: Vec<KpiCard>) -> Self {
        self.block(Block::Kpis(cards))
    }

    pub fn chart(self, chart: Chart) -> Self {
        self.block(Block::Chart(chart))
    }

    pub fn table(self, table: Table) -> Self {
        self.block(Block::Table(table))
    }

    /// A neutral paragraph of plain text.
    pub fn text(self, body: impl Into<String>) -> Self {
        self.block(Block::Text(TextBlock::new(body)))
    }

    pub fn text_block(self, text: TextBlock) -> Self {
        self.block(Block::Text(text))
    }

    pub fn block(mut self, block: Block) -> Self {
        self.blocks.push(block);
        self
    }
}

impl DrillTarget {
    pub fn new(param: impl Into<String>) -> Self {
        DrillTarget {
            param: param.into(),
            level_label: None,
        }
    }

    pub fn level_label(mut self, label: impl Into<String>) -> Self {
        self.level_label = Some(label.into());
        self
    }
}

impl KpiCard {
    pub fn new(
        id: impl Into<String>,
        label: impl Into<String>,
        value: Value,
        format: NumberFormat,
    ) -> Self {
        KpiCard {
            id: id.into(),
            label: label.into(),
            value,
            format,
            comparison: None,
            trend: None,
            status: None,
            drill: None,
        }
    }

    /// Money in fen, shown in 元 unless [`KpiCard::format`] says otherwise.
    pub fn money(id: impl Into<String>, label: impl Into<String>, fen: i64) -> Self {
        Self::new(id, label, Value::Money(fen), NumberFormat::Yuan)
    }

    /// A count, with thousands separators.
    pub fn count(id: impl Into<String>, label: impl Into<String>, n: i64) -> Self {
        Self::new(id, label, Value::Int(n), NumberFormat::Thousands)
    }

    /// `numerator / denominator` (integers: fen or counts) as a percentage
    /// with one decimal; null when the denominator is zero.
    pub fn ratio(
        id: impl Into<String>,
        label: impl Into<String>,
        numerator: i64,
        denominator: i64,
    ) -> Self {
        let value = Value::opt_float(crate::ratio(numerator, denominator));
        Self::new(id, label, value, NumberFormat::Percent(1))
    }

    pub fn format(mut self, format: NumberFormat) -> Self {
        self.format = format;
        self
    }

    /// e.g. "较上日 +3.2%".
    pub fn comparison(mut self, text: impl Into<String>) -> Self {
        self.comparison = Some(text.into());
        self
    }

    pub fn trend(mut self, trend: Trend) -> Self {
        self.trend = Some(trend);
        self
    }

    pub fn status(mut self, status: Status) -> Self {
        self.status = Some(status);
        self
    }

    /// Clicking the card re-renders the app with `param` set.
    pub fn drill(mut self, param: impl Into<String>) -> Self {
        self.drill = Some(DrillTarget::new(param));
        self
    }
}

impl Chart {
    pub fn new(kind: ChartKind, id: impl Into<String>, title: impl Into<String>) -> Self {
        Chart {
            id: id.into(),
            title: title.into(),
            kind,
            categories: Vec::new(),
            series: Vec::new(),
            format: NumberFormat::Plain,
            drill: None,
        }
    }

    pub fn bar(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::Bar, id, title)
    }
    pub fn stacked_bar(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::StackedBar, id, title)
    }
    pub fn horizontal_bar(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::HorizontalBar, id, title)
    }
    pub fn line(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::Line, id, title)
    }
    pub fn area(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::Area, id, title)
    }
    pub fn pie(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::Pie, id, title)
    }
    pub fn scatter(id: impl Into<String>, title: impl Into<String>) -> Self {
        Self::new(ChartKind::Scatter, id, title)
    }

    /// Adds a category (x-axis entry or pie slice); `key` is what a drill passes.
    pub fn category(mut self, key: impl Into<String>, label: impl Into<String>) -> Self {
        self.categories.push(Category {
            key: key.into(),
            label: label.into(),
        });
        self
    }

    /// Adds a series with one value per category (null for a gap).
    pub fn series(mut self, name: impl Into<String>, points: Vec<Value>) -> Self {
        self.series.push(Series {
            name: name.into(),
            points,
        });
        self
    }

    /// Adds a series of money values in fen.
    pub fn money_series(self, name: impl Into<String>, fen: impl IntoIterator<Item = i64>) -> Self {
        let points = fen.into_iter().map(Value::Money).collect();
        self.series(name, points)
    }

    pub fn format(mut self, format: NumberFormat) -> Self {
        self.format = format;
        self
    }

    /// Clicking a category re-renders the app with `param` set to its key.
    pub fn drill(mut self, param: impl Into<String>) -> Self {
        self.drill = Some(DrillTarget::new(param));
        self
    }

    /// Like [`Chart::drill`], naming the level the drill leads to (e.g. "县公司").
    pub fn drill_to(mut self, param: impl Into<String>, level_label: impl Into<String>) -> Self {
        self.drill = Some(DrillTarget::new(param).level_label(level_label));
        self
    }
}

impl TableColumn {
    pub fn new(key: impl Into<String>, label: impl Into<String>, format: NumberFormat) -> Self {
        TableColumn {
            key: key.into(),
            label: label.into(),
            format,
            align: Align::Left,
            sortable: false,
        }
    }

    /// Left-aligned text.
    pub fn text(key: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(key, label, NumberFormat::Plain)
    }

    /// Money in 元, right-aligned, sortable.
    pub fn money(key: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(key, label, NumberFormat::Yuan).numeric()
    }

    /// Money in 万元 with `decimals` decimals, right-aligned, sortable.
    pub fn wan_yuan(key: impl Into<String>, label: impl Into<String>, decimals: u8) -> Self {
        Self::new(key, label, NumberFormat::WanYuan(decimals)).numeric()
    }

    /// A count with thousands separators, right-aligned, sortable.
    pub fn count(key: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(key, label, NumberFormat::Thousands).numeric()
    }

    /// A ratio shown as a percentage, right-aligned, sortable.
    pub fn percent(key: impl Into<String>, label: impl Into<String>, decimals: u8) -> Self {
        Self::new(key, label, NumberFormat::Percent(decimals)).numeric()
    }

    fn numeric(self) -> Self {
        self.align(Align::Right).sortable(true)
    }

    pub fn align(mut self, align: Align) -> Self {
        self.align = align;
        self
    }

    pub fn sortable(mut self, sortable: bool) -> Self {
        self.sortable = sortable;
        self
    }
}

impl Table {
    pub fn new(id: impl Into<String>, title: impl Into<String>) -> Self {
        Table {
            id: id.into(),
            title: title.into(),
            columns: Vec::new(),
            rows: Vec::new(),
            drill: None,
        }
    }

    pub fn column(mut self, column: TableColumn) -> Self {
        self.columns.push(column);
        self
    }

    pub fn columns(mut self, columns: impl IntoIterator<Item = TableColumn>) -> Self {
        self.columns.extend(columns);
        self
    }

    /// Adds a row: `key` is what a drill passes, `cells` has one value per column.
    pub fn row(mut self, key: impl Into<String>, cells: Vec<Value>) -> Self {
        self.push_row(key, cells);
        self
    }

    /// Adds a row in place (inside a loop).
    pub fn push_row(&mut self, key: impl Into<String>, cells: Vec<Value>) {
        debug_assert_eq!(
            cells.len(),
            self.columns.len(),
            "a table row needs one cell per column"
        );
        self.rows.push(TableRow {
            key: key.into(),
            cells,
        });
    }

    /// Clicking a row re-renders the app with `param` set to the row's key.
    pub fn drill(mut self, param: impl Into<String>) -> Self {
        self.drill = Some(DrillTarget::new(param));
        self
    }

    pub fn drill_to(mut self, param: impl Into<String>, level_label: impl Into<String>) -> Self {
        self.drill = Some(DrillTarget::new(param).level_label(level_label));
        self
    }
}

impl TextBlock {
    /// A neutral paragraph.
    pub fn new(body: impl Into<String>) -> Self {
        TextBlock {
            title: None,
            body: body.into(),
            tone: Tone::Neutral,
        }
    }

    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    pub fn tone(mut self, tone: Tone) -> Self {
        self.tone = tone;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_view() {
        let view = View::new("资金全景监控")
            .subtitle("示范市供电公司 · 2026-11-30")
            .filter(ParameterSpec::org_picker("org", "单位"))
            .kpis(vec![
                KpiCard::money("balance", "账户余额", 123_456).format(NumberFormat::WanYuan(2)),
                KpiCard::ratio("coverage", "备付覆盖率", 3, 2),
                KpiCard::ratio("pool", "资金归集率", 1, 0),
            ])
            .chart(
                Chart::bar("by-org", "各单位余额")
                    .category("3301", "县公司一")
                    .money_series("余额", [100])
                    .drill("org"),
            )
            .table(
                Table::new("accounts", "账户")
                    .column(TableColumn::text("acct_no", "账号"))
                    .row("1", vec![Value::text("1")]),
            )
            .text("ok");
        assert_eq!(view.blocks.len(), 4);
        let Block::Kpis(cards) = &view.blocks[0] else {
            panic!("kpis first")
        };
        assert_eq!(cards[1].value, Value::Float(1.5));
        assert_eq!(cards[2].value, Value::Null);
        let Block::Chart(chart) = &view.blocks[1] else {
            panic!("chart second")
        };
        assert_eq!(chart.drill.as_ref().unwrap().param, "org");
    }
}
