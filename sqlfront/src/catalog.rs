//! The persisted catalog: datasets, their models (with a private copy of the ONNX file)
//! and their tables, stored under one data directory.
//!
//! Layout: `catalog.json` (the whole catalog), `models/*.onnx` (model copies),
//! `models/*.so` (their compiled libraries), `tables/*.parquet` (the rows of tables made
//! by CREATE TABLE and INSERT), `staging/` (models and table files being written), `LOCK`.
//! Permissions: the data directory and its subdirectories are created with mode 0700,
//! and every file the catalog writes (catalog, model copies, libraries, lock files)
//! has mode 0600, whatever the process umask: catalogs and models are private to
//! their owner, and nobody else can tamper with them.
//! Invariants:
//! - every file is written to a temporary or staging name, fsynced, renamed into place, and
//!   the directory fsynced, so a crash leaves either the old or the new file;
//! - `catalog.json` is the only source of truth: a model file becomes part of the state
//!   only when a committed `catalog.json` names it, and unreferenced files are removed
//!   by the next committed update (an INSERT adds a file to its table's list, so a
//!   crash before the commit loses no committed row and adds none);
//! - writers hold an exclusive lock on `LOCK` for the whole read-modify-write, so
//!   concurrent processes serialize; readers need no lock because renames are atomic;
//! - slow work (compiling a model, running the query of CREATE TABLE … AS or INSERT)
//!   happens before that lock is taken, in `staging/` ([`Catalog::stage_model`],
//!   [`Catalog::stage_table_file`]); staging holds a shared lock on `staging/LOCK`, and an
//!   update empties `staging/` only when it can lock that file exclusively, i.e. when no
//!   process is staging, so it removes only files left by a crash.

use crate::error::{ErrorKind, Result, SqlError};
use crate::model_import::{CompiledArtifact, ModelMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "BQMLC_DATA_DIR";

const CATALOG_FILE: &str = "catalog.json";
const MODELS_DIR: &str = "models";
const TABLES_DIR: &str = "tables";
const STAGING_DIR: &str = "staging";
const LOCK_FILE: &str = "LOCK";
const FORMAT_VERSION: u32 = 1;
/// Mode of every file the catalog writes.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every directory the catalog creates.
pub const DIR_MODE: u32 = 0o700;

/// Creates `dir` and its missing parents with [`DIR_MODE`].
fn create_dirs(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// The data directory: `$BQMLC_DATA_DIR`, else `$XDG_DATA_HOME/bqmlc`, else
/// `~/.local/share/bqmlc`, else `./.bqmlc`.
pub fn default_data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(x).join("bqmlc");
    }
    match std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        Some(h) => PathBuf::from(h).join(".local/share/bqmlc"),
        None => PathBuf::from(".bqmlc"),
    }
}

/// The whole catalog as stored in `catalog.json`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogState {
    /// Format version of the file.
    pub version: u32,
    /// Datasets by name (names are case-sensitive).
    pub datasets: BTreeMap<String, Dataset>,
}

/// A dataset (schema).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// `description` option.
    pub description: Option<String>,
    /// `location` option.
    pub location: Option<String>,
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Tables by name.
    pub tables: BTreeMap<String, TableEntry>,
    /// Models by name.
    pub models: BTreeMap<String, ModelEntry>,
}

/// An imported model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// `MODEL_PATH` as written.
    pub model_path: String,
    /// The private copy, relative to the data directory.
    pub file: String,
    /// Size of the ONNX file in bytes.
    pub size: u64,
    /// `KMS_KEY_NAME`, recorded only.
    pub kms_key_name: Option<String>,
    /// The decoded interface.
    pub meta: ModelMeta,
    /// The compiled library (absent in catalogs written before ahead-of-time compilation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiled: Option<CompiledArtifact>,
}

/// What kind of external table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TableKind {
    /// An object table (`object_metadata = 'SIMPLE'`).
    Object,
    /// A CSV external table.
    Csv,
    /// A Parquet external table.
    Parquet,
    /// A newline-delimited JSON external table.
    Json,
    /// A table stored in the data directory (`files`), made by CREATE TABLE.
    Native,
}

/// A column of a table schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnSchema {
    /// Column name.
    pub name: String,
    /// Type, in SQL syntax (`INT64`, `ARRAY<STRING>`, …).
    pub data_type: String,
}

