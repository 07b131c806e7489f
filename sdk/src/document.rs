//! Builders for the [`Document`] a report returns: a (multi-level) header,
//! columns with number formats, rows with a hierarchy level and a style, and
//! footnotes. The host renders it to HTML, CSV, XLSX and PDF.

use crate::document_types::{Document, HeaderCell, ReportColumn, ReportRow, RowStyle};
use crate::{AppError, NumberFormat, Param, Value};

impl Document {
    pub fn new(title: impl Into<String>) -> Self {
        Document {
            title: title.into(),
            subtitle: None,
            parameters: Vec::new(),
            header: Vec::new(),
            columns: Vec::new(),
            rows: Vec::new(),
            footnotes: Vec::new(),
        }
    }

    /// e.g. "编制单位：… 日期：… 单位：元".
    pub fn subtitle(mut self, subtitle: impl Into<String>) -> Self {
        self.subtitle = Some(subtitle.into());
        self
    }

    /// The parameters the document was produced with.
    pub fn parameters(mut self, params: Vec<Param>) -> Self {
        self.parameters = params;
        self
    }

    /// Adds a header row (top to bottom). Spans, including the row spans of
    /// cells above, must cover exactly the columns; see [`Document::validate`].
    pub fn header_row(mut self, cells: Vec<HeaderCell>) -> Self {
        self.header.push(cells);
        self
    }

    /// Adds a data column.
    pub fn column(mut self, key: impl Into<String>, format: NumberFormat) -> Self {
        self.columns.push(ReportColumn {
            key: key.into(),
            format,
        });
        self
    }

    pub fn row(mut self, row: ReportRow) -> Self {
        self.rows.push(row);
        self
    }

    /// Adds a row in place (inside a loop).
    pub fn push_row(&mut self, row: ReportRow) {
        self.rows.push(row);
    }

    /// Adds a section heading: `label` in the first column, the rest empty.
    pub fn push_heading(&mut self, label: impl Into<String>, level: u8) {
        let mut cells = vec![Value::Null; self.columns.len().max(1)];
        cells[0] = Value::Text(label.into());
        self.rows
            .push(ReportRow::new(cells).level(level).style(RowStyle::Heading));
    }

    pub fn footnote(mut self, note: impl Into<String>) -> Self {
        self.footnotes.push(note.into());
        self
    }

    /// Checks the shape the host relies on: every row has one cell per
    /// column, and the header cells, laid out with their column and row
    /// spans, fill a grid exactly as wide as the columns with no overlap or
    /// gap. Call it in tests (or before returning) to catch a miscounted
    /// span early.
    pub fn validate(&self) -> Result<(), AppError> {
        let width = self.columns.len();
        for (i, row) in self.rows.iter().enumerate() {
            if row.cells.len() != width {
                return Err(AppError::internal(format!(
                    "report row {i} has {} cells, expected {width}",
                    row.cells.len()
                )));
            }
        }
        if self.header.is_empty() {
            return Ok(());
        }
        // occupied[r][c]: a cell placed in an earlier header row spans into (r, c).
        let height = self.header.len();
        let mut occupied = vec![vec![false; width]; height];
        for (r, cells) in self.header.iter().enumerate() {
            let mut c = 0;
            for cell in cells {
                while c < width && occupied[r][c] {
                    c += 1;
                }
                let (cols, rows) = (usize::from(cell.col_span), usize::from(cell.row_span));
                if cols == 0 || rows == 0 || c + cols > width || r + rows > height {
                    return Err(AppError::internal(format!(
                        "header cell {:?} in row {r} does not fit the {width}×{height} header",
                        cell.label
                    )));
                }
                for row in occupied.iter_mut().skip(r).take(rows) {
                    for slot in row.iter_mut().skip(c).take(cols) {
                        if *slot {
                            return Err(AppError::internal(format!(
                                "header cell {:?} in row {r} overlaps another",
                                cell.label
                            )));
                        }
                        *slot = true;
                    }
                }
                c += cols;
            }
            if let Some(gap) = occupied[r].iter().position(|&taken| !taken) {
                return Err(AppError::internal(format!(
                    "header row {r} leaves column {gap} empty"
                )));
            }
        }
        Ok(())
    }
}

impl HeaderCell {
    /// A 1×1 header cell.
    pub fn new(label: impl Into<String>) -> Self {
        HeaderCell {
            label: label.into(),
            col_span: 1,
            row_span: 1,
        }
    }

    /// A cell spanning `cols` columns (a group heading).
    pub fn group(label: impl Into<String>, cols: u16) -> Self {
        Self::new(label).col_span(cols)
    }

    pub fn col_span(mut self, cols: u16) -> Self {
        self.col_span = cols;
        self
    }

    pub fn row_span(mut self, rows: u16) -> Self {
        self.row_span = rows;
        self
    }
}

impl ReportRow {
    /// A normal row at level 0.
    pub fn new(cells: Vec<Value>) -> Self {
        ReportRow {
            cells,
            level: 0,
            style: RowStyle::Normal,
        }
    }

    /// A subtotal line (小计).
    pub fn subtotal(cells: Vec<Value>) -> Self {
        Self::new(cells).style(RowStyle::Subtotal)
    }

    /// A grand total line (合计).
    pub fn total(cells: Vec<Value>) -> Self {
        Self::new(cells).style(RowStyle::Total)
    }

    /// Indentation level in the row hierarchy, 0 = top.
    pub fn level(mut self, level: u8) -> Self {
        self.level = level;
        self
    }

    pub fn style(mut self, style: RowStyle) -> Self {
        self.style = style;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Document {
        // | 账户 (2 cols) | 期初 (rowspan 2) |
        // | 单位 | 账号    |                  |
        Document::new("资金日报")
            .header_row(vec![
                HeaderCell::group("账户", 2),
                HeaderCell::new("期初").row_span(2),
            ])
            .header_row(vec![HeaderCell::new("单位"), HeaderCell::new("账号")])
            .column("org", NumberFormat::Plain)
            .column("acct", NumberFormat::Plain)
            .column("opening", NumberFormat::Yuan)
            .row(ReportRow::new(vec![
                Value::text("a"),
                Value::text("1"),
                Value::money(1),
            ]))
    }

    #[test]
    fn a_consistent_document_validates() {
        let mut d = doc();
        d.push_heading("电费收入户", 0);
        assert_eq!(d.rows[1].cells.len(), 3);
        d.validate().unwrap();
    }

    #[test]
    fn miscounted_spans_are_caught() {
        let mut d = doc();
        d.header[1].push(HeaderCell::new("多余"));
        assert!(d.validate().unwrap_err().message().contains("does not fit"));

        let mut d = doc();
        d.header[1].pop();
        assert!(
            d.validate()
                .unwrap_err()
                .message()
                .contains("leaves column 1 empty")
        );

        let mut d = doc();
        d.rows[0].cells.pop();
        assert!(d.validate().is_err());
    }
}
