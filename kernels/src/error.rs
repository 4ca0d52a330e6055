//! [`KernelError`], the error of the safe wrappers. Kernel files import it from here rather
//! than from the crate root that re-exports it, so that no file depends on `lib.rs`.

/// A safe wrapper rejected its arguments (sizes, shapes or ranges that do not fit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelError(pub String);

impl KernelError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        KernelError(msg.into())
    }
}

impl std::fmt::Display for KernelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KernelError {}
