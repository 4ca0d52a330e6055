//! [`Engine`]: the models `ML.PREDICT` runs, compiled by `compiler` and cached.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use compiler::CompileOptions;
use runtime::CompiledModel;

use crate::catalog::ModelEntry;
use crate::error::{ErrorKind, Result, SqlError};
use crate::sources::{ExecContext, TableSources};

/// Opens the models of `ML.PREDICT`. Compiled models are kept
/// for the engine's lifetime, keyed by model file and `conv_algo` (and checked
/// against the file's modification time), so one REPL session compiles a model once.
pub struct Engine {
    models: Mutex<HashMap<(PathBuf, String), CachedModel>>,
}

/// A compiled model and the modification time of the file it was compiled from.
type CachedModel = (Option<SystemTime>, Arc<CompiledModel>);

impl Engine {
    /// An engine with no model loaded yet.
    pub fn new() -> Engine {
        Engine {
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
        let file = &crate::catalog::data_file(data_dir, &format!("Model {name}"), &entry.file)?;
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

impl Default for Engine {
    fn default() -> Engine {
        Engine::new()
    }
}

impl TableSources for Engine {
    fn open_model(
        &self,
        name: &str,
        model: &ModelEntry,
        ctx: &ExecContext<'_>,
    ) -> Result<Arc<CompiledModel>> {
        self.model(name, model, ctx.data_dir, ctx.compile)
    }
}
