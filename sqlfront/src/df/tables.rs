//! Tables whose rows are files that DataFusion scans itself — native tables (Parquet files
//! in the data directory, written by CREATE TABLE and INSERT) and Parquet / JSON external
//! tables — and the writer that makes native tables' files.
//!
//! A native table's first file (possibly without rows) fixes its Arrow schema; INSERT
//! converts its rows to that schema, so every file of a table has the same one.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{new_null_array, ArrayRef};
use datafusion::arrow::compute::{cast_with_options, CastOptions};
use datafusion::arrow::datatypes::{DataType as ArrowType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::parquet::arrow::arrow_reader::ArrowReaderMetadata;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;

use crate::ast::DataType;
use crate::catalog::{ColumnSchema, TableEntry};
use crate::error::{ErrorKind, Result, SqlError};

use super::values::{arrow_type, sql_type};

/// Bytes of encoded rows a Parquet writer buffers before it ends a row group, so that
/// writing a table of decoded images holds a bounded amount in memory.
const ROW_GROUP_BYTES: usize = 64 << 20;

fn read_error(table: &str, msg: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        ErrorKind::InvalidQuery,
        format!("Error while reading table: {table}, error message: {msg}"),
    )
}

/// The Arrow schema stored in the Parquet file `path`.
pub fn parquet_schema(table: &str, path: &Path) -> Result<SchemaRef> {
    let file =
        File::open(path).map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    let meta = ArrowReaderMetadata::load(&file, Default::default())
        .map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    Ok(Arc::clone(meta.schema()))
}

/// A DataFusion table scanning `files` (in this order) in `format`, with `schema`.
fn listing(
    table: &str,
    files: &[PathBuf],
    format: Arc<dyn FileFormat>,
    schema: SchemaRef,
) -> Result<Arc<dyn TableProvider>> {
    let urls = files
        .iter()
        .map(|p| {
            let abs = std::path::absolute(p).map_err(|e| read_error(table, e))?;
            ListingTableUrl::parse(abs.to_string_lossy()).map_err(|e| read_error(table, e))
        })
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(format).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    let t = ListingTable::try_new(config).map_err(|e| read_error(table, e))?;
    Ok(Arc::new(t))
}

/// A native table: its Parquet files in the data directory, each checked to lie inside it.
pub fn native_table(
    table: &str,
    entry: &TableEntry,
    data_dir: &Path,
) -> Result<Arc<dyn TableProvider>> {
    let owner = format!("Table {table}");
    let files = entry
        .files
        .iter()
        .map(|f| crate::catalog::data_file(data_dir, &owner, f))
        .collect::<Result<Vec<_>>>()?;
    let first = files
        .first()
        .ok_or_else(|| read_error(table, "the catalog lists no file for this table"))?;
    let schema = parquet_schema(table, first)?;
    listing(table, &files, Arc::new(ParquetFormat::default()), schema)
}

/// The files of an external table: every URI expanded (one `*` matches any characters).
fn external_files(
    table: &str,
    entry: &TableEntry,
    gcs_root: Option<&Path>,
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for uri in &entry.uris {
        let found = crate::sources::expand_uri(uri, gcs_root)?;
        if found.is_empty() || (!uri.contains('*') && !found[0].is_file()) {
            return Err(read_error(table, format!("Not found: {uri}")));
        }
        files.extend(found);
    }
    Ok(files)
}

/// A Parquet external table; its schema is the first file's.
pub fn parquet_table(
    table: &str,
    entry: &TableEntry,
    gcs_root: Option<&Path>,
) -> Result<Arc<dyn TableProvider>> {
    let files = external_files(table, entry, gcs_root)?;
    let schema = parquet_schema(table, &files[0])?;
    listing(table, &files, Arc::new(ParquetFormat::default()), schema)
}

/// A newline-delimited JSON external table with the columns recorded at creation.
pub fn json_table(
    table: &str,
    entry: &TableEntry,
    gcs_root: Option<&Path>,
) -> Result<Arc<dyn TableProvider>> {
    let files = external_files(table, entry, gcs_root)?;
    let fields = entry
        .columns
        .iter()
        .map(|c| {
            let t = crate::parser::parse_data_type(&c.data_type)?;
            Ok(Field::new(&c.name, arrow_type(&t), true))
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(Schema::new(fields));
    listing(table, &files, Arc::new(JsonFormat::default()), schema)
}

/// The columns of a JSON external table, detected from its first file (as BigQuery's
/// schema auto-detection does once, at creation).
pub fn detect_json_columns(
    table: &str,
    entry: &TableEntry,
    gcs_root: Option<&Path>,
) -> Result<Vec<ColumnSchema>> {
    let files = external_files(table, entry, gcs_root)?;
    let path = &files[0];
    let file =
        File::open(path).map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    let (schema, _) = datafusion::arrow::json::reader::infer_json_schema_from_seekable(
        std::io::BufReader::new(file),
        Some(1000),
    )
    .map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    // Arrow sorts the fields by name; BigQuery and DuckDB keep the order of the keys in
    // the file, which the first object gives.
    let mut columns = columns_of(&schema);
    let file =
        File::open(path).map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(file), &mut first)
        .map_err(|e| read_error(table, format!("{}: {e}", path.display())))?;
    if let Ok(KeyOrder(keys)) = serde_json::from_str::<KeyOrder>(&first) {
        columns.sort_by_key(|c| keys.iter().position(|k| *k == c.name).unwrap_or(usize::MAX));
    }
    Ok(columns)
}

/// The keys of a JSON object, in the order they are written.
struct KeyOrder(Vec<String>);

impl<'de> serde::Deserialize<'de> for KeyOrder {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys)
    }
}

