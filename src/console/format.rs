//! The console's formatting is the shared [`crate::format`] module (one vocabulary for the
//! CLI and the console); this re-export keeps `super::format` paths in the panes working.

pub use crate::format::*;
