//! Renders results the way `bq` does: `pretty` bordered tables for queries, `sparse`
//! borderless tables for listings, CSV, and JSON.

use crate::ast::DataType;
use crate::session::ResultSet;
use comfy_table::{
    Cell, CellAlignment, ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle,
};

/// Output formats of `bqmlc query` and the REPL's `.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// `bq`'s `pretty`: an ASCII table with `+---+` rules.
    Table,
    /// CSV with a header row; NULL is empty.
    Csv,
    /// A JSON array of row objects.
    Json,
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<OutputFormat, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" | "pretty" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            other => Err(format!("unknown format '{other}'; use table, csv or json")),
        }
    }
}

/// `bq`'s pretty style: outer borders, a `-` rule under the header, `|` between columns.
const PRETTY: TableStyle = TableStyle::new()
    .top_border(LineStyle::new('+', '-', '+', '+'))
    .header_lines(ContentLineStyle::new('|', '|', '|'))
    .header_separator(LineStyle::new('+', '-', '+', '+'))
    .content_lines(ContentLineStyle::new('|', '|', '|'))
    .bottom_border(LineStyle::new('+', '-', '+', '+'));

/// `bq`'s sparse style: no borders, a rule of `-` runs separated by spaces.
const SPARSE: TableStyle = TableStyle::new()
    .header_lines(ContentLineStyle::new(' ', ' ', ' '))
    .header_separator(LineStyle::new(' ', '-', ' ', ' '))
    .content_lines(ContentLineStyle::new(' ', ' ', ' '));

fn header<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Cell> {
    names
        .map(|n| Cell::new(n).set_alignment(CellAlignment::Center))
        .collect()
}

fn is_string(t: &Option<DataType>) -> bool {
    matches!(t, Some(DataType::String) | None)
}

/// Renders a result set in `format`.
pub fn render(rs: &ResultSet, format: OutputFormat) -> String {
    match format {
        OutputFormat::Table => render_pretty(rs),
        OutputFormat::Csv => render_csv(rs),
        OutputFormat::Json => render_json(rs),
    }
}

/// An ASCII table like `bq query`'s; NULL prints as `NULL`.
pub fn render_pretty(rs: &ResultSet) -> String {
    let mut t = Table::new();
    t.load_style(PRETTY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header(rs.columns.iter().map(|c| c.name.as_str())));
    for row in &rs.rows {
        t.add_row(
            row.iter()
                .map(|v| v.to_text().unwrap_or_else(|| "NULL".into())),
        );
    }
    for (i, c) in rs.columns.iter().enumerate() {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(if is_string(&c.data_type) {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
        }
    }
    t.to_string()
}

/// CSV with a header row; NULL is an empty field.
pub fn render_csv(rs: &ResultSet) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(rs.columns.iter().map(|c| c.name.as_str()));
    for row in &rs.rows {
        let _ = w.write_record(row.iter().map(|v| v.to_text().unwrap_or_default()));
    }
    let bytes = w.into_inner().unwrap_or_default();
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// A JSON array with one object per row (keys sorted, like `bq --format=json`).
pub fn render_json(rs: &ResultSet) -> String {
    let rows: Vec<serde_json::Value> = rs
        .rows
        .iter()
        .map(|row| {
            let mut m = serde_json::Map::new();
            for (c, v) in rs.columns.iter().zip(row) {
                m.insert(c.name.clone(), v.to_json());
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// A `bq` sparse listing: centred headers, a rule of `-` runs, no borders. Cells may
/// hold several lines.
pub fn sparse_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_style(SPARSE)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header(headers.iter().copied()));
    for r in rows {
        t.add_row(r.iter().cloned());
    }
    t.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::ResultColumn;
    use crate::value::Value;

    fn rs() -> ResultSet {
        ResultSet {
            columns: vec![
                ResultColumn {
                    name: "name".into(),
                    data_type: Some(DataType::String),
                },
                ResultColumn {
                    name: "n".into(),
                    data_type: Some(DataType::Int64),
                },
            ],
            rows: vec![
                vec![Value::String("ab".into()), Value::Int64(7)],
                vec![Value::Null, Value::Null],
            ],
        }
    }

    #[test]
    fn pretty_matches_bq() {
        assert_eq!(
            render_pretty(&rs()),
            "+------+------+\n\
             | name |   n  |\n\
             +------+------+\n\
             | ab   |    7 |\n\
             | NULL | NULL |\n\
             +------+------+"
        );
    }

    #[test]
    fn csv_and_json() {
        assert_eq!(render_csv(&rs()), "name,n\nab,7\n,");
        assert_eq!(
            render_json(&rs()),
            r#"[{"n":7,"name":"ab"},{"n":null,"name":null}]"#
        );
    }

    #[test]
    fn sparse_matches_bq_ls() {
        assert_eq!(
            sparse_table(&["datasetId"], &[vec!["bqml_tutorial".into()]]),
            "    datasetId    \n --------------- \n  bqml_tutorial  "
        );
        assert_eq!(
            sparse_table(&["a", "bb"], &[vec!["x".into(), "y".into()]]),
            "  a   bb  \n --- ---- \n  x   y   "
        );
    }
}