/// The catalog's record of an Arrow schema's columns (BigQuery type names).
pub fn columns_of(schema: &Schema) -> Vec<ColumnSchema> {
    schema
        .fields()
        .iter()
        .map(|f| ColumnSchema {
            name: f.name().clone(),
            data_type: sql_type(f.data_type()).map_or_else(|| "INT64".into(), |t| t.to_string()),
        })
        .collect()
}

/// The schema a new native table stores for a query result: the same columns, but a
/// column of NULLs only is INT64 (as in BigQuery) and text and bytes use Arrow's plain
/// layouts.
pub fn storage_schema(result: &Schema) -> SchemaRef {
    let fields = result
        .fields()
        .iter()
        .map(|f| {
            let t = match f.data_type() {
                ArrowType::Null => ArrowType::Int64,
                ArrowType::Utf8View | ArrowType::LargeUtf8 => ArrowType::Utf8,
                ArrowType::BinaryView | ArrowType::LargeBinary => ArrowType::Binary,
                t => t.clone(),
            };
            Field::new(f.name(), t, true)
        })
        .collect::<Vec<_>>();
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of a declared column list.
pub fn declared_schema(columns: &[(String, DataType)]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, t)| Field::new(n, arrow_type(t), true))
            .collect::<Vec<_>>(),
    ))
}

/// How rows of a query result become rows of a table: for each table column, the result
/// column that fills it (`None`: NULL).
#[derive(Clone, Debug)]
pub struct ColumnMapping {
    target: SchemaRef,
    sources: Vec<Option<usize>>,
}

impl ColumnMapping {
    /// Maps `result` onto `target`: `sources[i]` is the result column for target column
    /// `i`. Checks that each result column's type can be stored in its column
    /// (BigQuery's coercions: the same type, INT64 into FLOAT64, NULL into anything).
    pub fn new(target: SchemaRef, result: &Schema, sources: Vec<Option<usize>>) -> Result<Self> {
        for (t, s) in target.fields().iter().zip(&sources) {
            let Some(s) = *s else { continue };
            let from = result.field(s).data_type();
            let (want, got) = (sql_type(t.data_type()), sql_type(from));
            let ok = got.is_none()
                || want == got
                || (want == Some(DataType::Float64) && got == Some(DataType::Int64));
            if !ok {
                return Err(SqlError::new(
                    ErrorKind::InvalidQuery,
                    format!(
                        "Query column {} has type {} which cannot be inserted into column {}, which has type {}",
                        s + 1,
                        got.map_or_else(|| "INT64".into(), |t| t.to_string()),
                        t.name(),
                        want.map_or_else(|| "INT64".into(), |t| t.to_string()),
                    ),
                ));
            }
        }
        Ok(ColumnMapping { target, sources })
    }

    /// The table's schema.
    pub fn target(&self) -> SchemaRef {
        Arc::clone(&self.target)
    }

    /// The rows of `batch` as a batch of the table's schema.
    pub fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let columns = self
            .target
            .fields()
            .iter()
            .zip(&self.sources)
            .map(|(f, s)| -> Result<ArrayRef> {
                match s {
                    None => Ok(new_null_array(f.data_type(), batch.num_rows())),
                    Some(i) => cast_with_options(batch.column(*i), f.data_type(), &options)
                        .map_err(|e| {
                            SqlError::new(
                                ErrorKind::InvalidQuery,
                                format!("Cannot store column {}: {e}", f.name()),
                            )
                        }),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        RecordBatch::try_new(Arc::clone(&self.target), columns)
            .map_err(|e| SqlError::new(ErrorKind::InvalidQuery, e.to_string()))
    }
}

/// Writes batches as a Parquet file (row groups of bounded size).
pub struct ParquetFileWriter<W: Write + Send> {
    writer: ArrowWriter<W>,
    rows: u64,
}

fn write_error(e: impl std::fmt::Display) -> SqlError {
    SqlError::new(ErrorKind::Io, format!("cannot write Parquet: {e}"))
}

impl<W: Write + Send> ParquetFileWriter<W> {
    /// A writer of rows with `schema` into `file`, Snappy-compressed.
    pub fn new(file: W, schema: SchemaRef) -> Result<Self> {
        Self::with_compression(file, schema, Compression::SNAPPY)
    }

    /// A writer of rows with `schema` into `file`, compressed with `compression`.
    pub fn with_compression(file: W, schema: SchemaRef, compression: Compression) -> Result<Self> {
        let props = WriterProperties::builder()
            .set_compression(compression)
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(write_error)?;
        Ok(ParquetFileWriter { writer, rows: 0 })
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.writer.write(batch).map_err(write_error)?;
        self.rows += batch.num_rows() as u64;
        if self.writer.in_progress_size() > ROW_GROUP_BYTES {
            self.writer.flush().map_err(write_error)?;
        }
        Ok(())
    }

    /// Ends the file; returns the number of rows written and the output.
    pub fn finish(self) -> Result<(u64, W)> {
        let rows = self.rows;
        let out = self.writer.into_inner().map_err(write_error)?;
        Ok((rows, out))
    }
}
