//! Object tables (`SPEC-bigquery.md` §4): a live listing of the objects that match the
//! table's `uris`, with BigQuery's fixed schema. Only metadata is read when listing; the
//! `data` pseudo-column and `md5_hash` are [`LazyValue`]s read when a query uses them.
//!
//! URIs: `gs://BUCKET/OBJECT` lives at `GCS_ROOT/BUCKET/OBJECT`; `file://PATH` and plain
//! paths are local. One `*` per URI matches any run of characters, `/` included; object
//! names are compared as flat strings, as Cloud Storage does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::ast::DataType;
use crate::catalog::TableEntry;
use crate::error::{ErrorKind, Result, SqlError};
use crate::sources::ScopeColumn;
use crate::sources::{GcsRoot, Relation};
use crate::storage::{ObjectSource, RemoteStorage};
use crate::value::{LazyKind, LazyValue, Value};

/// One listed object.
#[derive(Clone, Debug, PartialEq)]
pub struct ObjectEntry {
    /// The object's uri in the form the table's `uris` used (`gs://…`, `file://…`, path).
    pub uri: String,
    /// Where its content is read from.
    pub source: ObjectSource,
    /// Size in bytes.
    pub size: u64,
    /// Last modification, microseconds since the epoch.
    pub updated_us: i64,
    /// The object's generation (a local file's is its modification time); `None` when
    /// the listing was asked not to fetch it.
    pub generation: Option<i64>,
    /// Base64 MD5 of the content when the store's metadata has it; otherwise it is
    /// computed from the content when a query reads `md5_hash`.
    pub md5_base64: Option<String>,
}

/// Where `gs://` objects live: a local directory (`--gcs-root`) or a remote store; with
/// neither, a `gs://` uri is an error.
#[derive(Clone, Copy, Debug, Default)]
pub struct GcsAccess<'a> {
    /// The local stand-in for Cloud Storage; it wins over `remote`.
    pub root: Option<&'a Path>,
    /// Cloud Storage over the network.
    pub remote: Option<&'a Arc<dyn RemoteStorage>>,
}

impl<'a> GcsAccess<'a> {
    /// `gs://` under a local root only.
    pub fn local(root: Option<&'a Path>) -> GcsAccess<'a> {
        GcsAccess { root, remote: None }
    }

    /// The remote store that serves `gs://` (none when a local root is configured).
    pub fn remote_store(&self) -> Option<&'a Arc<dyn RemoteStorage>> {
        match self.root {
            Some(_) => None,
            None => self.remote,
        }
    }
}

/// [`GcsAccess`] owned, for what outlives the borrow (a session, a table provider).
#[derive(Clone, Debug, Default)]
pub struct GcsConfig {
    /// The local stand-in for Cloud Storage; it wins over `remote`.
    pub root: Option<PathBuf>,
    /// Cloud Storage over the network.
    pub remote: Option<Arc<dyn RemoteStorage>>,
}

impl GcsConfig {
    /// The borrowed form.
    pub fn access(&self) -> GcsAccess<'_> {
        GcsAccess {
            root: self.root.as_deref(),
            remote: self.remote.as_ref(),
        }
    }
}

impl From<GcsAccess<'_>> for GcsConfig {
    fn from(gcs: GcsAccess<'_>) -> GcsConfig {
        GcsConfig {
            root: gcs.root.map(Path::to_path_buf),
            remote: gcs.remote.cloned(),
        }
    }
}

/// The object table schema, in BigQuery's column order, followed by the hidden `data`.
pub fn schema() -> Vec<ScopeColumn> {
    let s = |n: &str, t: DataType| ScopeColumn::new(n, Some(t));
    let string = || DataType::String;
    let mut cols = vec![
        s("uri", string()),
        s("generation", DataType::Int64),
        s("content_type", string()),
        s("size", DataType::Int64),
        s("md5_hash", string()),
        s("updated", DataType::Timestamp),
        s(
            "metadata",
            DataType::Array(Box::new(DataType::Struct(vec![
                (Some("name".into()), string()),
                (Some("value".into()), string()),
            ]))),
        ),
        s(
            "ref",
            DataType::Struct(vec![
                (Some("uri".into()), string()),
                (Some("version".into()), string()),
                (Some("authorizer".into()), string()),
                (Some("details".into()), string()),
            ]),
        ),
    ];
    let mut data = ScopeColumn::new("data", Some(DataType::Bytes));
    data.hidden = true;
    cols.push(data);
    cols
}

/// Index of `generation` in [`schema`].
pub const GENERATION_COLUMN: usize = 1;
/// Index of `ref` (which holds the generation as its `version`) in [`schema`].
pub const REF_COLUMN: usize = 7;

