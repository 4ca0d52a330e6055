//! The runtime: host tensors, `.npy` I/O and (with the compiler work) `CompiledModel`, the
//! per-caller arena state, the worker pool and the loader for ahead-of-time artifacts.
//! A compiled model must be runnable from `runtime` + `kernels` alone.

pub mod artifact;
pub mod limits;
pub mod model;
pub mod npy;
pub mod pool;
pub mod profile;
pub mod tensor;

pub use model::{CompiledModel, IoSpec, State};
pub use tensor::{DType, Tensor, TensorData};
