//! `suture`: parses the command line and runs it.

use clap::Parser;

/// mimalloc: ingest allocates and frees many small strings per event, and
/// glibc's allocator showed up at the top of the ingest profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Not `#[tokio::main]`: transparent huge pages are turned off before the
/// runtime's threads and mimalloc's first arenas exist, or those arenas
/// would keep the huge pages they got first.
fn main() -> std::process::ExitCode {
    if let Err(error) = suture::memory::disable_transparent_huge_pages() {
        eprintln!("warning: transparent huge pages stay on ({error}); RSS moves in 2 MiB steps");
    }
    let cli = suture::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: the async runtime did not start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(suture::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
