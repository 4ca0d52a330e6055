//! placeholder
pub mod imageops;
