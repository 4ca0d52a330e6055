//! `bq ls` / `bq show` style listings of the catalog (sparse tables).

use crate::catalog::{CatalogState, ModelEntry, TableEntry, TableKind};
use crate::error::Result;
use crate::format::sparse_table;
use crate::model_import::{Dim, TensorInfo};
use crate::value::civil_from_days;

/// Formats epoch milliseconds like `bq`: `03 May 23:14:42` (UTC).
pub fn format_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = ms.div_euclid(1000);
    let (_, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{d:02} {} {:02}:{:02}:{:02}",
        MONTHS[(m as usize).clamp(1, 12) - 1],
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// `bq ls`: one `datasetId` column.
pub fn ls_datasets(state: &CatalogState) -> String {
    let rows: Vec<Vec<String>> = state.datasets.keys().map(|k| vec![k.clone()]).collect();
    if rows.is_empty() {
        return String::new();
    }
    sparse_table(&["datasetId"], &rows)
}

/// `bq ls DATASET`: the dataset's tables.
pub fn ls_tables(state: &CatalogState, ds: &str) -> Result<String> {
    let d = state.dataset(ds)?;
    let rows: Vec<Vec<String>> = d
        .tables
        .iter()
        .map(|(t, e)| {
            vec![
                t.clone(),
                table_type(e).into(),
                String::new(),
                String::new(),
                String::new(),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Ok(String::new());
    }
    Ok(sparse_table(
        &[
            "tableId",
            "Type",
            "Labels",
            "Time Partitioning",
            "Clustered Fields",
        ],
        &rows,
    ))
}

/// `bq ls -m DATASET`: the dataset's models.
pub fn ls_models(state: &CatalogState, ds: &str) -> Result<String> {
    let d = state.dataset(ds)?;
    let rows: Vec<Vec<String>> = d
        .models
        .iter()
        .map(|(name, m)| {
            vec![
                name.clone(),
                "ONNX".into(),
                String::new(),
                format_time(m.created_ms),
            ]
        })
        .collect();
    if rows.is_empty() {
        return Ok(String::new());
    }
    Ok(sparse_table(
        &["Id", "Model Type", "Labels", "Creation Time"],
        &rows,
    ))
}

fn shape_text(t: &TensorInfo) -> String {
    match &t.shape {
        None => String::new(),
        Some(dims) => {
            let parts: Vec<String> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(v) => v.to_string(),
                    Dim::Symbolic(s) => s.clone(),
                    Dim::Unknown => "?".into(),
                })
                .collect();
            format!(" [{}]", parts.join(","))
        }
    }
}

fn columns_text(cols: &[TensorInfo]) -> String {
    cols.iter()
        .map(|c| {
            format!(
                "|- {}: {}{}",
                c.name,
                c.sql_type.to_ascii_lowercase(),
                shape_text(c)
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `bq show -m DS.MODEL`.
pub fn show_model(state: &CatalogState, ds: &str, name: &str) -> Result<String> {
    let m: &ModelEntry = state.model(ds, name)?;
    let mut headers = vec![
        "Id",
        "Model Type",
        "Feature Columns",
        "Label Columns",
        "Labels",
        "Creation Time",
        "Expiration Time",
    ];
    let mut row = vec![
        name.to_string(),
        "ONNX".into(),
        columns_text(&m.meta.inputs),
        columns_text(&m.meta.outputs),
        String::new(),
        format_time(m.created_ms),
        String::new(),
    ];
    if let Some(k) = &m.kms_key_name {
        headers.push("kmsKeyName");
        row.push(k.clone());
    }
    let producer = format!(
        "Producer: {} {} (ONNX IR {}, opset {}), {} bytes, from {}",
        m.meta.producer_name,
        m.meta.producer_version,
        m.meta.ir_version,
        m.meta
            .onnx_opset()
            .map_or_else(|| "?".to_string(), |v| v.to_string()),
        m.size,
        m.model_path
    );
    let compiled = match &m.compiled {
        Some(c) => {
            let kernels = if c.kernels.is_empty() {
                "not recorded".to_string()
            } else {
                let k: Vec<String> = c.kernels.iter().map(|(k, n)| format!("{k} {n}")).collect();
                k.join(", ")
            };
            format!(
                "\nCompiled: {} ({} bytes), ahead of time in {} ms for CPU features {}\n\
                 Compile options: conv_algo {}, kernel tier {}\nKernels (plan steps): {kernels}",
                c.file,
                c.size,
                c.compile_ms,
                c.cpu_features,
                c.conv_algo,
                if c.isa.is_empty() {
                    "not recorded"
                } else {
                    &c.isa
                }
            )
        }
        None => "\nCompiled: not stored (compiled when the model is used)".into(),
    };
    Ok(format!(
        "Model {ds}.{name}\n\n{}\n\n{producer}{compiled}",
        sparse_table(&headers, &[row])
    ))
}

/// The fixed schema of object tables, as (name, type) pairs.
pub const OBJECT_TABLE_SCHEMA: &[(&str, &str)] = &[
    ("uri", "string"),
    ("generation", "integer"),
    ("content_type", "string"),
    ("size", "integer"),
    ("md5_hash", "string"),
    ("updated", "timestamp"),
    ("metadata", "record (repeated)"),
    ("ref", "record"),
];

/// `bq`'s table type: `TABLE` for a table stored in the data directory.
fn table_type(t: &TableEntry) -> &'static str {
    match t.kind {
        TableKind::Native => "TABLE",
        _ => "EXTERNAL",
    }
}

fn table_schema_text(t: &TableEntry) -> String {
    match t.kind {
        TableKind::Object => OBJECT_TABLE_SCHEMA
            .iter()
            .map(|(n, ty)| format!("|- {n}: {ty}"))
            .collect::<Vec<_>>()
            .join("\n"),
        TableKind::Csv | TableKind::Parquet | TableKind::Json | TableKind::Native => t
            .columns
            .iter()
            .map(|c| format!("|- {}: {}", c.name, c.data_type.to_ascii_lowercase()))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// `bq show DS.TABLE`.
pub fn show_table(state: &CatalogState, ds: &str, name: &str) -> Result<String> {
    let t = state.table(ds, name)?;
    let row = vec![
        format_time(t.created_ms),
        table_schema_text(t),
        table_type(t).into(),
        t.uris.len().to_string(),
        String::new(),
        String::new(),
    ];
    Ok(format!(
        "Table {ds}.{name}\n\n{}",
        sparse_table(
            &[
                "Last modified",
                "Schema",
                "Type",
                "Total URIs",
                "Expiration",
                "Labels"
            ],
            &[row]
        )
    ))
}

/// `bq show DATASET`.
pub fn show_dataset(state: &CatalogState, ds: &str) -> Result<String> {
    let d = state.dataset(ds)?;
    let row = vec![
        format_time(d.created_ms),
        d.location.clone().unwrap_or_default(),
        d.description.clone().unwrap_or_default(),
        d.tables.len().to_string(),
        d.models.len().to_string(),
    ];
    Ok(format!(
        "Dataset {ds}\n\n{}",
        sparse_table(
            &[
                "Last modified",
                "Location",
                "Description",
                "Tables",
                "Models"
            ],
            &[row]
        )
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format_is_bq_like() {
        assert_eq!(format_time(0), "01 Jan 00:00:00");
        // 2024-05-03 23:14:42 UTC
        assert_eq!(format_time(1_714_778_082_000), "03 May 23:14:42");
    }
}
