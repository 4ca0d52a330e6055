//! A dataset of the catalog snapshot as a DataFusion schema whose tables are built when a
//! query names them: a CSV table is read (once, for its schema and its rows) only by the
//! queries that use it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::DataFusionError;

use crate::catalog::{Dataset, TableEntry, TableKind};

use super::object_table::{ObjectTable, RowsTable};

/// One dataset's tables, by name.
#[derive(Debug)]
pub struct DatasetSchema {
    dataset: String,
    tables: std::collections::BTreeMap<String, TableEntry>,
    gcs_root: Option<PathBuf>,
}

impl DatasetSchema {
    /// The tables of `ds` (named `dataset`), reading `gs://` under `gcs_root`.
    pub fn new(dataset: &str, ds: &Dataset, gcs_root: Option<PathBuf>) -> DatasetSchema {
        DatasetSchema {
            dataset: dataset.to_string(),
            tables: ds.tables.clone(),
            gcs_root,
        }
    }

    /// The entry `name` refers to: the table of that exact name, else the one whose name
    /// matches ignoring case when only one does (DataFusion lower-cases unquoted names).
    fn entry(&self, name: &str) -> Option<(&String, &TableEntry)> {
        if let Some(hit) = self.tables.get_key_value(name) {
            return Some(hit);
        }
        let mut matches = self
            .tables
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        match (matches.next(), matches.next()) {
            (Some(hit), None) => Some(hit),
            _ => None,
        }
    }

    fn provider(&self, name: &str, entry: &TableEntry) -> crate::Result<Arc<dyn TableProvider>> {
        let full = format!("{}.{name}", self.dataset);
        Ok(match entry.kind {
            TableKind::Object => {
                Arc::new(ObjectTable::new(full, entry.clone(), self.gcs_root.clone()))
            }
            TableKind::Csv => {
                let relation =
                    crate::sources::read_csv_table(&full, entry, self.gcs_root.as_deref())?;
                let rows = Arc::new(relation.rows);
                Arc::new(RowsTable::new(&relation.columns, move || {
                    Ok(Arc::clone(&rows))
                }))
            }
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
