//! What a child process gets from its parent (MP4xx): the target and arguments pickled
//! under spawn and forkserver, the globals it sees, and what never comes back.

pub mod global_mutated_in_child;
pub mod global_set_under_main_guard;
pub mod process_args_mismatch;
pub mod target_called_not_passed;
pub mod thread_primitive_across_processes;
pub mod unpicklable_callable;
