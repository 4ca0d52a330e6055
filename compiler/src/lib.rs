//! The bqmlc compiler: ONNX import into a typed IR with shape inference and
//! specialisation, the scalar reference interpreter (the oracle), and — as the compiler
//! work lands — optimisation passes, memory planning and Cranelift code generation.

pub mod conformance;
pub mod error;
pub mod import;
pub mod ir;
pub mod ops;
pub mod passes;
pub mod reference;

/// Types generated from the vendored `proto/onnx.proto` (ONNX 1.22) by prost.
#[allow(clippy::all, missing_docs)]
pub mod onnx {
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::{Error, Result};
pub use import::{load_bytes, load_file, ImportOptions};
pub use ir::Graph;
