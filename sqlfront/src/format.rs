//! Renders results the way `bq` does: `pretty` bordered tables for queries, `sparse`
//! borderless tables for listings, CSV, and JSON.

use crate::ast::DataType;
use crate::error::{ErrorKind, Result, SqlError};
use crate::session::{ResultColumn, ResultSet};
use crate::value::{ImagePixels, Value};
use comfy_table::{
    Cell, CellAlignment, ContentArrangement, ContentLineStyle, LineStyle, Table, TableStyle,
};
use kernels::imageops::DecodedPixels;

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

/// How much of a result a table shows: CSV and JSON are always complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableLimits {
    /// Characters per line: cells are cut (ending in `…`) so that the table fits;
    /// `None` shows cells whole.
    pub max_width: Option<usize>,
    /// Rows shown; a footer says how many there are. `None` shows all.
    pub max_rows: Option<usize>,
}

impl TableLimits {
    /// No limits: every cell whole, every row.
    pub const NONE: TableLimits = TableLimits {
        max_width: None,
        max_rows: None,
    };

    /// Rows a table shows by default.
    pub const DEFAULT_MAX_ROWS: usize = 40;

    /// Width used when standard output is not a terminal and `$COLUMNS` is unset.
    pub const DEFAULT_WIDTH: usize = 120;

    /// The defaults for standard output: the terminal's width (else `$COLUMNS`, else
    /// [`TableLimits::DEFAULT_WIDTH`]) and [`TableLimits::DEFAULT_MAX_ROWS`] rows.
    pub fn for_stdout() -> TableLimits {
        TableLimits {
            max_width: Some(terminal_width().unwrap_or_else(|| {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.trim().parse().ok())
                    .filter(|&c: &usize| c > 0)
                    .unwrap_or(Self::DEFAULT_WIDTH)
            })),
            max_rows: Some(Self::DEFAULT_MAX_ROWS),
        }
    }
}

/// The width of the terminal on standard output, if it is one.
fn terminal_width() -> Option<usize> {
    // SAFETY: `winsize` is plain data, so all-zero is a valid value; TIOCGWINSZ writes
    // at most one `winsize` through the pointer, which is valid for the whole call.
    let ws = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) == 0).then_some(ws)
    }?;
    (ws.ws_col > 0).then_some(usize::from(ws.ws_col))
}

/// Renders a result set in `format`; a table shows everything.
pub fn render(rs: &ResultSet, format: OutputFormat) -> String {
    render_limited(rs, format, TableLimits::NONE)
}

/// Renders a result set in `format`; a table within `limits`.
pub fn render_limited(rs: &ResultSet, format: OutputFormat, limits: TableLimits) -> String {
    match format {
        OutputFormat::Table => render_table(rs, limits),
        OutputFormat::Csv => render_csv(rs),
        OutputFormat::Json => render_json(rs),
    }
}

/// An ASCII table like `bq query`'s; NULL prints as `NULL`.
pub fn render_pretty(rs: &ResultSet) -> String {
    render_table(rs, TableLimits::NONE)
}

/// The narrowest a cut column gets (its header may be cut too).
const MIN_COLUMN: usize = 5;

/// Text that stops growing past a limit: values render into it piece by piece, so a
/// 36-million-sample image costs as much as the characters shown.
struct Bounded {
    out: String,
    chars: usize,
    limit: usize,
}

impl Bounded {
    /// Appends `s`; false once the text is over the limit (the caller stops).
    fn push(&mut self, s: &str) -> bool {
        for c in s.chars() {
            if self.chars > self.limit {
                return false;
            }
            self.out.push(c);
            self.chars += 1;
        }
        self.chars <= self.limit
    }