/// Lists the table's objects now (the listing is live: no cache) and builds its rows;
/// without `with_generation`, remote objects' `generation` (one metadata request per
/// object) is left NULL.
pub fn scan(
    name: &str,
    table: &TableEntry,
    gcs: GcsAccess<'_>,
    with_generation: bool,
) -> Result<Relation> {
    let objects = list_objects(name, &table.uris, gcs, with_generation)?;
    let rows = objects
        .into_iter()
        .map(|o| row(o, table.connection.as_deref()))
        .collect();
    Ok(Relation {
        columns: schema(),
        rows,
    })
}

fn row(o: ObjectEntry, connection: Option<&str>) -> Vec<Value> {
    let content_type = content_type(&o.uri);
    let lazy = |kind| {
        Value::Lazy(Arc::new(LazyValue {
            uri: o.uri.clone(),
            source: o.source.clone(),
            size: o.size,
            kind,
        }))
    };
    let generation = o.generation.map_or(Value::Null, Value::Int64);
    let version = o
        .generation
        .map_or(Value::Null, |g| Value::String(g.to_string()));
    let md5 = match &o.md5_base64 {
        Some(m) => Value::String(m.clone()),
        None => lazy(LazyKind::Md5),
    };
    let details = serde_json::json!({
        "gcs_metadata": { "content_type": content_type, "size": o.size }
    });
    let reference = Value::Struct(vec![
        ("uri".into(), Value::String(o.uri.clone())),
        ("version".into(), version),
        (
            "authorizer".into(),
            connection.map_or(Value::Null, |c| Value::String(c.to_string())),
        ),
        ("details".into(), Value::String(details.to_string())),
    ]);
    vec![
        Value::String(o.uri.clone()),
        generation,
        Value::String(content_type.into()),
        Value::Int64(o.size as i64),
        md5,
        Value::Timestamp(o.updated_us),
        Value::Array(vec![]),
        reference,
        lazy(LazyKind::Bytes),
    ]
}

/// The Content-Type Cloud Storage clients assign on upload, from the name's extension.
pub fn content_type(uri: &str) -> &'static str {
    let ext = uri
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" | "jpe" => "image/jpeg",
        "png" => "image/png",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "tif" | "tiff" => "image/tiff",
        "csv" => "text/csv",
        "txt" => "text/plain",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "onnx" => "application/octet-stream",
        _ => "application/octet-stream",
    }
}

fn not_found(table: &str, what: String) -> SqlError {
    SqlError::new(
        ErrorKind::NotFound,
        format!("Error while reading table: {table}, error message: Not found: {what}"),
    )
}

/// Where a URI pattern's objects live: a directory to walk and how a file's path there
/// maps back to a uri.
struct Root {
    /// Directory whose files are the candidate objects.
    dir: PathBuf,
    /// Uri prefix of an object at `dir` (`gs://bucket/`, `file:///dir/`, `dir/`).
    uri_prefix: String,
    /// The Cloud Storage root every object must resolve inside (`gs://` uris).
    confine: Option<GcsRoot>,
}

