//! Which function names are aggregates, shared by the binder (which rejects aggregates
//! outside the select list) and aggregation (which computes them), so that neither
//! imports the other for it.

use crate::ast::ObjectName;

/// BigQuery's aggregate functions that bqmlc knows by name.
pub const AGGREGATES: &[&str] = &[
    "COUNT",
    "SUM",
    "AVG",
    "MIN",
    "MAX",
    "ARRAY_AGG",
    "STRING_AGG",
    "COUNTIF",
    "ANY_VALUE",
];

/// The aggregates bqmlc computes (over the whole input or per group).
pub const SUPPORTED: &[&str] = &["COUNT", "COUNTIF", "SUM", "AVG", "MIN", "MAX", "ANY_VALUE"];

/// A function's name as these lists spell it: its parts upper-cased, joined by dots.
pub fn call_name(name: &ObjectName) -> String {
    name.parts
        .iter()
        .map(|p| p.value.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(".")
}
