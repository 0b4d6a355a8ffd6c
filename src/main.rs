//! The `coffer` binary: server, dev cluster and client CLI.

fn main() -> std::process::ExitCode {
    coffer::cli::main()
}
