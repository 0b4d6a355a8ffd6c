//! The `coffer` binary: server, dev cluster and client CLI.

/// mimalloc instead of glibc's malloc, whose fragmentation made write
/// throughput decay over long runs (bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    coffer::cli::main()
}
