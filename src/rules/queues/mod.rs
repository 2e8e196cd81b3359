//! Queues and pipes (MP1xx): data that never arrives, or keeps a process from exiting.

pub mod join_before_drain;
pub mod queue_empty_as_signal;
pub mod queue_never_drained;
pub mod sync_object_passed_by_pickle;
pub mod task_done_missing;
