//! The statements that store a query's rows: `CREATE TABLE … [AS query]` and `INSERT`
//! (Parquet files in the data directory, committed through the catalog like model files)
//! and `EXPORT DATA` (CSV, newline-delimited JSON or Parquet files at a `gs://` or local
//! URI with one `*`, which becomes the shard number `000000000000`).
//!
//! The query runs and its rows are written before the catalog lock is taken
//! ([`crate::catalog::Catalog::stage_table_file`]); the commit re-checks what the statement
//! assumed (the table still exists, with the same schema).

use std::cell::RefCell;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType as ArrowType, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::basic::{Compression, GzipLevel, ZstdLevel};

use crate::ast::*;
use crate::catalog::{now_ms, TableEntry, TableKind};
use crate::df::tables::{self, ColumnMapping, ParquetFileWriter};
use crate::error::{ErrorKind, Result, Span, SqlError};
use crate::session::{
    check_name, create_op, get, opt_string, option_map, DdlOp, DdlOutcome, ObjectKind, Session,
    StatementOutput,
};
use crate::sources::split_table_name;
use crate::storage::RemoteStorage;
use crate::value::Value;

fn invalid(msg: impl Into<String>, span: crate::error::Span) -> SqlError {
    SqlError::invalid(msg, span)
}

/// The first name that appears twice in `names` (compared ignoring case, as BigQuery
/// compares column names).
fn duplicate<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut seen = std::collections::HashSet::new();
    names
        .into_iter()
        .find(|n| !seen.insert(n.to_ascii_lowercase()))
}

