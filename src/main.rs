use clap::Parser;

fn main() -> std::process::ExitCode {
    suppress::telemetry::init();
    match suppress::cli::run(suppress::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
