//! Locks and shared values (MP2xx).

pub mod lock_acquire_blocking_keyword;
pub mod lock_acquire_inside_try;
pub mod lock_not_released;
pub mod shared_value_race;
