//! Queues, pipes and the objects handed between processes (MP1xx): data that never
//! arrives, objects that cannot cross, processes that cannot exit.

pub mod join_before_drain;
pub mod queue_empty_as_signal;
pub mod queue_never_drained;
pub mod sync_object_passed_by_pickle;
pub mod task_done_missing;
pub mod temporary_sync_object_in_args;
