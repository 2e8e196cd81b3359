mod app;

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(app::main(std::env::args_os()))
}
