//! Pools, managers and process lifecycles (MP5xx).

pub mod async_result_ignored;
pub mod daemon_spawns_children;
pub mod manager_per_object;
pub mod pool_exits_before_results;
pub mod pool_join_without_close;
pub mod pool_not_closed;
pub mod pool_task_exits;
pub mod process_lifecycle;
pub mod terminate_with_shared_resources;
