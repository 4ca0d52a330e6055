//! Where a query's rows come from outside DataFusion: object-table listings and the
//! compiled models of `ML.PREDICT` ([`TableSources`]), CSV external tables
//! ([`read_csv_table`]), and the resolution of `gs://`, `file://` and local uris.

use crate::ast::{DataType, ObjectName};
use crate::catalog::{CatalogState, ModelEntry, TableEntry};
use crate::error::{ErrorKind, Result, SqlError};
use crate::value::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use runtime::CompiledModel;

/// A set of rows with named columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Relation {
    /// The columns, in order.
    pub columns: Vec<ScopeColumn>,
    /// The rows; each has one value per column.
    pub rows: Vec<Vec<Value>>,
}

/// A column of a [`Relation`].
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeColumn {
    /// The column name.
    pub name: String,
    /// Declared type, when known before reading rows.
    pub data_type: Option<DataType>,
    /// Pseudo-columns (an object table's `data`) are addressable but not part of `*`.
    pub hidden: bool,
}

impl ScopeColumn {
    /// A visible column.
    pub fn new(name: impl Into<String>, data_type: Option<DataType>) -> ScopeColumn {
        ScopeColumn {
            name: name.into(),
            data_type,
            hidden: false,
        }
    }
}

/// The compiled models of `ML.PREDICT`, which live outside this crate's query code
/// ([`crate::engine::Engine`]); the default reports "not supported yet".
pub trait TableSources: Send + Sync {
    /// Opens `model` (whose files are relative to `ctx.data_dir`, compiled as
    /// `ctx.compile` asks). The query keeps what this returns until it ends, so
    /// dropping or replacing the model meanwhile does not affect it.
    fn open_model(
        &self,
        name: &str,
        model: &ModelEntry,
        ctx: &ExecContext<'_>,
    ) -> Result<Arc<CompiledModel>> {
        let _ = (model, ctx);
        Err(SqlError::new(
            ErrorKind::NotSupported,
            format!("ML.PREDICT with model {name} is not supported yet"),
        ))
    }
}

/// No model engine: `ML.PREDICT` reports "not supported yet".
pub struct NoSources;

impl TableSources for NoSources {}

/// Everything a query needs besides its text.
pub struct ExecContext<'a> {
    /// The catalog snapshot the query reads.
    pub state: &'a CatalogState,
    /// The data directory (model files are relative to it).
    pub data_dir: &'a Path,
    /// How `gs://` is reached: a local stand-in for Cloud Storage, else a remote store.
    pub gcs: crate::objects::GcsAccess<'a>,
    /// External functions and sources.
    pub sources: &'a dyn TableSources,
    /// The options models are compiled with.
    pub compile: &'a compiler::CompileOptions,
}

/// Splits `[project.]ds.name` into (dataset, name).
pub fn split_table_name(name: &ObjectName, what: &str) -> Result<(String, String)> {
    match name.parts.as_slice() {
        [ds, n] | [_, ds, n] => Ok((ds.value.clone(), n.value.clone())),
        _ => Err(SqlError::invalid(
            format!(
                "{what} name \"{}\" missing dataset while no default dataset is set in the request",
                name.dotted()
            ),
            name.span,
        )),
    }
}
/// Refuses external-table (CSV, Parquet, JSON) uris on remote Cloud Storage: those
/// tables are read from local files, `gs://` ones under `--gcs-root`.
pub fn check_external_uris(uris: &[String], gcs: crate::objects::GcsAccess<'_>) -> Result<()> {
    match uris.iter().find(|u| u.starts_with("gs://")) {
        Some(uri) if gcs.remote_store().is_some() => Err(SqlError::new(
            ErrorKind::NotSupported,
            format!(
                "Cannot read {uri}: CSV, Parquet and JSON external tables are read from local \
                 files; over a Cloud Storage endpoint only object tables, MODEL_PATH and \
                 EXPORT DATA are supported (use --gcs-root for a local copy)"
            ),
        )),
        _ => Ok(()),
    }
}

/// The local Cloud Storage root that a `gs://` uri needs, or an error naming the uri.
pub(crate) fn require_gcs_root<'a>(uri: &str, gcs_root: Option<&'a Path>) -> Result<&'a Path> {
    gcs_root.ok_or_else(|| crate::storage::no_cloud_storage(uri))
}

