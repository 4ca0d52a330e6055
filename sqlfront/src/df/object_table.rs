//! Object tables and CSV external tables as DataFusion [`TableProvider`]s.
//!
//! An object table is listed when a query scans it (the listing is live, as in
//! [`crate::objects`]); the rows stream out in small batches, and an object's bytes
//! (`data`) and `md5_hash` are read only when the query projects them, a batch at a time
//! on all cores, so memory stays bounded by the batch size whatever the table's size.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use futures::StreamExt;
use rayon::prelude::*;

use crate::catalog::TableEntry;
use crate::objects::{GcsAccess, GcsConfig};
use crate::sources::ScopeColumn;
use crate::value::Value;

use super::values::{arrow_type, values_to_array};

/// Rows per batch of an object table: enough to keep every core decoding, few enough that
/// a batch of images stays small.
pub const OBJECT_BATCH_ROWS: usize = 16;

/// The Arrow schema of relation columns (all nullable).
pub fn arrow_schema(columns: &[ScopeColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| {
                let ty = c
                    .data_type
                    .as_ref()
                    .map_or(datafusion::arrow::datatypes::DataType::Utf8, arrow_type);
                Field::new(c.name.clone(), ty, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// An object table of the catalog (see [`crate::objects`] for its schema and URIs).
#[derive(Debug)]
pub struct ObjectTable {
    name: String,
    entry: TableEntry,
    gcs: GcsConfig,
    schema: SchemaRef,
}

impl ObjectTable {
    /// The object table `name` (`ds.table`, for messages) described by `entry`, its
    /// `gs://` objects reached as `gcs` says.
    pub fn new(name: String, entry: TableEntry, gcs: GcsAccess<'_>) -> ObjectTable {
        ObjectTable {
            name,
            entry,
            gcs: gcs.into(),
            schema: arrow_schema(&crate::objects::schema()),
        }
    }
}

#[async_trait]
impl TableProvider for ObjectTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let with_generation = projection.is_none_or(|p| {
            p.contains(&crate::objects::GENERATION_COLUMN)
                || p.contains(&crate::objects::REF_COLUMN)
        });
        let listed =
            crate::objects::scan(&self.name, &self.entry, self.gcs.access(), with_generation)
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
        let rows = Arc::new(listed.rows);
        let read: Vec<bool> = (0..self.schema.fields().len())
            .map(|i| projection.is_none_or(|p| p.contains(&i)))
            .collect();
        let partition = RowsPartition {
            schema: Arc::clone(&self.schema),
            rows,
            read: Arc::new(read),
        };
        streaming_exec(&self.schema, vec![Arc::new(partition)], projection, limit)
    }
}

/// The scan plan of a table of `schema` whose rows come from `partitions`, with the
/// scan's projection and limit applied.
pub(super) fn streaming_exec(
    schema: &SchemaRef,
    partitions: Vec<Arc<dyn PartitionStream>>,
    projection: Option<&Vec<usize>>,
    limit: Option<usize>,
) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
    Ok(Arc::new(StreamingTableExec::try_new(
        Arc::clone(schema),
        partitions,
        projection,
        Vec::new(),
        false,
        limit,
    )?))
}

/// Rows of [`Value`]s streamed as batches of [`OBJECT_BATCH_ROWS`]; lazy values of the
/// columns marked in `read` are read (in parallel), the others become NULL.
#[derive(Debug)]
struct RowsPartition {
    schema: SchemaRef,
    rows: Arc<Vec<Vec<Value>>>,
    read: Arc<Vec<bool>>,
}

impl PartitionStream for RowsPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (schema, rows, read) = (
            Arc::clone(&self.schema),
            Arc::clone(&self.rows),
            Arc::clone(&self.read),
        );
        let starts = (0..rows.len()).step_by(OBJECT_BATCH_ROWS);
        let batch_schema = Arc::clone(&schema);
        let batches = futures::stream::iter(starts).map(move |start| {
            let end = (start + OBJECT_BATCH_ROWS).min(rows.len());
            rows_batch(&batch_schema, &rows[start..end], &read)
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }
}

fn rows_batch(
    schema: &SchemaRef,
    rows: &[Vec<Value>],
    read: &[bool],
) -> datafusion::common::Result<RecordBatch> {
    let columns = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(c, field)| {
            let values = rows
                .par_iter()
                .map(|row| match &row[c] {
                    Value::Lazy(_) if !read[c] => Ok(Value::Null),
                    v => v.clone().forced(),
                })
                .collect::<Result<Vec<Value>, String>>()
                .map_err(DataFusionError::Execution)?;
            values_to_array(&values, field.data_type())
        })
        .collect::<datafusion::common::Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}

/// A relation read in full when scanned (CSV external tables, read by
/// [`crate::sources::read_csv_table`]), streamed in batches.
pub struct RowsTable {
    schema: SchemaRef,
    read: Box<ReadRows>,
}

/// Rows shared by the scans of one table.
pub type Rows = Arc<Vec<Vec<Value>>>;
type ReadRows = dyn Fn() -> crate::Result<Rows> + Send + Sync;

impl std::fmt::Debug for RowsTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowsTable")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl RowsTable {
    /// A table of `columns` whose rows `read` returns at each scan.
    pub fn new(
        columns: &[ScopeColumn],
        read: impl Fn() -> crate::Result<Rows> + Send + Sync + 'static,
    ) -> RowsTable {
        RowsTable {
            schema: arrow_schema(columns),
            read: Box::new(read),
        }
    }
}

#[async_trait]
impl TableProvider for RowsTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let rows = (self.read)().map_err(|e| DataFusionError::External(Box::new(e)))?;
        let partition = RowsPartition {
            schema: Arc::clone(&self.schema),
            rows,
            read: Arc::new(vec![true; self.schema.fields().len()]),
        };
        streaming_exec(&self.schema, vec![Arc::new(partition)], projection, limit)
    }
}