/// An external table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    /// Creation time, milliseconds since the epoch.
    pub created_ms: i64,
    /// Object or CSV table.
    pub kind: TableKind,
    /// Declared columns (empty for a CSV table whose schema is detected when read).
    pub columns: Vec<ColumnSchema>,
    /// `uris` option.
    pub uris: Vec<String>,
    /// `WITH CONNECTION` name, `DEFAULT`, or none.
    pub connection: Option<String>,
    /// `skip_leading_rows` (CSV).
    pub skip_leading_rows: u64,
    /// `max_staleness`, as SQL text.
    pub max_staleness: Option<String>,
    /// `metadata_cache_mode`.
    pub metadata_cache_mode: Option<String>,
    /// `description` option.
    pub description: Option<String>,
    /// The Parquet files holding a native table's rows, relative to the data directory,
    /// in insertion order; the first one (possibly without rows) fixes the schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A handle on a data directory.
#[derive(Clone, Debug)]
pub struct Catalog {
    dir: PathBuf,
}

/// Lets an update write model and table files that the same update then references.
pub struct DataFiles<'a> {
    dir: &'a Path,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", unique_suffix()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&tmp)
            .map_err(|e| SqlError::io(tmp.display(), e))?;
        f.write_all(bytes)
            .map_err(|e| SqlError::io(tmp.display(), e))?;
        f.sync_all().map_err(|e| SqlError::io(tmp.display(), e))?;
        fs::rename(&tmp, path).map_err(|e| SqlError::io(path.display(), e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| SqlError::io(dir.display(), e))
}

impl DataFiles<'_> {
    /// Stores a model copy durably and returns its path relative to the data directory.
    pub fn store(&self, bytes: &[u8]) -> Result<String> {
        let rel = format!("{MODELS_DIR}/{}.onnx", unique_suffix());
        write_atomic(&self.dir.join(&rel), bytes)?;
        Ok(rel)
    }

    /// Moves a staged model copy (and its library) into the models directory, durably,
    /// and returns the copy's path relative to the data directory and the library's
    /// record, for the entry this update writes.
    pub fn commit(&self, mut staged: StagedModel) -> Result<(String, Option<CompiledArtifact>)> {
        let rel = format!("{MODELS_DIR}/{}.onnx", staged.id);
        let dest = self.dir.join(&rel);
        fs::rename(&staged.onnx, &dest).map_err(|e| SqlError::io(dest.display(), e))?;
        if let Some(c) = &staged.compiled {
            let dest = self.dir.join(&c.file);
            fs::rename(&staged.library, &dest).map_err(|e| SqlError::io(dest.display(), e))?;
        }
        sync_dir(&self.dir.join(MODELS_DIR))?;
        Ok((rel, staged.compiled.take()))
    }

    /// Moves a staged table file into the tables directory, durably, and returns its path
    /// relative to the data directory, for the entry this update writes.
    pub fn commit_table_file(&self, staged: StagedFile) -> Result<String> {
        let tables = self.dir.join(TABLES_DIR);
        create_dirs(&tables).map_err(|e| SqlError::io(tables.display(), e))?;
        let rel = format!("{TABLES_DIR}/{}.parquet", staged.id);
        let dest = self.dir.join(&rel);
        fs::rename(&staged.path, &dest).map_err(|e| SqlError::io(dest.display(), e))?;
        sync_dir(&tables)?;
        Ok(rel)
    }
}

/// A table file in `staging/`, written outside the catalog lock and waiting for
/// [`DataFiles::commit_table_file`]. Dropping it removes it if it is still staged.
pub struct StagedFile {
    id: String,
    path: PathBuf,
    /// The shared lock on `staging/LOCK` that keeps updates from sweeping the file.
    _lock: File,
}

impl StagedFile {
    /// Where the file is while staged.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A model copy and its compiled library in `staging/`, written outside the catalog lock
/// and waiting for [`DataFiles::commit`]. Dropping it removes whatever is still staged.
pub struct StagedModel {
    id: String,
    onnx: PathBuf,
    library: PathBuf,
    compiled: Option<CompiledArtifact>,
    /// The shared lock on `staging/LOCK` that keeps updates from sweeping these files.
    _lock: File,
}

impl Drop for StagedModel {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.onnx);
        let _ = fs::remove_file(&self.library);
    }
}

