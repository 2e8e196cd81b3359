mod app;

use std::process::ExitCode;

// The analysis makes many small, short-lived allocations on every thread (trees, names,
// cached answers): the system allocator spent a sixth of a run in them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    ExitCode::from(app::main(std::env::args_os()))
}
