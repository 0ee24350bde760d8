//! `suture`: parses the command line and runs it.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = suture::cli::Cli::parse();
    match suture::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