fn open_lock(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| SqlError::io(path.display(), e))
}

impl Catalog {
    /// Opens (creating if needed) the data directory `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Catalog> {
        let dir = dir.into();
        create_dirs(&dir.join(MODELS_DIR)).map_err(|e| {
            SqlError::io(format!("cannot create data directory {}", dir.display()), e)
        })?;
        Ok(Catalog { dir })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a model's stored copy, as recorded (unchecked: queries use
    /// [`data_file`]).
    pub fn model_file(&self, entry: &ModelEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    /// Stages a model for CREATE MODEL without taking the catalog lock: runs `compile`
    /// with the path its library is to be written to and the name the library will have
    /// once committed (relative to the data directory), then writes the ONNX copy;
    /// `compile` returns the library's record, or `None` when it wrote no library. Both
    /// files are fsynced. On error nothing stays behind.
    pub fn stage_model(
        &self,
        bytes: &[u8],
        compile: impl FnOnce(&Path, String) -> Result<Option<CompiledArtifact>>,
    ) -> Result<StagedModel> {
        let (staging, lock) = self.staging()?;
        let id = unique_suffix();
        let mut staged = StagedModel {
            onnx: staging.join(format!("{id}.onnx")),
            library: staging.join(format!("{id}.so")),
            id,
            compiled: None,
            _lock: lock,
        };
        staged.compiled = compile(&staged.library, format!("{MODELS_DIR}/{}.so", staged.id))?;
        if staged.compiled.is_some() {
            // The linker gave it the umask's mode.
            fs::set_permissions(&staged.library, fs::Permissions::from_mode(FILE_MODE))
                .and_then(|()| File::open(&staged.library))
                .and_then(|f| f.sync_all())
                .map_err(|e| SqlError::io(staged.library.display(), e))?;
        }
        let path = &staged.onnx;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(path)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .map_err(|e| SqlError::io(path.display(), e))?;
        sync_dir(&staging)?;
        Ok(staged)
    }

    /// The staging directory, created if needed, and a shared lock on its `LOCK` that
    /// keeps updates from sweeping what the holder stages.
    fn staging(&self) -> Result<(PathBuf, File)> {
        let staging = self.dir.join(STAGING_DIR);
        create_dirs(&staging).map_err(|e| SqlError::io(staging.display(), e))?;
        let lock_path = staging.join(LOCK_FILE);
        let lock = open_lock(&lock_path)?;
        lock.lock_shared()
            .map_err(|e| SqlError::io(lock_path.display(), e))?;
        Ok((staging, lock))
    }

    /// Stages a table file: `write` fills a new file in `staging/`, which is then fsynced.
    /// On error nothing stays behind.
    pub fn stage_table_file<T>(
        &self,
        write: impl FnOnce(File) -> Result<T>,
    ) -> Result<(StagedFile, T)> {
        let (staging, lock) = self.staging()?;
        let id = unique_suffix();
        let staged = StagedFile {
            path: staging.join(format!("{id}.parquet")),
            id,
            _lock: lock,
        };
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&staged.path)
            .map_err(|e| SqlError::io(staged.path.display(), e))?;
        let out = write(
            file.try_clone()
                .map_err(|e| SqlError::io(staged.path.display(), e))?,
        )?;
        file.sync_all()
            .map_err(|e| SqlError::io(staged.path.display(), e))?;
        sync_dir(&staging)?;
        Ok((staged, out))
    }

    /// Reads the current committed state.
    pub fn snapshot(&self) -> Result<CatalogState> {
        let path = self.dir.join(CATALOG_FILE);
        if let Err(e) = fs::symlink_metadata(&path) {
            if e.kind() == std::io::ErrorKind::NotFound {
                return Ok(CatalogState {
                    version: FORMAT_VERSION,
                    ..Default::default()
                });
            }
        }
        match runtime::limits::read_file(&path, runtime::limits::MAX_CATALOG_BYTES) {
            Ok(bytes) => {
                let state: CatalogState = serde_json::from_slice(&bytes).map_err(|e| {
                    SqlError::new(
                        ErrorKind::Io,
                        format!("catalog file {} is unreadable: {e}", path.display()),
                    )
                })?;
                if state.version > FORMAT_VERSION {
                    return Err(SqlError::new(
                        ErrorKind::Io,
                        format!(
                            "catalog file {} has format version {}, newer than this bqmlc ({FORMAT_VERSION})",
                            path.display(),
                            state.version
                        ),
                    ));
                }
                Ok(state)
            }
            Err(e) => Err(SqlError::new(
                ErrorKind::Io,
                format!("cannot read catalog file {}: {e}", path.display()),
            )),
        }
    }

