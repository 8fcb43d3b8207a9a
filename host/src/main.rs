//! `blink`: the Blink host's command line.

use clap::{Parser, Subcommand};

use blink_host::config::Settings;

#[derive(Parser)]
#[command(name = "blink", version, about = "Blink host: the backend of an AI app builder")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (applies pending database migrations first).
    Serve(Box<Settings>),
    /// Apply pending database migrations and exit.
    Migrate(Box<Settings>),
    /// Start, try, check, push and list agent components.
    #[command(subcommand)]
    Plugin(blink_host::cli::PluginCommand),
    /// Clean up sandboxes on this machine's Docker engine.
    #[command(subcommand)]
    Sandbox(blink_host::cli::SandboxCommand),
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BLINK_LOG")
        .unwrap_or_else(|_| "info,wasmtime=warn,cranelift=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // Read before the command line: logging starts first, so a bad value cannot be logged.
    match std::env::var("BLINK_LOG_FORMAT").as_deref() {
        Err(_) | Ok("text") => logs.init(),
        // One JSON object per line for log shippers, with the request's and run's spans (their
        // ids) on every line.
        Ok("json") => logs.json().with_span_list(true).with_current_span(false).init(),
        Ok(other) => {
            eprintln!("error: BLINK_LOG_FORMAT must be `text` or `json`, not {other:?}");
            std::process::exit(2);
        }
    }
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(settings) => runtime.block_on(blink_host::server::serve(*settings)),
        Command::Migrate(settings) => runtime.block_on(async {
            blink_host::server::open_database(&settings).await?;
            println!("database is up to date");
            Ok(())
        }),
        Command::Plugin(command) => {
            if !runtime.block_on(blink_host::cli::run(command))? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Sandbox(command) => {
            if !runtime.block_on(blink_host::cli::run_sandbox(command))? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
