//! pgkeep keeps the PostgreSQL database of a docker-compose deployment safe: complete,
//! checksummed, verified backups; restores that cannot lose the live database; a schedule;
//! and a terminal console that shows all of it.
//!
//! The UI-free modules (`engine`, `target`, `schedule`, `monitor`) never import ratatui or
//! crossterm; `cli` and `console` are the two front ends over them.

#![warn(missing_docs)]

pub mod alerts;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod engine;
pub mod error;
pub mod format;
pub mod monitor;
pub mod offsite;
pub mod schedule;
pub mod target;

pub use error::{Error, Result};