    /// Runs a read-modify-write under the directory lock. When `f` fails nothing is
    /// written; when it succeeds the new state is committed atomically and model files
    /// no longer referenced are deleted.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut CatalogState, &DataFiles<'_>) -> Result<T>,
    ) -> Result<T> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = open_lock(&lock_path)?;
        lock.lock()
            .map_err(|e| SqlError::io(lock_path.display(), e))?;
        let mut state = self.snapshot()?;
        let before = state.clone();
        let files = DataFiles { dir: &self.dir };
        let out = match f(&mut state, &files) {
            Ok(v) => v,
            Err(e) => {
                self.collect_garbage(&before);
                return Err(e);
            }
        };
        if state != before {
            state.version = FORMAT_VERSION;
            let json = serde_json::to_vec_pretty(&state)
                .map_err(|e| SqlError::new(ErrorKind::Io, format!("cannot encode catalog: {e}")))?;
            write_atomic(&self.dir.join(CATALOG_FILE), &json)?;
        }
        self.collect_garbage(&state);
        drop(lock);
        Ok(out)
    }

    /// Removes model and table files and temporaries that `state` does not reference,
    /// and staged files when no process is staging. Runs under the lock, so no other
    /// writer has uncommitted files outside `staging/`.
    fn collect_garbage(&self, state: &CatalogState) {
        self.sweep_staging();
        let models = state.datasets.values().flat_map(|d| d.models.values());
        let tables = state.datasets.values().flat_map(|d| d.tables.values());
        let referenced: std::collections::HashSet<&str> = models
            .flat_map(|m| {
                std::iter::once(m.file.as_str()).chain(m.compiled.iter().map(|c| c.file.as_str()))
            })
            .chain(tables.flat_map(|t| t.files.iter().map(String::as_str)))
            .collect();
        for dir in [MODELS_DIR, TABLES_DIR] {
            let Ok(entries) = fs::read_dir(self.dir.join(dir)) else {
                continue;
            };
            for e in entries.flatten() {
                let rel = format!("{dir}/{}", e.file_name().to_string_lossy());
                if !referenced.contains(rel.as_str()) {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(".catalog.json.tmp.")
                {
                    let _ = fs::remove_file(e.path());
                }
            }
        }
    }

    /// Empties `staging/` of files left by processes that died while staging, if no
    /// process is staging now (each holds a shared lock on `staging/LOCK`).
    fn sweep_staging(&self) {
        let staging = self.dir.join(STAGING_DIR);
        if !staging.is_dir() {
            return;
        }
        let Ok(lock) = open_lock(&staging.join(LOCK_FILE)) else {
            return;
        };
        if lock.try_lock().is_err() {
            return;
        }
        let Ok(entries) = fs::read_dir(&staging) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name() != LOCK_FILE {
                let _ = fs::remove_file(e.path());
            }
        }
    }
}

/// The path of a file the catalog records for `owner` (`"Model ds.m"`, `"Table ds.t"`;
/// `rel`, relative to `data_dir`),
/// checked to stay inside the data directory: `rel` must be a relative path of plain
/// names (no `..`, no root), and when the file exists it must resolve, symlinks followed,
/// inside the data directory. A tampered `catalog.json` thus cannot make a query read or
/// load a file elsewhere.
pub fn data_file(data_dir: &Path, owner: &str, rel: &str) -> Result<PathBuf> {
    use std::path::Component;
    let outside = |why: String| {
        SqlError::new(
            ErrorKind::Io,
            format!(
                "{owner}: the catalog's file {rel} {why}, outside the data directory {}",
                data_dir.display()
            ),
        )
    };
    let rel_path = Path::new(rel);
    if rel.is_empty()
        || !rel_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(outside("is not a plain relative path".into()));
    }
    let path = data_dir.join(rel_path);
    if let Ok(real) = path.canonicalize() {
        let root = data_dir
            .canonicalize()
            .map_err(|e| SqlError::io(data_dir.display(), e))?;
        if !real.starts_with(&root) {
            return Err(outside(format!("resolves to {}", real.display())));
        }
    }
    Ok(path)
}

