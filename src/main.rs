use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mpdoctor::app::main(std::env::args_os()))
}
