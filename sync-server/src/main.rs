//! `sync-server`: serve, migrate, admin.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secrecy::ExposeSecret;
use sync_server::api::HttpLimits;
use sync_server::config::Config;
use sync_server::store::pg::PgStore;

#[derive(Parser)]
#[command(name = "sync-server", version, about = "Gatepass sync server")]
struct Cli {
    /// Config file (TOML); the environment overrides it.
    #[arg(long, global = true, env = "SYNC_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the API.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administer events, kiosks, packages and staff (on the server host, against the database).
    Admin {
        /// Print results as JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: sync_server::cli::AdminCommand,
    },
    /// Print the API's OpenAPI description (what `GET /openapi.json` answers) and exit.
    Openapi,
    /// Measure the server on a scratch event in the configured database (removed afterwards).
    Bench {
        #[command(subcommand)]
        command: sync_server::cli::BenchCommand,
    },
}

fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::io::stderr().is_terminal() {
        builder.with_writer(std::io::stderr).init();
    } else {
        builder.json().with_writer(std::io::stderr).init();
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Openapi = cli.command {
        println!("{}", sync_server::api::openapi::json());
        return Ok(());
    }
    let mut config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Migrate => {
            let store = PgStore::connect(config.database_url.expose_secret()).await?;
            store.migrate().await?;
            println!("migrations applied");
        }
        Command::Admin { json, command } => {
            let store = PgStore::connect(config.database_url.expose_secret()).await?;
            store.migrate().await?;
            sync_server::cli::run(
                &store,
                command,
                sync_server::cli::Output { json },
                &config.data_dir,
            )
            .await?;
        }
        Command::Bench { command } => {
            let store = PgStore::connect(config.database_url.expose_secret()).await?;
            store.migrate().await?;
            sync_server::cli::bench(&store, command).await?;
        }
        Command::Openapi => unreachable!("answered before the configuration is read"),
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                config.listen = listen.parse()?;
            }
            let store =
                PgStore::connect_serving(config.database_url.expose_secret(), config.database_pool)
                    .await?;
            store.migrate().await?;
            // Best effort: a connection that cannot warm up serves all the same.
            match store.warm().await {
                Ok(warmed) => tracing::debug!(connections = warmed, "database pool warmed"),
                Err(err) => tracing::warn!(error = %err, "cannot warm the database pool"),
            }
            let key = sync_server::keys::load_or_create(&config.data_dir)?;
            let listener = tokio::net::TcpListener::bind(config.listen).await?;
            tracing::info!(addr = %listener.local_addr()?, key_id = %key.public_key().key_id(), "serving");
            let limits = HttpLimits {
                max_body_bytes: config.max_body_bytes,
                trusted_proxies: config.trusted_proxies.clone(),
                ..HttpLimits::default()
            };
            sync_server::serve(listener, store, key, limits, shutdown_signal()).await?;
            tracing::info!("stopped");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
