//! Types generated from the vendored `proto/onnx.proto` (ONNX 1.22) by prost.
#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
