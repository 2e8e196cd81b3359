//! Shared memory (MP3xx): segments that leak, vanish or outlive their views.

pub mod shared_memory_buffer_escapes;
pub mod shared_memory_not_unlinked;
pub mod shared_memory_tracked_attach;
pub mod shared_memory_unlinked_by_attacher;
pub mod tracker_unregister_in_tree;