/// Lists the objects matching any of `uris`, sorted by uri, without duplicates.
pub fn list_objects(
    table: &str,
    uris: &[String],
    gcs: GcsAccess<'_>,
    with_generation: bool,
) -> Result<Vec<ObjectEntry>> {
    let mut out = Vec::new();
    for uri in uris {
        if uri.matches('*').count() > 1 {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Invalid uri {uri}: only one * wildcard is allowed in each path"),
            ));
        }
        if let (true, Some(store)) = (uri.starts_with("gs://"), gcs.remote_store()) {
            out.extend(list_remote(table, uri, store, with_generation)?);
            continue;
        }
        let (root, pattern) = root_of(table, uri, gcs.root)?;
        match pattern.split_once('*') {
            None => {
                let path = root.dir.join(&pattern);
                if let Some(gcs) = &root.confine {
                    gcs.confine(&path)?;
                }
                match entry(format!("{}{pattern}", root.uri_prefix), &path) {
                    Some(e) => out.push(e),
                    None => return Err(not_found(table, uri.clone())),
                }
            }
            Some((pre, post)) => {
                // Walk only below the deepest directory the prefix names.
                let start = pre.rfind('/').map_or("", |i| &pre[..=i]);
                let mut files = Vec::new();
                walk(
                    &root.dir.join(start),
                    start,
                    root.confine.as_ref(),
                    &mut files,
                )?;
                for (name, path) in files {
                    if name.len() >= pre.len() + post.len()
                        && name.starts_with(pre)
                        && name.ends_with(post)
                    {
                        if let Some(e) = entry(format!("{}{name}", root.uri_prefix), &path) {
                            out.push(e);
                        }
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| a.uri.cmp(&b.uri));
    out.dedup_by(|a, b| a.uri == b.uri);
    Ok(out)
}

/// Splits a uri into its root (checked to exist) and the object pattern below it.
fn root_of(table: &str, uri: &str, gcs_root: Option<&Path>) -> Result<(Root, String)> {
    if let Some(rest) = uri.strip_prefix("gs://") {
        let gcs = GcsRoot::new(uri, gcs_root)?;
        let (bucket, object) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty()
            || bucket.contains('*')
            || rest.split('/').any(|p| p == "..")
            || object.is_empty()
        {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Invalid Cloud Storage URI: {uri}; expected gs://BUCKET/OBJECT"),
            ));
        }
        let dir = gcs.join(bucket);
        gcs.confine(&dir)?;
        if !dir.is_dir() {
            return Err(not_found(table, format!("bucket gs://{bucket} ({uri})")));
        }
        return Ok((
            Root {
                dir,
                uri_prefix: format!("gs://{bucket}/"),
                confine: Some(gcs),
            },
            object.to_string(),
        ));
    }
    let (scheme, path) = match uri.strip_prefix("file://") {
        Some(p) => ("file://", p),
        None if uri.contains("://") => {
            return Err(SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Unsupported URI scheme: {uri}; use gs://, file:// or a local path"),
            ))
        }
        None => ("", uri),
    };
    // The root is the directory part before any wildcard.
    let fixed = path.split('*').next().unwrap_or("");
    let cut = fixed.rfind('/').map_or(0, |i| i + 1);
    let (dir_part, pattern) = path.split_at(cut);
    let dir = if dir_part.is_empty() {
        PathBuf::from(".")
    } else {
        PathBuf::from(dir_part)
    };
    if !dir.is_dir() {
        return Err(not_found(table, format!("{uri} (no directory {dir_part})")));
    }
    Ok((
        Root {
            dir,
            uri_prefix: format!("{scheme}{dir_part}"),
            confine: None,
        },
        pattern.to_string(),
    ))
}

/// Collects `(name_prefix + path relative to dir, path)` for every file below `dir`, in
/// name order. Directory symlinks are followed, but each real directory is entered once
/// (the first name reaching it wins), so symlink loops end. With `confine`, every file
/// and directory must resolve inside that Cloud Storage root.
pub(crate) fn walk(
    dir: &Path,
    name_prefix: &str,
    confine: Option<&GcsRoot>,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<()> {
    let mut visited = HashSet::new();
    if let Ok(c) = dir.canonicalize() {
        visited.insert(c);
    }
    walk_dir(dir, name_prefix, confine, &mut visited, out)
}

fn walk_dir(
    dir: &Path,
    name_prefix: &str,
    confine: Option<&GcsRoot>,
    visited: &mut HashSet<PathBuf>,
    out: &mut Vec<(String, PathBuf)>,
) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let mut entries: Vec<_> = entries
        .flatten()
        .map(|e| (e.file_name(), e.path()))
        .collect();
    entries.sort();
    for (file_name, path) in entries {
        let name = format!("{name_prefix}{}", file_name.to_string_lossy());
        if let Some(root) = confine {
            root.confine(&path)?;
        }
        if path.is_dir() {
            let Ok(real) = path.canonicalize() else {
                continue;
            };
            if visited.insert(real) {
                walk_dir(&path, &format!("{name}/"), confine, visited, out)?;
            }
        } else {
            out.push((name, path));
        }
    }
    Ok(())
}

fn entry(uri: String, path: &Path) -> Option<ObjectEntry> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    let modified_us = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_micros() as i64);
    Some(ObjectEntry {
        uri,
        source: ObjectSource::Local(path.to_path_buf()),
        size: meta.len(),
        updated_us: modified_us,
        generation: Some(modified_us),
        md5_base64: None,
    })
}