/// A local Cloud Storage root: every `gs://` path must resolve, symlinks followed,
/// to a file or directory inside it.
pub(crate) struct GcsRoot {
    /// The root as configured (paths below it are built by joining to this).
    dir: PathBuf,
    /// Its canonical form, which resolved paths must start with.
    canonical: PathBuf,
}

impl GcsRoot {
    /// The root for `uri`, or an error naming the uri when there is none or it is missing.
    pub(crate) fn new(uri: &str, gcs_root: Option<&Path>) -> Result<GcsRoot> {
        let dir = require_gcs_root(uri, gcs_root)?;
        let canonical = dir.canonicalize().map_err(|e| {
            SqlError::new(
                ErrorKind::NotFound,
                format!(
                    "Cannot read {uri}: Cloud Storage root {} is not readable: {e}",
                    dir.display()
                ),
            )
        })?;
        Ok(GcsRoot {
            dir: dir.to_path_buf(),
            canonical,
        })
    }

    /// `root/rest`, not checked.
    pub(crate) fn join(&self, rest: &str) -> PathBuf {
        self.dir.join(rest)
    }

    /// The `gs://` uri of a path below the root.
    pub(crate) fn uri_of(&self, path: &Path) -> String {
        match path.strip_prefix(&self.dir) {
            Ok(rel) => format!("gs://{}", rel.to_string_lossy()),
            Err(_) => path.display().to_string(),
        }
    }

    /// Checks that `path` (below the root) resolves inside it once symlinks are followed;
    /// a path that does not exist passes (the caller reports it as not found). Returns
    /// the canonical path when it exists.
    pub(crate) fn confine(&self, path: &Path) -> Result<Option<PathBuf>> {
        match path.canonicalize() {
            Ok(c) if c.starts_with(&self.canonical) => Ok(Some(c)),
            Ok(c) => Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!(
                    "Cannot read {}: it resolves to {}, outside the Cloud Storage root {}",
                    self.uri_of(path),
                    c.display(),
                    self.dir.display()
                ),
            )),
            Err(_) => Ok(None),
        }
    }
}

/// Maps a URI to a local path: `gs://bucket/object` under `gcs_root` (which it must
/// resolve inside, symlinks followed, when it exists), `file://path`, or a plain path.
pub fn resolve_uri(uri: &str, gcs_root: Option<&Path>) -> Result<PathBuf> {
    if let Some(rest) = uri.strip_prefix("gs://") {
        let root = GcsRoot::new(uri, gcs_root)?;
        if rest.split('/').any(|p| p == "..") || rest.is_empty() {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Invalid Cloud Storage URI: {uri}"),
            ));
        }
        let path = root.join(rest);
        if !rest.contains('*') {
            root.confine(&path)?;
        }
        return Ok(path);
    }
    if let Some(rest) = uri.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if uri.contains("://") {
        return Err(SqlError::new(
            ErrorKind::InvalidQuery,
            format!("Unsupported URI scheme: {uri}; use gs://, file:// or a local path"),
        ));
    }
    Ok(PathBuf::from(uri))
}

/// Resolves a URI that may hold one `*` (matching any characters, `/` included) to the
/// sorted list of existing files. Directory symlinks are followed, but each real
/// directory is entered once, so symlink loops end; `gs://` files must resolve inside
/// the root.
pub fn expand_uri(uri: &str, gcs_root: Option<&Path>) -> Result<Vec<PathBuf>> {
    let path = resolve_uri(uri, gcs_root)?;
    let text = path.to_string_lossy().into_owned();
    let Some(star) = text.find('*') else {
        return Ok(vec![path]);
    };
    let confine = match uri.starts_with("gs://") {
        true => Some(GcsRoot::new(uri, gcs_root)?),
        false => None,
    };
    let base_end = text[..star].rfind('/').map_or(0, |i| i + 1);
    let (base, prefix) = if base_end == 0 {
        (PathBuf::from("."), "")
    } else {
        (PathBuf::from(&text[..base_end]), &text[..base_end])
    };
    let (pre, post) = (&text[..star], &text[star + 1..]);
    let mut files = Vec::new();
    crate::objects::walk(&base, prefix, confine.as_ref(), &mut files)?;
    let mut out: Vec<PathBuf> = files
        .into_iter()
        .filter(|(s, _)| {
            s.len() >= pre.len() + post.len() && s.starts_with(pre) && s.ends_with(post)
        })
        .map(|(_, p)| p)
        .collect();
    out.sort();
    Ok(out)
}