/// `Not found: Dataset ds`
pub fn dataset_not_found(ds: &str) -> SqlError {
    SqlError::new(ErrorKind::NotFound, format!("Not found: Dataset {ds}"))
}

impl CatalogState {
    /// The dataset `ds`, or BigQuery's not-found error.
    pub fn dataset(&self, ds: &str) -> Result<&Dataset> {
        self.datasets.get(ds).ok_or_else(|| dataset_not_found(ds))
    }

    /// Mutable access to dataset `ds`, or BigQuery's not-found error.
    pub fn dataset_mut(&mut self, ds: &str) -> Result<&mut Dataset> {
        self.datasets
            .get_mut(ds)
            .ok_or_else(|| dataset_not_found(ds))
    }

    /// The model `ds.name`, or `Not found: Model ds.name`.
    pub fn model(&self, ds: &str, name: &str) -> Result<&ModelEntry> {
        self.dataset(ds)?.models.get(name).ok_or_else(|| {
            SqlError::new(ErrorKind::NotFound, format!("Not found: Model {ds}.{name}"))
        })
    }

    /// The table `ds.name`, or `Not found: Table ds.name`.
    pub fn table(&self, ds: &str, name: &str) -> Result<&TableEntry> {
        self.dataset(ds)?.tables.get(name).ok_or_else(|| {
            SqlError::new(ErrorKind::NotFound, format!("Not found: Table {ds}.{name}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_commits_and_failed_update_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = Catalog::open(tmp.path()).unwrap();
        assert!(cat.snapshot().unwrap().datasets.is_empty());
        cat.update(|s, files| {
            let file = files.store(b"onnx bytes")?;
            let ds = s.datasets.entry("ds".into()).or_default();
            ds.models.insert("m".into(), entry(file, None));
            Ok(())
        })
        .unwrap();
        let snap = cat.snapshot().unwrap();
        let m = snap.model("ds", "m").unwrap();
        assert_eq!(fs::read(cat.model_file(m)).unwrap(), b"onnx bytes");

        let err = cat
            .update(|s, files| -> Result<()> {
                files.store(b"orphan")?;
                s.datasets.clear();
                Err(SqlError::new(ErrorKind::InvalidQuery, "boom"))
            })
            .unwrap_err();
        assert_eq!(err.message, "boom");
        assert_eq!(cat.snapshot().unwrap(), snap);
        // The orphan written by the failed update is gone; the committed file stays.
        let files: Vec<_> = fs::read_dir(tmp.path().join(MODELS_DIR)).unwrap().collect();
        assert_eq!(files.len(), 1);

        cat.update(|s, _| {
            s.datasets.clear();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            fs::read_dir(tmp.path().join(MODELS_DIR)).unwrap().count(),
            0
        );
        assert_eq!(
            cat.snapshot()
                .unwrap()
                .model("ds", "m")
                .unwrap_err()
                .message,
            "Not found: Dataset ds"
        );
    }

    #[test]
    fn data_files_stay_inside_the_data_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        fs::create_dir_all(data.join("models")).unwrap();
        fs::write(tmp.path().join("secret"), b"s").unwrap();
        assert_eq!(
            data_file(&data, "Model ds.m", "models/a.onnx").unwrap(),
            data.join("models/a.onnx")
        );
        for bad in ["/etc/passwd", "../secret", "models/../../secret", ""] {
            let e = data_file(&data, "Model ds.m", bad).unwrap_err();
            assert_eq!(
                e.message,
                format!(
                    "Model ds.m: the catalog's file {bad} is not a plain relative path, outside the data directory {}",
                    data.display()
                )
            );
        }
        std::os::unix::fs::symlink("../../secret", data.join("models/l.onnx")).unwrap();
        let e = data_file(&data, "Model ds.m", "models/l.onnx").unwrap_err();
        assert!(e.message.contains("models/l.onnx resolves to"), "{e}");
    }

    fn artifact(file: String) -> CompiledArtifact {
        CompiledArtifact {
            file,
            sha256: String::new(),
            library_sha256: String::new(),
            input_shapes: vec![],
            cpu_features: String::new(),
            compile_ms: 0,
            size: 3,
            conv_algo: "auto".into(),
            kernels: BTreeMap::new(),
            isa: String::new(),
        }
    }

    fn entry(file: String, compiled: Option<CompiledArtifact>) -> ModelEntry {
        ModelEntry {
            created_ms: 1,
            model_path: "x".into(),
            file,
            size: 10,
            kms_key_name: None,
            meta: crate::model_import::read_interface(&crate::model_import::tests::resnet_like())
                .unwrap(),
            compiled,
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn staged_models_survive_other_updates_until_committed_or_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = Catalog::open(tmp.path()).unwrap();
        let staging = tmp.path().join(STAGING_DIR);
        let stage = || {
            cat.stage_model(b"onnx bytes", |dest, file| {
                fs::write(dest, b"lib").unwrap();
                Ok(Some(artifact(file)))
            })
            .unwrap()
        };
        let staged = stage();
        assert_eq!(names(&staging).len(), 3, "LOCK, the copy and the library");
        // Another writer's update leaves files that are being staged alone.
        cat.update(|s, _| {
            s.datasets.entry("ds".into()).or_default();
            Ok(())
        })
        .unwrap();
        assert_eq!(names(&staging).len(), 3);
        cat.update(|s, files| {
            let (file, compiled) = files.commit(staged)?;
            let d = s.dataset_mut("ds")?;
            d.models.insert("m".into(), entry(file, compiled));
            Ok(())
        })
        .unwrap();
        assert_eq!(names(&staging), vec![LOCK_FILE]);
        let snap = cat.snapshot().unwrap();
        let m = snap.model("ds", "m").unwrap();
        assert_eq!(fs::read(cat.model_file(m)).unwrap(), b"onnx bytes");
        let lib = m.compiled.as_ref().unwrap();
        assert_eq!(fs::read(tmp.path().join(&lib.file)).unwrap(), b"lib");
        assert_eq!(names(&tmp.path().join(MODELS_DIR)).len(), 2);

        // Staged but not committed (the name was taken meanwhile): nothing stays behind.
        let staged = stage();
        let err = cat
            .update(|_, _| -> Result<()> {
                drop(staged);
                Err(SqlError::new(ErrorKind::AlreadyExists, "taken"))
            })
            .unwrap_err();
        assert_eq!(err.message, "taken");
        assert_eq!(names(&staging), vec![LOCK_FILE]);
        assert_eq!(names(&tmp.path().join(MODELS_DIR)).len(), 2);

        // A failed compile writes nothing.
        let err = cat
            .stage_model(b"onnx bytes", |_, _| {
                Err(SqlError::new(ErrorKind::InvalidQuery, "no"))
            })
            .err()
            .unwrap();
        assert_eq!(err.message, "no");
        assert_eq!(names(&staging), vec![LOCK_FILE]);
    }

    #[test]
    fn files_left_in_staging_by_a_crash_are_removed_by_the_next_update() {
        let tmp = tempfile::tempdir().unwrap();
        let cat = Catalog::open(tmp.path()).unwrap();
        let staging = tmp.path().join(STAGING_DIR);
        fs::create_dir_all(&staging).unwrap();
        for f in ["1.onnx", "1.so", ".1.so.tmp42"] {
            fs::write(staging.join(f), b"left over").unwrap();
        }
        cat.update(|_, _| Ok(())).unwrap();
        assert_eq!(names(&staging), vec![LOCK_FILE]);
    }

    #[test]
    fn catalogs_from_before_compile_options_were_recorded_still_load() {
        let old = r#"{"file": "models/a.so", "sha256": "00", "input_shapes": [[1, 3]],
            "cpu_features": "avx2", "compile_ms": 5, "size": 7}"#;
        let c: CompiledArtifact = serde_json::from_str(old).unwrap();
        assert_eq!(c.conv_algo, "auto");
        assert!(c.kernels.is_empty());
    }

    #[test]
    fn corrupt_catalog_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(CATALOG_FILE), b"{not json").unwrap();
        let cat = Catalog::open(tmp.path()).unwrap();
        let e = cat.snapshot().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Io);
        assert!(e.message.contains("is unreadable"), "{e}");
    }
}
