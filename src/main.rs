//! `suture`: parses the command line and runs it.

use clap::Parser;

/// mimalloc: ingest allocates and frees many small strings per event, and
/// glibc's allocator showed up at the top of the ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Err(error) = suture::memory::disable_transparent_huge_pages() {
        eprintln!("warning: transparent huge pages stay on ({error}); RSS moves in 2 MiB steps");
    }
    let cli = suture::cli::Cli::parse();
    match suture::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
