//! Choosing the start method (MP6xx): `set_start_method` itself, and fork where fork is
//! unsafe.

pub mod fork_with_threads;
pub mod start_method_misuse;
