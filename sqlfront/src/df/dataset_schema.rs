//! A dataset of the catalog snapshot as a DataFusion schema whose tables are built when a
//! query names them: a CSV table is read (once, for its schema and its rows) only by the
//! queries that use it; native, Parquet and JSON tables are scanned by DataFusion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;

use crate::catalog::{Dataset, TableEntry, TableKind};
use crate::objects::{GcsAccess, GcsConfig};

use super::object_table::{ObjectTable, RowsTable};
use super::tables;

/// The entry `name` refers to among `tables`: the table of that exact name, else the one
/// whose name matches ignoring case when only one does (DataFusion lower-cases unquoted
/// names).
pub(super) fn find_table<'a>(
    tables: &'a BTreeMap<String, TableEntry>,
    name: &str,
) -> Option<(&'a String, &'a TableEntry)> {
    if let Some(hit) = tables.get_key_value(name) {
        return Some(hit);
    }
    let mut matches = tables.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name));
    match (matches.next(), matches.next()) {
        (Some(hit), None) => Some(hit),
        _ => None,
    }
}

/// One dataset's tables, by name.
#[derive(Debug)]
pub struct DatasetSchema {
    dataset: String,
    tables: BTreeMap<String, TableEntry>,
    gcs: GcsConfig,
    data_dir: PathBuf,
}

impl DatasetSchema {
    /// The tables of `ds` (named `dataset`), reading `gs://` as `gcs` says and native
    /// tables' files in `data_dir`.
    pub fn new(dataset: &str, ds: &Dataset, gcs: GcsAccess<'_>, data_dir: &Path) -> DatasetSchema {
        DatasetSchema {
            dataset: dataset.to_string(),
            tables: ds.tables.clone(),
            gcs: gcs.into(),
            data_dir: data_dir.to_path_buf(),
        }
    }

    fn entry(&self, name: &str) -> Option<(&String, &TableEntry)> {
        find_table(&self.tables, name)
    }

    fn provider(&self, name: &str, entry: &TableEntry) -> crate::Result<Arc<dyn TableProvider>> {
        let full = format!("{}.{name}", self.dataset);
        if entry.kind != TableKind::Object {
            crate::sources::check_external_uris(&entry.uris, self.gcs.access())?;
        }
        Ok(match entry.kind {
            TableKind::Object => Arc::new(ObjectTable::new(full, entry.clone(), self.gcs.access())),
            TableKind::Csv => {
                let relation =
                    crate::sources::read_csv_table(&full, entry, self.gcs.root.as_deref())?;
                let rows = Arc::new(relation.rows);
                Arc::new(RowsTable::new(&relation.columns, move || {
                    Ok(Arc::clone(&rows))
                }))
            }
            TableKind::Parquet => tables::parquet_table(&full, entry, self.gcs.root.as_deref())?,
            TableKind::Json => tables::json_table(&full, entry, self.gcs.root.as_deref())?,
            TableKind::Native => tables::native_table(&full, entry, &self.data_dir)?,
        })
    }
}

#[async_trait]
impl SchemaProvider for DatasetSchema {
    fn table_names(&self) -> Vec<String> {
        self.tables.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>, DataFusionError> {
        match self.entry(name) {
            Some((n, entry)) => self
                .provider(n, entry)
                .map(Some)
                .map_err(|e| DataFusionError::External(Box::new(e))),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.entry(name).is_some()
    }
}
