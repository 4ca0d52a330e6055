//! [`Engine`]: the table sources and functions that make object tables, the `ML.*` image
//! functions and `ML.PREDICT` run — listing objects, decoding images and running
//! models compiled by `compiler`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use compiler::CompileOptions;
use runtime::CompiledModel;

use crate::binder::ScalarFunctions;
use crate::catalog::{ModelEntry, TableEntry};
use crate::error::{ErrorKind, Result, SqlError};
use crate::executor::{ExecContext, Relation, TableSources};
use crate::value::Value;

/// Runs object-table scans, image functions and `ML.PREDICT`. Compiled models are kept
/// for the engine's lifetime, keyed by model file and `conv_algo` (and checked
/// against the file's modification time), so one REPL session compiles a model once.
pub struct Engine {
    threads: usize,
    models: Mutex<HashMap<(PathBuf, String), CachedModel>>,
}

/// A compiled model and the modification time of the file it was compiled from.
type CachedModel = (Option<SystemTime>, Arc<CompiledModel>);

impl Engine {
    /// An engine running predictions on up to `threads` threads at once.
    pub fn new(threads: usize) -> Engine {
        Engine {
            threads: threads.max(1),
            models: Mutex::new(HashMap::new()),
        }
    }

    /// The compiled model for `entry` (files relative to `data_dir`), on first use loaded
    /// from the library CREATE MODEL stored (or, when there is none that fits `opts`,
    /// compiled with `opts`).
    pub fn model(
        &self,
        name: &str,
        entry: &ModelEntry,
        data_dir: &Path,
        opts: &CompileOptions,
    ) -> Result<Arc<CompiledModel>> {
        let file = &crate::catalog::data_file(data_dir, name, &entry.file)?;
        let key = (file.to_path_buf(), opts.conv_algo.to_string());
        let modified = std::fs::metadata(file).and_then(|m| m.modified()).ok();
        let mut cache = self.models.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((m, model)) = cache.get(&key) {
            if *m == modified {
                return Ok(Arc::clone(model));
            }
        }
        let fail = |m: String| {
            SqlError::new(
                ErrorKind::InvalidQuery,
                format!("Cannot run model {name}: {m}"),
            )
        };
        let (model, _) =
            crate::model_import::load_compiled(name, data_dir, file, entry.compiled.as_ref(), opts)
                .map_err(|e| fail(e.0))?;
        let model = Arc::new(model);
        cache.insert(key, (modified, Arc::clone(&model)));
        Ok(model)
    }
}

impl ScalarFunctions for Engine {
    fn has_function(&self, name: &str) -> bool {
        crate::imagefns::FUNCTIONS.contains(&name)
    }

    fn call(&self, name: &str, args: &[Value]) -> std::result::Result<Value, String> {
        crate::imagefns::call(name, args)
    }
}

impl TableSources for Engine {
    fn scan_object_table(
        &self,
        name: &str,
        table: &TableEntry,
        ctx: &ExecContext<'_>,
    ) -> Result<Relation> {
        crate::objects::scan(name, table, ctx.gcs_root)
    }

    fn open_model(
        &self,
        name: &str,
        model: &ModelEntry,
        settings: Option<&Value>,
        ctx: &ExecContext<'_>,
    ) -> Result<Arc<CompiledModel>> {
        if let Some(Value::Struct(fields)) = settings {
            if let Some((n, _)) = fields.first() {
                let what = if n.is_empty() {
                    "options are".to_string()
                } else {
                    format!("option {n} is")
                };
                return Err(SqlError::new(
                    ErrorKind::InvalidQuery,
                    format!("ML.PREDICT {what} not supported for ONNX models"),
                ));
            }
        }
        self.model(name, model, ctx.data_dir, ctx.compile)
    }

    fn predict(
        &self,
        _name: &str,
        model: &Arc<CompiledModel>,
        input: Relation,
    ) -> Result<Relation> {
        crate::predict::predict(model, input, self.threads)
    }
}
