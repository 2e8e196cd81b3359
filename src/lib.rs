//! mpdoctor: finds the bugs Python programs hit with `multiprocessing`,
//! `concurrent.futures.ProcessPoolExecutor` and `multiprocessing.shared_memory`.
//!
//! Data flows one way: [`discover`] finds files, [`source`] reads them, [`python`] parses
//! (the only module that names the parser crates), [`semantic`] resolves names, [`rules`]
//! report [`diagnostics`], [`linter`] filters and fixes them, and [`output`] renders them.

pub mod ast;
pub mod check;
pub mod cli;
pub mod codes;
pub mod config;
pub mod diagnostics;
pub mod discover;
pub mod docs;
pub mod fix;
pub mod linter;
pub mod noqa;
pub mod output;
pub mod paths;
pub mod python;
pub mod registry;
pub mod rules;
pub mod run;
pub mod semantic;
pub mod shm;
pub mod source;
