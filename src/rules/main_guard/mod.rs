//! Main guards (MP0xx): what a child process runs when it imports the main module.

pub mod ineffective_main_guard;
pub mod missing_main_guard;