/// The objects of a remote store matching `uri`; their generations fetched (one
/// metadata request per object, several at once) when asked.
fn list_remote(
    table: &str,
    uri: &str,
    store: &Arc<dyn RemoteStorage>,
    with_generation: bool,
) -> Result<Vec<ObjectEntry>> {
    let (bucket, pattern) = crate::storage::split_gs_uri(uri)?;
    let mut found = crate::storage::list_matching(store.as_ref(), bucket, pattern)?;
    if found.is_empty() && !pattern.contains('*') {
        return Err(not_found(table, uri.to_string()));
    }
    if with_generation {
        let names: Vec<String> = found
            .iter()
            .filter(|o| o.generation.is_none())
            .map(|o| o.name.clone())
            .collect();
        let heads = store.head_many(bucket, &names)?;
        let pending = found.iter_mut().filter(|o| o.generation.is_none());
        // An object deleted since it was listed keeps a NULL generation.
        for (o, head) in pending.zip(heads) {
            if let Some(h) = head {
                *o = h;
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|o| ObjectEntry {
            uri: format!("gs://{bucket}/{}", o.name),
            source: ObjectSource::Remote {
                store: Arc::clone(store),
                bucket: bucket.to_string(),
                name: o.name,
            },
            size: o.size,
            updated_us: o.updated_us,
            generation: o.generation,
            md5_base64: o.md5_base64,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[ObjectEntry]) -> Vec<&str> {
        v.iter().map(|o| o.uri.as_str()).collect()
    }

    #[test]
    fn wildcards_over_buckets_and_paths() {
        let root = tempfile::tempdir().unwrap();
        let b = root.path().join("imgs");
        std::fs::create_dir_all(b.join("sub")).unwrap();
        for f in ["a.jpg", "b.png", "sub/c.jpg"] {
            std::fs::write(b.join(f), b"x").unwrap();
        }
        let list = |u: &str| {
            list_objects(
                "ds.t",
                &[u.to_string()],
                GcsAccess::local(Some(root.path())),
                true,
            )
        };
        assert_eq!(
            names(&list("gs://imgs/*").unwrap()),
            ["gs://imgs/a.jpg", "gs://imgs/b.png", "gs://imgs/sub/c.jpg"]
        );
        assert_eq!(
            names(&list("gs://imgs/*.jpg").unwrap()),
            ["gs://imgs/a.jpg", "gs://imgs/sub/c.jpg"],
            "* crosses /"
        );
        assert_eq!(
            names(&list("gs://imgs/sub/*").unwrap()),
            ["gs://imgs/sub/c.jpg"]
        );
        assert!(list("gs://imgs/none*").unwrap().is_empty());
        let local = format!("file://{}/*.png", b.display());
        assert_eq!(
            names(&list(&local).unwrap()),
            [format!("file://{}/b.png", b.display())]
        );
        let e = list("gs://nobucket/*").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error while reading table: ds.t, error message: Not found: bucket gs://nobucket (gs://nobucket/*)"
        );
        let e = list("gs://imgs/missing.jpg").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Error while reading table: ds.t, error message: Not found: gs://imgs/missing.jpg"
        );
        let e = list("gs://imgs/*/*.jpg").unwrap_err();
        assert!(e.to_string().contains("only one * wildcard"), "{e}");
        // Two patterns matching the same object list it once.
        let both = list_objects(
            "ds.t",
            &["gs://imgs/a.jpg".into(), "gs://imgs/*.jpg".into()],
            GcsAccess::local(Some(root.path())),
            true,
        )
        .unwrap();
        assert_eq!(names(&both), ["gs://imgs/a.jpg", "gs://imgs/sub/c.jpg"]);
    }

    #[test]
    fn rows_read_nothing_until_asked() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("b")).unwrap();
        std::fs::write(root.path().join("b/x.jpg"), b"hello").unwrap();
        let t = TableEntry {
            created_ms: 0,
            kind: crate::catalog::TableKind::Object,
            columns: vec![],
            uris: vec!["gs://b/*".into()],
            connection: Some("us.conn".into()),
            skip_leading_rows: 0,
            max_staleness: None,
            metadata_cache_mode: None,
            description: None,
            files: vec![],
        };
        let rel = scan("ds.t", &t, GcsAccess::local(Some(root.path())), true).unwrap();
        assert_eq!(rel.rows.len(), 1);
        let r = &rel.rows[0];
        assert_eq!(r[0], Value::String("gs://b/x.jpg".into()));
        assert_eq!(r[2], Value::String("image/jpeg".into()));
        assert_eq!(r[3], Value::Int64(5));
        assert!(matches!(r[4], Value::Lazy(_)) && matches!(r[8], Value::Lazy(_)));
        // md5("hello") in base64, as Cloud Storage reports it.
        assert_eq!(
            r[4].clone().forced().unwrap(),
            Value::String("XUFAKrxLKna5cZ2REBfFkg==".into())
        );
        assert_eq!(
            r[8].clone().forced().unwrap(),
            Value::Bytes(b"hello".to_vec())
        );
        assert!(rel.columns[8].hidden && rel.columns[8].name == "data");
    }
}
