//! `ML.PREDICT(MODEL m, input)` as a DataFusion table over the input query's plan.
//!
//! [`PredictTable`] is a [`TableProvider`] whose scan plans the input query and streams
//! each of its partitions through the compiled model: a batch's rows run in parallel, each
//! worker with its own model state, and the output batch is the model's outputs (see
//! [`crate::predict`] for names and types) followed by the input's columns. Memory is
//! bounded by the input's batches: nothing is collected.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_plan::stream::{RecordBatchReceiverStream, RecordBatchStreamAdapter};
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::physical_plan::{
    ExecutionPlan, ExecutionPlanProperties, SendableRecordBatchStream,
};
use futures::StreamExt;
use rayon::prelude::*;
use runtime::CompiledModel;

use crate::predict::{PredictPlan, StatePool};
use crate::sources::ScopeColumn;
use crate::value::Value;

use super::values::{arrow_type, value_at, values_to_array};

/// The rows of `input` with the predictions of `model` in front.
#[derive(Debug)]
pub struct PredictTable {
    plan: Arc<PredictPlanHandle>,
    input: LogicalPlan,
    schema: SchemaRef,
    threads: usize,
    /// The `ML.PREDICT` call, where a row's error is shown.
    span: crate::Span,
}

/// [`PredictPlan`] with a `Debug` that DataFusion's plan printing needs.
struct PredictPlanHandle(PredictPlan);

impl std::fmt::Debug for PredictPlanHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.outputs.iter().map(|o| &o.0))
            .finish()
    }
}

impl PredictTable {
    /// Prediction of `model` over the query `input`, on up to `threads` threads, for
    /// the call at `span`.
    pub fn new(
        model: &Arc<CompiledModel>,
        input: LogicalPlan,
        threads: usize,
        span: crate::Span,
    ) -> crate::Result<PredictTable> {
        let in_schema = input.schema().as_arrow().clone();
        let columns: Vec<ScopeColumn> = in_schema
            .fields()
            .iter()
            .map(|f| ScopeColumn::new(f.name().clone(), None))
            .collect();
        let plan = PredictPlan::new(model, &columns)?;
        let mut fields: Vec<Field> = plan
            .outputs
            .iter()
            .map(|(n, t)| Field::new(n.clone(), arrow_type(t), true))
            .collect();
        fields.extend(in_schema.fields().iter().map(|f| f.as_ref().clone()));
        Ok(PredictTable {
            plan: Arc::new(PredictPlanHandle(plan)),
            input,
            schema: Arc::new(Schema::new(fields)),
            threads: threads.max(1),
            span,
        })
    }
}

#[async_trait]
impl TableProvider for PredictTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> datafusion::common::Result<Arc<dyn ExecutionPlan>> {
        let input = state.create_physical_plan(&self.input).await?;
        let partitions = input.output_partitioning().partition_count();
        // The input's row count is not known before it is read (its scans stream).
        let total = None;
        // States sized so that all partitions' workers together use `threads` cores.
        let states = Arc::new(StatePool::new(
            self.plan.0.model(),
            (self.threads / partitions.max(1)).max(1),
        ));
        let streams: Vec<Arc<dyn PartitionStream>> = (0..partitions)
            .map(|p| {
                Arc::new(PredictPartition {
                    schema: Arc::clone(&self.schema),
                    input: Arc::clone(&input),
                    partition: p,
                    plan: Arc::clone(&self.plan),
                    states: Arc::clone(&states),
                    span: self.span,
                    // One bar per query: the first partition draws it.
                    bar_total: (p == 0).then_some(total),
                }) as Arc<dyn PartitionStream>
            })
            .collect();
        super::object_table::streaming_exec(&self.schema, streams, projection, limit)
    }
}

/// One partition of the input, run through the model.
#[derive(Debug)]
struct PredictPartition {
    schema: SchemaRef,
    input: Arc<dyn ExecutionPlan>,
    partition: usize,
    plan: Arc<PredictPlanHandle>,
    states: Arc<StatePool>,
    span: crate::Span,
    /// `Some(total)` for the partition that draws the progress bar while it runs.
    bar_total: Option<Option<usize>>,
}

impl std::fmt::Debug for StatePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatePool")
    }
}

impl PartitionStream for PredictPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let schema = Arc::clone(&self.schema);
        let (plan, states) = (Arc::clone(&self.plan), Arc::clone(&self.states));
        let out_schema = Arc::clone(&schema);
        let span = self.span;
        let bar = self.bar_total.map(crate::progress::Bar::start);
        let mut first_row = 0usize;
        let mut input = match self.input.execute(self.partition, ctx) {
            Ok(s) => s,
            Err(e) => {
                return Box::pin(RecordBatchStreamAdapter::new(
                    schema,
                    futures::stream::once(async move { Err(e) }),
                ))
            }
        };
        // The input (reading, decoding, resizing) runs a batch ahead in a task of its own:
        // its rayon work fills the pool while this operator predicts the previous batch,
        // instead of both waiting at each other's end-of-batch barrier.
        let mut ahead = RecordBatchReceiverStream::builder(input.schema(), 1);
        let tx = ahead.tx();
        ahead.spawn(async move {
            while let Some(batch) = input.next().await {
                if tx.send(batch).await.is_err() {
                    break; // the consumer is gone
                }
            }
            Ok(())
        });
        let stream = ahead.build();
        let batches = stream.map(move |batch| {
            // Dropped (and cleared) with the stream.
            let _bar = &bar;
            let batch = batch?;
            let start = first_row;
            first_row += batch.num_rows();
            predict_batch(&plan.0, &states, &out_schema, &batch, start)
                .map_err(|e| at_call(e, span))
        });
        Box::pin(RecordBatchStreamAdapter::new(schema, batches))
    }
}

/// `e` shown at the `ML.PREDICT` call when it is one of bqmlc's errors without a position.
fn at_call(e: DataFusionError, span: crate::Span) -> DataFusionError {
    match e {
        DataFusionError::External(inner) => match inner.downcast::<crate::SqlError>() {
            Ok(own) => DataFusionError::External(Box::new(own.with_span(span))),
            Err(other) => DataFusionError::External(other),
        },
        other => other,
    }
}

/// The output batch for one input batch whose first row is row `start` of its partition.
fn predict_batch(
    plan: &PredictPlan,
    states: &StatePool,
    schema: &SchemaRef,
    batch: &RecordBatch,
    start: usize,
) -> datafusion::common::Result<RecordBatch> {
    let fail = |e: crate::SqlError| DataFusionError::External(Box::new(e));
    let outputs: Vec<Vec<Value>> = (0..batch.num_rows())
        .into_par_iter()
        .map(|r| {
            let row = batch
                .columns()
                .iter()
                .enumerate()
                .map(|(c, col)| match plan.reads_column(c) {
                    true => value_at(col.as_ref(), r),
                    false => Ok(Value::Null),
                })
                .collect::<datafusion::common::Result<Vec<_>>>()?;
            plan.run_row(states, start + r, &row).map_err(fail)
        })
        .collect::<datafusion::common::Result<_>>()?;
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (k, field) in schema.fields().iter().take(plan.outputs.len()).enumerate() {
        let vals: Vec<Value> = outputs.iter().map(|o| o[k].clone()).collect();
        columns.push(values_to_array(&vals, field.data_type())?);
    }
    columns.extend(batch.columns().iter().cloned());
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
}