fn read_err(table: &str, msg: impl std::fmt::Display) -> SqlError {
    SqlError::new(
        ErrorKind::InvalidQuery,
        format!("Error while reading table: {table}, error message: {msg}"),
    )
}

/// Reads every file of a CSV external table.
pub fn read_csv_table(name: &str, t: &TableEntry, gcs_root: Option<&Path>) -> Result<Relation> {
    let mut files = Vec::new();
    for u in &t.uris {
        files.extend(expand_uri(u, gcs_root)?);
    }
    let mut declared: Vec<(String, DataType)> = Vec::new();
    for c in &t.columns {
        let ty = crate::parser::parse_data_type(&c.data_type)
            .map_err(|e| read_err(name, format!("bad column type {}: {e}", c.data_type)))?;
        declared.push((c.name.clone(), ty));
    }
    let mut header: Option<Vec<String>> = None;
    let mut raw: Vec<(String, u64, Vec<String>)> = Vec::new();
    for f in &files {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_path(f)
            .map_err(|e| read_err(name, format!("{}: {e}", f.display())))?;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| read_err(name, format!("{}: {e}", f.display())))?;
            let fields: Vec<String> = rec.iter().map(str::to_string).collect();
            if (i as u64) < t.skip_leading_rows {
                if i == 0 && header.is_none() {
                    header = Some(fields);
                }
                continue;
            }
            raw.push((f.display().to_string(), i as u64 + 1, fields));
        }
    }
    if declared.is_empty() {
        declared = detect_schema(header.as_deref(), &raw);
    }
    let mut rows = Vec::with_capacity(raw.len());
    for (file, line, fields) in raw {
        if fields.len() != declared.len() {
            return Err(read_err(
                name,
                format!(
                    "{file} line {line}: expected {} fields but found {}",
                    declared.len(),
                    fields.len()
                ),
            ));
        }
        let mut row = Vec::with_capacity(fields.len());
        for (pos, (f, (col, ty))) in fields.iter().zip(&declared).enumerate() {
            if f.is_empty() {
                row.push(Value::Null);
                continue;
            }
            let v = Value::String(f.clone()).cast(ty).map_err(|_| {
                read_err(
                    name,
                    format!(
                        "Could not parse '{f}' as {ty} for field {col} (position {pos}) in {file} line {line}"
                    ),
                )
            })?;
            row.push(v);
        }
        rows.push(row);
    }
    Ok(Relation {
        columns: declared
            .into_iter()
            .map(|(n, t)| ScopeColumn::new(n, Some(t)))
            .collect(),
        rows,
    })
}

/// Schema auto-detection: names from the header row (else `string_field_N`), each column
/// the narrowest of INT64, FLOAT64, BOOL, STRING that fits every value.
fn detect_schema(
    header: Option<&[String]>,
    raw: &[(String, u64, Vec<String>)],
) -> Vec<(String, DataType)> {
    let width = header
        .map(<[String]>::len)
        .or_else(|| raw.first().map(|r| r.2.len()))
        .unwrap_or(0);
    (0..width)
        .map(|i| {
            let name = header
                .and_then(|h| h.get(i))
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| format!("string_field_{i}"));
            let vals = raw
                .iter()
                .filter_map(|r| r.2.get(i))
                .filter(|v| !v.is_empty());
            let fits = |ty: &DataType| {
                vals.clone().next().is_some()
                    && vals
                        .clone()
                        .all(|v| Value::String(v.clone()).cast(ty).is_ok())
            };
            let ty = [DataType::Int64, DataType::Float64, DataType::Bool]
                .into_iter()
                .find(|t| fits(t))
                .unwrap_or(DataType::String);
            (name, ty)
        })
        .collect()
}