    fn value(&mut self, v: &Value) -> bool {
        match v {
            Value::Array(items) => self.seq(items.iter().map(|x| (None, x)), "[", "]"),
            Value::Struct(fields) => {
                // JSON objects list keys sorted, the later of equal keys winning.
                let mut m = std::collections::BTreeMap::new();
                for (i, (n, v)) in fields.iter().enumerate() {
                    let key = if n.is_empty() {
                        format!("_field_{}", i + 1)
                    } else {
                        n.clone()
                    };
                    m.insert(key, v);
                }
                self.seq(m.into_iter().map(|(k, v)| (Some(k), v)), "{", "}")
            }
            Value::Image(img) => {
                let shape =
                    Value::Array(img.shape.iter().map(|&d| Value::Int64(d as i64)).collect());
                let n = img.shape.iter().product::<usize>();
                let sample = |i: usize| -> Value {
                    match &img.pixels {
                        ImagePixels::Int(d) => Value::Int64(i64::from(d[i])),
                        ImagePixels::Float(d) => Value::Float64(f64::from(d[i])),
                        ImagePixels::Decoded(d) => Value::Float64(f64::from(match d.pixels() {
                            DecodedPixels::U8(v) => f32::from(v[i]) / 255.0,
                            DecodedPixels::U16(v) => f32::from(v[i]) / 65535.0,
                        })),
                    }
                };
                self.push("{\"_field_1\":")
                    && self.value(&shape)
                    && self.push(",\"_field_2\":")
                    && self.seq((0..n).map(|i| (None, sample(i))), "[", "]")
                    && self.push("}")
            }
            Value::Bytes(b) => {
                // Base64 of a prefix is a prefix of the base64 (3 bytes → 4 characters).
                let take = b
                    .len()
                    .min((self.limit - self.chars.min(self.limit)) / 4 * 3 + 6);
                self.push(&crate::value::base64(&b[..take]))
            }
            Value::Lazy(_) => match v.clone().forced() {
                Ok(v) => self.value(&v),
                Err(_) => self.push("NULL"),
            },
            scalar => self.push(&scalar.to_text().unwrap_or_else(|| "NULL".into())),
        }
    }

    /// Inside an array or struct: scalars as JSON.
    fn nested(&mut self, v: &Value) -> bool {
        match v {
            Value::Array(_) | Value::Struct(_) | Value::Image(_) | Value::Lazy(_) => self.value(v),
            scalar => self.push(&scalar.to_json().to_string()),
        }
    }

    fn seq<V: std::borrow::Borrow<Value>>(
        &mut self,
        items: impl Iterator<Item = (Option<String>, V)>,
        open: &str,
        close: &str,
    ) -> bool {
        if !self.push(open) {
            return false;
        }
        for (i, (key, v)) in items.enumerate() {
            if i > 0 && !self.push(",") {
                return false;
            }
            if let Some(k) = key {
                if !self.push(&serde_json::Value::String(k).to_string()) || !self.push(":") {
                    return false;
                }
            }
            if !self.nested(v.borrow()) {
                return false;
            }
        }
        self.push(close)
    }
}

/// A value's table text, cut to at most `limit` characters (the last one `…`).
pub fn cell_text(v: &Value, limit: Option<usize>) -> String {
    let Some(limit) = limit else {
        return v.to_text().unwrap_or_else(|| "NULL".into());
    };
    let mut b = Bounded {
        out: String::new(),
        chars: 0,
        limit,
    };
    if matches!(v, Value::Null) {
        b.push("NULL");
    } else {
        b.value(v);
    }
    cut(b.out, limit)
}

/// `s` with at most `limit` characters, the last one `…` when cut.
fn cut(s: String, limit: usize) -> String {
    if s.chars().count() <= limit {
        return s;
    }
    let mut t: String = s.chars().take(limit.saturating_sub(1)).collect();
    t.push('…');
    t
}