impl Session {
    /// Runs `q`, handing its schema to `on_schema` before the first batch.
    fn run_query(
        &self,
        q: &QueryText,
        on_schema: &mut dyn FnMut(&SchemaRef) -> Result<()>,
        on_batch: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<SchemaRef> {
        let text = q.positioned();
        let state = self.catalog().snapshot()?;
        let ctx = self.exec_context(&state);
        self.query_engine()?
            .query_batches(&text, &ctx, on_schema, on_batch)
            .map_err(|e| crate::session::shift_span(e, q.offset_shift()))
    }

    /// Runs `q` into a new staged Parquet file whose rows follow `mapping` (built from
    /// the query's schema once it is planned). Returns the file and the rows written.
    fn stage_rows(
        &self,
        q: &QueryText,
        mut mapping: impl FnMut(&Schema) -> Result<ColumnMapping>,
    ) -> Result<(crate::catalog::StagedFile, u64)> {
        self.catalog().stage_table_file(|file| {
            let mut file = Some(file);
            let out: RefCell<Option<(ParquetFileWriter<File>, ColumnMapping)>> = RefCell::new(None);
            self.run_query(
                q,
                &mut |schema| {
                    let m = mapping(schema)?;
                    let f = file.take().expect("a query has one schema");
                    *out.borrow_mut() = Some((ParquetFileWriter::new(f, m.target())?, m));
                    Ok(())
                },
                &mut |batch| {
                    let mut out = out.borrow_mut();
                    let (w, m) = out.as_mut().expect("the schema comes first");
                    w.write(&m.apply(&batch)?)
                },
            )?;
            let (w, _) = out.into_inner().expect("the schema came");
            Ok(w.finish()?.0)
        })
    }

    /// `CREATE [OR REPLACE] TABLE [IF NOT EXISTS] name [(cols)] [OPTIONS(…)] [AS query]`
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn create_table(
        &self,
        name: &ObjectName,
        or_replace: bool,
        if_not_exists: bool,
        columns: &[ColumnDef],
        options: &[SqlOption],
        query: Option<&QueryText>,
    ) -> Result<StatementOutput> {
        let (ds, t) = split_table_name(name, "Table")?;
        check_name("table", &t, name.span)?;
        if or_replace && if_not_exists {
            return Err(invalid(
                "CREATE TABLE cannot have both OR REPLACE and IF NOT EXISTS",
                name.span,
            ));
        }
        let opts = option_map(options, &["description"])?;
        let description = opt_string(&opts, "description")?;
        if let Some(d) = duplicate(columns.iter().map(|c| c.name.value.as_str())) {
            return Err(invalid(
                format!("CREATE TABLE has columns with duplicate name {d}"),
                name.span,
            ));
        }
        let declared: Vec<(String, DataType)> = columns
            .iter()
            .map(|c| (c.name.value.clone(), c.data_type.clone()))
            .collect();
        let skipped = || {
            Ok(StatementOutput::Ddl(DdlOutcome {
                op: DdlOp::Skipped,
                kind: ObjectKind::Table,
                dataset: ds.clone(),
                name: Some(t.clone()),
            }))
        };
        // What the commit checks again: the query does not run when nothing would change.
        let state = self.catalog().snapshot()?;
        let d = state.dataset(&ds).map_err(|e| e.with_span(name.span))?;
        let at = (ds.as_str(), t.as_str());
        if create_op(
            d,
            ObjectKind::Table,
            at,
            or_replace,
            if_not_exists,
            name.span,
        )? == DdlOp::Skipped
        {
            return skipped();
        }
        let (staged, _) = match query {
            None => self.catalog().stage_table_file(|file| {
                let w = ParquetFileWriter::new(file, tables::declared_schema(&declared))?;
                Ok(w.finish()?.0)
            })?,
            Some(q) => self.stage_rows(q, |result| {
                if declared.is_empty() {
                    let names = result.fields().iter().map(|f| f.name().as_str());
                    if let Some(d) = duplicate(names) {
                        return Err(invalid(
                            format!("CREATE TABLE has columns with duplicate name {d}"),
                            name.span,
                        ));
                    }
                    let target = tables::storage_schema(result);
                    let sources = (0..result.fields().len()).map(Some).collect();
                    return ColumnMapping::new(target, result, sources);
                }
                if declared.len() != result.fields().len() {
                    return Err(invalid(
                        format!(
                            "The query returns {} columns but the column list of the table has {}",
                            result.fields().len(),
                            declared.len()
                        ),
                        q.head_span(),
                    ));
                }
                let sources = (0..declared.len()).map(Some).collect();
                ColumnMapping::new(tables::declared_schema(&declared), result, sources)
            })?,
        };
        let schema = tables::parquet_schema(&format!("{ds}.{t}"), staged.path())?;
        let columns = tables::columns_of(&schema);
        let op = self
            .catalog()
            .update(|s, files| {
                let d = s.dataset_mut(&ds)?;
                let at = (ds.as_str(), t.as_str());
                let op = create_op(
                    d,
                    ObjectKind::Table,
                    at,
                    or_replace,
                    if_not_exists,
                    name.span,
                )?;
                if op == DdlOp::Skipped {
                    return Ok(op);
                }
                let file = files.commit_table_file(staged)?;
                d.tables.insert(
                    t.clone(),
                    TableEntry {
                        created_ms: now_ms(),
                        kind: TableKind::Native,
                        columns,
                        uris: Vec::new(),
                        connection: None,
                        skip_leading_rows: 0,
                        max_staleness: None,
                        metadata_cache_mode: None,
                        description,
                        files: vec![file],
                    },
                );
                Ok(op)
            })
            .map_err(|e| e.with_span(name.span))?;
        Ok(StatementOutput::Ddl(DdlOutcome {
            op,
            kind: ObjectKind::Table,
            dataset: ds,
            name: Some(t),
        }))
    }

    /// `INSERT [INTO] name [(cols)] query`: the rows become one more file of the table.
    pub(crate) fn insert(
        &self,
        name: &ObjectName,
        columns: &[Ident],
        query: &QueryText,
    ) -> Result<StatementOutput> {
        let (ds, t) = split_table_name(name, "Table")?;
        let full = format!("{ds}.{t}");
        let state = self.catalog().snapshot()?;
        let entry = state.table(&ds, &t).map_err(|e| e.with_span(name.span))?;
        if entry.kind != TableKind::Native {
            return Err(invalid(
                format!(
                    "Cannot insert into {full}: it is an external table, whose rows are its files"
                ),
                name.span,
            ));
        }
        let first = entry.files.first().cloned().unwrap_or_default();
        let path =
            crate::catalog::data_file(self.catalog().dir(), &format!("Table {full}"), &first)?;
        let target = tables::parquet_schema(&full, &path)?;
        // Table column i takes query column positions[i].
        let positions: Vec<Option<usize>> = if columns.is_empty() {
            (0..target.fields().len()).map(Some).collect()
        } else {
            if let Some(d) = duplicate(columns.iter().map(|c| c.value.as_str())) {
                return Err(invalid(
                    format!("INSERT has columns with duplicate name: {d}"),
                    name.span,
                ));
            }
            for c in columns {
                if !target
                    .fields()
                    .iter()
                    .any(|f| f.name().eq_ignore_ascii_case(&c.value))
                {
                    return Err(invalid(
                        format!("Column {} is not present in table {full}", c.value),
                        c.span,
                    ));
                }
            }
            target
                .fields()
                .iter()
                .map(|f| {
                    columns
                        .iter()
                        .position(|c| f.name().eq_ignore_ascii_case(&c.value))
                })
                .collect()
        };
        let wanted = if columns.is_empty() {
            target.fields().len()
        } else {
            columns.len()
        };
        let (staged, rows) = self.stage_rows(query, |result| {
            if result.fields().len() != wanted {
                return Err(invalid(
                    format!(
                        "Inserted row has wrong column count; Has {}, {wanted} expected",
                        result.fields().len()
                    ),
                    query.head_span(),
                ));
            }
            ColumnMapping::new(Arc::clone(&target), result, positions.clone())
        })?;
        if rows > 0 {
            self.catalog()
                .update(|s, files| {
                    let e = s
                        .dataset_mut(&ds)?
                        .tables
                        .get_mut(&t)
                        .filter(|e| e.kind == TableKind::Native && e.files.first() == Some(&first))
                        .ok_or_else(|| {
                            invalid(
                                format!("Table {full} was replaced or dropped while INSERT ran; run it again"),
                                name.span,
                            )
                        })?;
                    e.files.push(files.commit_table_file(staged)?);
                    Ok(())
                })
                .map_err(|e| e.with_span(name.span))?;
        }
        Ok(StatementOutput::Ddl(DdlOutcome {
            op: DdlOp::Inserted(rows),
            kind: ObjectKind::Table,
            dataset: ds,
            name: Some(t),
        }))
    }

    /// `EXPORT DATA OPTIONS(uri = '…*…', format = 'CSV'|'JSON'|'PARQUET', …) AS query`
    pub(crate) fn export_data(
        &self,
        options: &[SqlOption],
        query: &QueryText,
        span: crate::error::Span,
    ) -> Result<StatementOutput> {
        let ExportOptions {
            uri,
            uri_span,
            format,
            overwrite,
            header,
            delimiter,
            compression,
        } = ExportOptions::parse(options, span)?;
        let write =
            |file: File| self.write_export(query, file, format, header, delimiter, compression);
        let rows = match self.gcs().remote_store() {
            Some(store) if uri.starts_with("gs://") => {
                export_remote(store.as_ref(), &uri, uri_span, overwrite, write)?
            }
            _ => self.export_local(&uri, uri_span, overwrite, write)?,
        };
        Ok(StatementOutput::Ddl(DdlOutcome {
            op: DdlOp::Exported(rows),
            kind: ObjectKind::Table,
            dataset: uri,
            name: None,
        }))
    }

    /// Runs the export's query into `file` in `format`; the number of rows written.
    fn write_export(
        &self,
        query: &QueryText,
        file: File,
        format: ExportFormat,
        header: bool,
        delimiter: u8,
        compression: Compression,
    ) -> Result<u64> {
        let writer: RefCell<Option<ExportWriter>> = RefCell::new(None);
        let mut file = Some(file);
        self.run_query(
            query,
            &mut |schema| {
                let f = file.take().expect("a query has one schema");
                *writer.borrow_mut() = Some(ExportWriter::new(
                    f,
                    schema,
                    format,
                    header,
                    delimiter,
                    compression,
                )?);
                Ok(())
            },
            &mut |batch| {
                let mut w = writer.borrow_mut();
                w.as_mut().expect("the schema comes first").write(&batch)
            },
        )?;
        writer.into_inner().expect("the schema came").finish()
    }

    /// EXPORT DATA to a local directory (or `gs://` under `--gcs-root`): written to a
    /// temporary name beside the destination, which replaces the old files only once the
    /// query has succeeded.
    fn export_local(
        &self,
        uri: &str,
        uri_span: Span,
        overwrite: bool,
        write: impl FnOnce(File) -> Result<u64>,
    ) -> Result<u64> {
        let gcs_root = self.gcs_root();
        let existing =
            crate::sources::expand_uri(uri, gcs_root).map_err(|e| e.with_span(uri_span))?;
        check_destination(uri, existing.len(), overwrite).map_err(|e| e.with_span(uri_span))?;
        let shard = uri.replacen('*', "000000000000", 1);
        let dest =
            crate::sources::resolve_uri(&shard, gcs_root).map_err(|e| e.with_span(uri_span))?;
        let dir = dest
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        fs::create_dir_all(&dir).map_err(|e| SqlError::io(dir.display(), e))?;
        let tmp = dir.join(format!(
            ".{}.tmp.{}",
            dest.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            std::process::id()
        ));
        let result = (|| {
            let file = File::create(&tmp).map_err(|e| SqlError::io(tmp.display(), e))?;
            let rows = write(file)?;
            for old in &existing {
                fs::remove_file(old).map_err(|e| SqlError::io(old.display(), e))?;
            }
            fs::rename(&tmp, &dest).map_err(|e| SqlError::io(dest.display(), e))?;
            Ok(rows)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

/// Refuses a destination that already holds `existing` matching files, unless `overwrite`.
fn check_destination(uri: &str, existing: usize, overwrite: bool) -> Result<()> {
    if existing > 0 && !overwrite {
        return Err(SqlError::new(
            ErrorKind::InvalidQuery,
            format!(
                "The destination {uri} is not empty ({existing} matching file(s)); use overwrite = true to replace them"
            ),
        ));
    }
    Ok(())
}

/// EXPORT DATA to Cloud Storage: the result is written to an unnamed temporary file, then
/// uploaded as one object (an object appears whole or not at all); the old matching
/// objects are deleted only after the query has succeeded.
fn export_remote(
    store: &dyn RemoteStorage,
    uri: &str,
    uri_span: Span,
    overwrite: bool,
    write: impl FnOnce(File) -> Result<u64>,
) -> Result<u64> {
    use std::io::{Read, Seek};
    let (bucket, pattern) = crate::storage::split_gs_uri(uri).map_err(|e| e.with_span(uri_span))?;
    let existing = crate::storage::list_matching(store, bucket, pattern)
        .and_then(|found| check_destination(uri, found.len(), overwrite).map(|_| found))
        .map_err(|e| e.with_span(uri_span))?;
    let shard = pattern.replacen('*', "000000000000", 1);
    let mut file = tempfile::tempfile().map_err(|e| SqlError::io("a temporary file", e))?;
    let out = file
        .try_clone()
        .map_err(|e| SqlError::io("a temporary file", e))?;
    let rows = write(out)?;
    let mut content = Vec::new();
    file.rewind()
        .and_then(|_| file.read_to_end(&mut content))
        .map_err(|e| SqlError::io("the exported data's temporary file", e))?;
    for old in existing.iter().filter(|o| o.name != shard) {
        store.delete(bucket, &old.name)?;
    }
    store.write(bucket, &shard, content)?;
    Ok(rows)
}

/// The checked options of an `EXPORT DATA`.
struct ExportOptions {
    uri: String,
    uri_span: crate::error::Span,
    format: ExportFormat,
    overwrite: bool,
    header: bool,
    delimiter: u8,
    compression: Compression,
}

impl ExportOptions {
    /// The options of `EXPORT DATA` at `span`, checked.
    fn parse(options: &[SqlOption], span: crate::error::Span) -> Result<ExportOptions> {
        let opts = option_map(
            options,
            &[
                "uri",
                "format",
                "overwrite",
                "header",
                "field_delimiter",
                "compression",
            ],
        )?;
        let at = |key: &str| get(&opts, key).map_or(span, |o| o.2);
        let uri = opt_string(&opts, "uri")?
            .ok_or_else(|| invalid("EXPORT DATA needs the option uri", span))?;
        if uri.matches('*').count() != 1 {
            return Err(invalid(
                format!("The uri of EXPORT DATA must contain exactly one '*' wildcard, as in gs://bucket/folder/*.csv; got {uri}"),
                at("uri"),
            ));
        }
        let format = match opt_string(&opts, "format")?.map(|f| f.to_ascii_uppercase()) {
            None => ExportFormat::Csv,
            Some(f) if f == "CSV" => ExportFormat::Csv,
            Some(f) if f == "JSON" => ExportFormat::Json,
            Some(f) if f == "PARQUET" => ExportFormat::Parquet,
            Some(f) => {
                return Err(SqlError::at(
                    ErrorKind::NotSupported,
                    format!("Export format {f} is not supported; use CSV, JSON or PARQUET"),
                    at("format"),
                ))
            }
        };
        let flag = |key: &str| -> Result<bool> {
            match get(&opts, key) {
                None => Ok(false),
                Some((_, OptionValue::Literal(Literal::Bool(b)), _)) => Ok(*b),
                Some((k, v, s)) => Err(invalid(
                    format!("Option {k} must be a BOOL, got {}", v.type_name()),
                    *s,
                )),
            }
        };
        let overwrite = flag("overwrite")?;
        let header = flag("header")?;
        let delimiter = match opt_string(&opts, "field_delimiter")? {
            None => b',',
            Some(d) if d == "\\t" || d.eq_ignore_ascii_case("tab") => b'\t',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) => {
                return Err(invalid(
                    format!("field_delimiter must be one ASCII character, got '{d}'"),
                    at("field_delimiter"),
                ))
            }
        };
        if format != ExportFormat::Csv && get(&opts, "field_delimiter").is_some() {
            return Err(invalid(
                "field_delimiter applies only to CSV",
                at("field_delimiter"),
            ));
        }
        let compression = opt_string(&opts, "compression")?.map(|c| c.to_ascii_uppercase());
        let parquet_compression = match (format, compression.as_deref()) {
            (ExportFormat::Csv | ExportFormat::Json, None | Some("NONE")) => {
                Compression::UNCOMPRESSED
            }
            (ExportFormat::Parquet, None | Some("SNAPPY")) => Compression::SNAPPY,
            (ExportFormat::Parquet, Some("NONE")) => Compression::UNCOMPRESSED,
            (ExportFormat::Parquet, Some("GZIP")) => Compression::GZIP(GzipLevel::default()),
            (ExportFormat::Parquet, Some("ZSTD")) => Compression::ZSTD(ZstdLevel::default()),
            (_, Some(c)) => {
                return Err(SqlError::at(
                    ErrorKind::NotSupported,
                    format!("Compression {c} is not supported for {format:?} export"),
                    at("compression"),
                ))
            }
        };
        Ok(ExportOptions {
            uri,
            uri_span: at("uri"),
            format,
            overwrite,
            header,
            delimiter,
            compression: parquet_compression,
        })
    }
}

/// A file format of EXPORT DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExportFormat {
    Csv,
    Json,
    Parquet,
}

/// Writes one exported file.
enum ExportWriter {
    Parquet(Box<ParquetFileWriter<File>>),
    /// CSV or newline-delimited JSON, written from the rows' values.
    Text {
        out: std::io::BufWriter<File>,
        format: ExportFormat,
        delimiter: u8,
        names: Vec<String>,
        rows: u64,
    },
}

impl ExportWriter {
    fn new(
        file: File,
        schema: &SchemaRef,
        format: ExportFormat,
        header: bool,
        delimiter: u8,
        compression: Compression,
    ) -> Result<ExportWriter> {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        match format {
            ExportFormat::Parquet => {
                let target = tables::storage_schema(schema);
                Ok(ExportWriter::Parquet(Box::new(
                    ParquetFileWriter::with_compression(file, target, compression)?,
                )))
            }
            ExportFormat::Csv => {
                if let Some(f) = schema.fields().iter().find(|f| {
                    matches!(
                        f.data_type(),
                        ArrowType::List(_) | ArrowType::LargeList(_) | ArrowType::Struct(_)
                    )
                }) {
                    return Err(SqlError::new(
                        ErrorKind::InvalidQuery,
                        format!(
                            "Operation cannot be performed on a nested schema. Field: {}",
                            f.name()
                        ),
                    ));
                }
                let mut out = std::io::BufWriter::new(file);
                if header {
                    out.write_all(&csv_record(names.iter().cloned(), delimiter))
                        .map_err(export_error)?;
                }
                Ok(ExportWriter::Text {
                    out,
                    format,
                    delimiter,
                    names,
                    rows: 0,
                })
            }
            ExportFormat::Json => Ok(ExportWriter::Text {
                out: std::io::BufWriter::new(file),
                format,
                delimiter,
                names,
                rows: 0,
            }),
        }
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            ExportWriter::Parquet(w) => {
                let target = tables::storage_schema(&batch.schema());
                let sources = (0..batch.num_columns()).map(Some).collect();
                let m = ColumnMapping::new(target, &batch.schema(), sources)?;
                w.write(&m.apply(batch)?)
            }
            ExportWriter::Text {
                out,
                format,
                delimiter,
                names,
                rows,
            } => {
                for r in 0..batch.num_rows() {
                    let values = batch
                        .columns()
                        .iter()
                        .map(|c| crate::df::values::value_at(c.as_ref(), r))
                        .collect::<datafusion::common::Result<Vec<Value>>>()
                        .map_err(|e| crate::df::sql_error(e, ""))?;
                    let line = match format {
                        ExportFormat::Csv => csv_record(
                            values.iter().map(|v| v.to_text().unwrap_or_default()),
                            *delimiter,
                        ),
                        _ => {
                            // Keys in column order (a serde_json map would sort them).
                            let mut line = String::from("{");
                            for (i, (n, v)) in names.iter().zip(&values).enumerate() {
                                if i > 0 {
                                    line.push(',');
                                }
                                line.push_str(&serde_json::Value::from(n.as_str()).to_string());
                                line.push(':');
                                line.push_str(&v.to_json().to_string());
                            }
                            line.push_str("}\n");
                            line.into_bytes()
                        }
                    };
                    out.write_all(&line).map_err(export_error)?;
                    *rows += 1;
                }
                Ok(())
            }
        }
    }

    /// Ends the file (fsynced); returns the rows written.
    fn finish(self) -> Result<u64> {
        let (rows, file) = match self {
            ExportWriter::Parquet(w) => (*w).finish()?,
            ExportWriter::Text { out, rows, .. } => (
                rows,
                out.into_inner().map_err(|e| export_error(e.into_error()))?,
            ),
        };
        file.sync_all().map_err(export_error)?;
        Ok(rows)
    }
}

fn export_error(e: std::io::Error) -> SqlError {
    SqlError::new(ErrorKind::Io, format!("cannot write the export: {e}"))
}

/// One CSV record with `delimiter`, ending in a newline.
fn csv_record(fields: impl Iterator<Item = String>, delimiter: u8) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .from_writer(Vec::new());
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}