/// The widest every column may be so that the table's lines fit in `max_width`
/// (borders included), given each column's natural width; at least [`MIN_COLUMN`].
fn column_cap(natural: &[usize], max_width: usize) -> usize {
    let room = max_width.saturating_sub(3 * natural.len() + 1);
    let fits = |cap: usize| natural.iter().map(|&w| w.min(cap)).sum::<usize>() <= room;
    let widest = natural.iter().copied().max().unwrap_or(0);
    if fits(widest) {
        return widest;
    }
    // The largest cap that fits: `fits` is monotone in `cap`.
    let (mut lo, mut hi) = (MIN_COLUMN, widest);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

fn render_table(rs: &ResultSet, limits: TableLimits) -> String {
    let shown = limits
        .max_rows
        .map_or(rs.rows.len(), |m| m.min(rs.rows.len()));
    let rows: Vec<Vec<String>> = rs.rows[..shown]
        .iter()
        .map(|row| row.iter().map(|v| cell_text(v, limits.max_width)).collect())
        .collect();
    table_text(&rs.columns, rows, rs.rows.len(), limits.max_width)
}

/// The table of `rows` (cell texts, each at most `max_width` characters) under
/// `columns`' names, with a footer when the result has more rows (`total`) than shown.
fn table_text(
    columns: &[ResultColumn],
    mut rows: Vec<Vec<String>>,
    total: usize,
    max_width: Option<usize>,
) -> String {
    let shown = rows.len();
    let mut names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    if let Some(w) = max_width {
        let width = |s: &String| s.lines().map(|l| l.chars().count()).max().unwrap_or(0);
        let natural: Vec<usize> = (0..names.len())
            .map(|i| {
                rows.iter()
                    .map(|r| width(&r[i]))
                    .chain([width(&names[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let cap = column_cap(&natural, w);
        for s in names.iter_mut().chain(rows.iter_mut().flatten()) {
            if width(s) > cap {
                *s = s
                    .lines()
                    .map(|l| cut(l.to_string(), cap))
                    .collect::<Vec<_>>()
                    .join("\n");
            }
        }
    }
    let mut t = Table::new();
    t.load_style(PRETTY)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(header(names.iter().map(String::as_str)));
    for row in rows {
        t.add_row(row);
    }
    for (i, c) in columns.iter().enumerate() {
        if let Some(col) = t.column_mut(i) {
            col.set_cell_alignment(if is_string(&c.data_type) {
                CellAlignment::Left
            } else {
                CellAlignment::Right
            });
        }
    }
    let mut out = t.to_string();
    if shown < total {
        out.push_str(&format!("\n{total} rows ({shown} shown)"));
    }
    out
}

/// Most text a table holds before it is printed (`--max-rows 0 --max-width 0` over a
/// large result); past it the query fails rather than exhausting memory.
pub const MAX_TABLE_TEXT_BYTES: usize = 256 << 20;

/// Writes a query result to `out` as its pieces arrive: CSV and JSON row by row (their
/// memory does not grow with the result), a table once the last piece is in, holding
/// only the rows it shows (as text cut to the width) and a count of the rest.
pub struct ResultWriter<W: std::io::Write> {
    out: W,
    format: OutputFormat,
    limits: TableLimits,
    columns: Vec<ResultColumn>,
    /// Whether a piece has arrived (the columns are known).
    started: bool,
    /// Rows seen so far.
    total: usize,
    /// The table's cell texts (table format only).
    cells: Vec<Vec<String>>,
    cell_bytes: usize,
}

impl<W: std::io::Write> ResultWriter<W> {
    /// A writer for one query's result.
    pub fn new(out: W, format: OutputFormat, limits: TableLimits) -> ResultWriter<W> {
        ResultWriter {
            out,
            format,
            limits,
            columns: Vec::new(),
            started: false,
            total: 0,
            cells: Vec::new(),
            cell_bytes: 0,
        }
    }

    /// Takes the next piece of the result.
    pub fn rows(&mut self, columns: &[ResultColumn], rows: Vec<Vec<Value>>) -> Result<()> {
        let first = !self.started;
        if first {
            self.started = true;
            self.columns = columns.to_vec();
        }
        for (c, new) in self.columns.iter_mut().zip(columns) {
            if c.data_type.is_none() {
                c.data_type = new.data_type.clone();
            }
        }
        match self.format {
            OutputFormat::Table => {
                for row in rows {
                    self.total += 1;
                    if self.limits.max_rows.is_some_and(|m| self.cells.len() >= m) {
                        continue;
                    }
                    let cells: Vec<String> = row
                        .iter()
                        .map(|v| cell_text(v, self.limits.max_width))
                        .collect();
                    self.cell_bytes += cells.iter().map(String::len).sum::<usize>();
                    if self.cell_bytes > MAX_TABLE_TEXT_BYTES {
                        return Err(SqlError::new(
                            ErrorKind::InvalidQuery,
                            format!(
                                "the result is over {} MiB of table text (the limit of table output); \
                                 show fewer rows or narrower cells (LIMIT, --max-rows / .maxrows, \
                                 --max-width / .maxwidth) or use csv or json output, which stream",
                                MAX_TABLE_TEXT_BYTES >> 20
                            ),
                        ));
                    }
                    self.cells.push(cells);
                }
                Ok(())
            }
            OutputFormat::Csv => {
                if first {
                    let header = csv_header(&self.columns);
                    self.write(&header)?;
                }
                for row in &rows {
                    self.total += 1;
                    self.write(&csv_row(row))?;
                }
                Ok(())
            }
            OutputFormat::Json => {
                for row in &rows {
                    let sep = if self.total == 0 { "[" } else { "," };
                    self.total += 1;
                    let text = sep.to_string() + &json_row(&self.columns, row);
                    self.write(text.as_bytes())?;
                }
                Ok(())
            }
        }
    }

    /// How many rows have arrived so far (shown or not).
    pub fn rows_seen(&self) -> usize {
        self.total
    }

    /// Writes what is left after the last piece.
    pub fn finish(mut self) -> Result<W> {
        let tail = match self.format {
            OutputFormat::Table => {
                let cells = std::mem::take(&mut self.cells);
                table_text(&self.columns, cells, self.total, self.limits.max_width) + "\n"
            }
            OutputFormat::Csv => String::new(),
            OutputFormat::Json if self.total == 0 => "[]\n".into(),
            OutputFormat::Json => "]\n".into(),
        };
        self.write(tail.as_bytes())?;
        Ok(self.out)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out
            .write_all(bytes)
            .map_err(|e| SqlError::new(ErrorKind::Io, format!("cannot write the result: {e}")))
    }
}

/// One CSV record, ending in a newline.
fn csv_record(fields: impl Iterator<Item = String>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

/// The CSV header record: the column names.
fn csv_header(columns: &[ResultColumn]) -> Vec<u8> {
    csv_record(columns.iter().map(|c| c.name.clone()))
}

/// One row as a CSV record; NULL is an empty field.
fn csv_row(row: &[Value]) -> Vec<u8> {
    csv_record(row.iter().map(|v| v.to_text().unwrap_or_default()))
}

/// One row as a JSON object keyed by column name (keys sorted, like `bq --format=json`).
fn json_row(columns: &[ResultColumn], row: &[Value]) -> String {
    let mut m = serde_json::Map::new();
    for (c, v) in columns.iter().zip(row) {
        m.insert(c.name.clone(), v.to_json());
    }
    serde_json::Value::Object(m).to_string()
}

/// CSV with a header row; NULL is an empty field.
pub fn render_csv(rs: &ResultSet) -> String {
    let mut bytes = csv_header(&rs.columns);
    for row in &rs.rows {
        bytes.extend(csv_row(row));
    }
    String::from_utf8_lossy(&bytes).trim_end().to_string()
}

/// A JSON array with one object per row.
pub fn render_json(rs: &ResultSet) -> String {
    let rows: Vec<String> = rs.rows.iter().map(|r| json_row(&rs.columns, r)).collect();
    format!("[{}]", rows.join(","))
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

    /// `rs` through a [`ResultWriter`], one row per piece.
    fn streamed(rs: &ResultSet, format: OutputFormat, limits: TableLimits) -> String {
        let mut w = ResultWriter::new(Vec::new(), format, limits);
        for row in &rs.rows {
            w.rows(&rs.columns, vec![row.clone()]).unwrap();
        }
        if rs.rows.is_empty() {
            w.rows(&rs.columns, vec![]).unwrap();
        }
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn streamed_output_equals_whole_output() {
        let mut many = rs();
        for i in 0..50 {
            many.rows
                .push(vec![Value::String(format!("r,\"{i}")), Value::Int64(i)]);
        }
        let empty = ResultSet {
            rows: vec![],
            ..rs()
        };
        let limits = TableLimits {
            max_width: Some(30),
            max_rows: Some(5),
        };
        for r in [&rs(), &many, &empty] {
            for format in [OutputFormat::Csv, OutputFormat::Json, OutputFormat::Table] {
                assert_eq!(
                    streamed(r, format, limits),
                    render_limited(r, format, limits) + "\n",
                    "{format:?}"
                );
            }
        }
        assert!(streamed(&many, OutputFormat::Table, limits).ends_with("52 rows (5 shown)\n"));
    }

    #[test]
    fn a_table_without_limits_refuses_more_text_than_its_limit() {
        let big = Value::String("x".repeat(1 << 20));
        let columns = rs().columns;
        let mut w = ResultWriter::new(Vec::new(), OutputFormat::Table, TableLimits::NONE);
        let mut failed = None;
        for i in 0..=(MAX_TABLE_TEXT_BYTES >> 20) {
            if let Err(e) = w.rows(&columns, vec![vec![big.clone(), Value::Int64(1)]]) {
                failed = Some((i, e));
                break;
            }
        }
        let (i, e) = failed.expect("the limit is enforced");
        // Row i holds i + 1 cells of 1 MiB and a digit each: the 256th is over.
        assert_eq!(i, (MAX_TABLE_TEXT_BYTES >> 20) - 1);
        assert!(e.message.contains("over 256 MiB of table text"), "{e}");
        // With a row limit, the same result shows its first rows and counts the rest.
        let mut w = ResultWriter::new(
            Vec::new(),
            OutputFormat::Table,
            TableLimits {
                max_width: None,
                max_rows: Some(1),
            },
        );
        for _ in 0..400 {
            w.rows(&columns, vec![vec![big.clone(), Value::Int64(1)]])
                .unwrap();
        }
        assert!(String::from_utf8(w.finish().unwrap())
            .unwrap()
            .ends_with("400 rows (1 shown)\n"));
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
    fn wide_cells_are_cut_and_rendered_only_as_far_as_shown() {
        use crate::value::ImageValue;
        let arr = Value::Array(vec![
            Value::Float64(0.5),
            Value::Int64(3),
            Value::String("a\"b".into()),
            Value::Struct(vec![
                ("k".into(), Value::Null),
                (String::new(), Value::Bool(true)),
            ]),
        ]);
        let img = Value::Image(ImageValue::float([1, 2, 1], vec![0.25f32, 1.0]));
        // Under the limit, the cut text is the whole text.
        for v in [&arr, &img] {
            assert_eq!(cell_text(v, Some(1000)), v.to_text().unwrap());
        }
        assert_eq!(
            cell_text(&img, Some(1000)),
            r#"{"_field_1":[1,2,1],"_field_2":[0.25,1.0]}"#
        );
        assert_eq!(cell_text(&arr, Some(10)), "[0.5,3,\"a…");
        assert_eq!(cell_text(&Value::Null, Some(3)), "NU…");
        assert_eq!(
            cell_text(&Value::Bytes(vec![0xff; 1000]), Some(6)),
            "/////…"
        );
        // 300 million samples: only the shown ones are formatted (this would take
        // minutes and gigabytes otherwise).
        let huge = Value::Image(ImageValue {
            shape: [10_000, 10_000, 3],
            pixels: ImagePixels::Int(vec![7u8; 300_000_000].into()),
            source: None,
        });
        assert_eq!(
            cell_text(&huge, Some(40)),
            r#"{"_field_1":[10000,10000,3],"_field_2":…"#
        );
        assert_eq!(cell_text(&huge, Some(45)).chars().count(), 45);
    }

    #[test]
    fn tables_fit_the_width_and_count_hidden_rows() {
        let wide = ResultSet {
            columns: rs().columns,
            rows: vec![
                vec![Value::String("x".repeat(50)), Value::Int64(123456789)],
                vec![Value::String("short".into()), Value::Int64(1)],
                vec![Value::Null, Value::Null],
            ],
        };
        let limits = TableLimits {
            max_width: Some(30),
            max_rows: Some(2),
        };
        let out = render_limited(&wide, OutputFormat::Table, limits);
        assert_eq!(
            out,
            "+----------------+-----------+\n\
             |      name      |     n     |\n\
             +----------------+-----------+\n\
             | xxxxxxxxxxxxx… | 123456789 |\n\
             | short          |         1 |\n\
             +----------------+-----------+\n\
             3 rows (2 shown)"
        );
        assert!(out.lines().all(|l| l.chars().count() <= 30), "{out}");
        // CSV and JSON stay complete.
        assert!(render_limited(&wide, OutputFormat::Csv, limits).contains(&"x".repeat(50)));
        assert_eq!(column_cap(&[10, 50, 3], 40), 17);
        assert_eq!(column_cap(&[10, 5], 100), 10);
        assert_eq!(column_cap(&[100; 20], 40), MIN_COLUMN);
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
