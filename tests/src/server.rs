//! The real `sync-server` binary as a child process: start, kill, restart on the same database,
//! data folder and port.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Path of the `sync-server` binary built for these tests.
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("SYNC_SERVER_BIN") {
        return PathBuf::from(path);
    }
    workspace_binary("sync-server")
}

/// Path of a binary of the workspace (`sync-server`, `kiosk`) built beside these tests.
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> (a test) or target/<profile>/<bin> (the convergence runner)
    // -> target/<profile>/sync-server
    let mut profile_dir = exe.parent().expect("the executable lives in a folder");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir
            .parent()
            .expect("deps lives in target/<profile>");
    }
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo build --workspace --bins), as scripts/test does",
        path.display()
    );
    path
}

/// A running server process.
pub struct ServerProcess {
    pub base: String,
    port: u16,
    database_url: String,
    data_dir: PathBuf,
    /// Whether dropping this process removes the data folder (a sibling shares its first's).
    owns_data_dir: bool,
    child: Option<Child>,
}

/// A free loopback port (bound then released; the server binds it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl ServerProcess {
    /// The address the server listens on (for a proxy in front of it).
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Starts a server on `database_url` with its own data folder (signing key).
    pub async fn start(database_url: &str) -> ServerProcess {
        let data_dir = std::env::temp_dir().join(format!(
            "gp-sys-server-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let port = free_port();
        let mut server = ServerProcess {
            base: format!("http://127.0.0.1:{port}"),
            port,
            database_url: database_url.to_owned(),
            data_dir,
            owns_data_dir: true,
            child: None,
        };
        server.spawn().await;
        server
    }

    /// A second instance of the same server: the same database and data folder (so the same
    /// signing key), on a port of its own, as two instances behind a load balancer.
    pub async fn start_sibling(&self) -> ServerProcess {
        let port = free_port();
        let mut server = ServerProcess {
            base: format!("http://127.0.0.1:{port}"),
            port,
            database_url: self.database_url.clone(),
            data_dir: self.data_dir.clone(),
            owns_data_dir: false,
            child: None,
        };
        server.spawn().await;
        server
    }

    /// Whether the process is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    async fn spawn(&mut self) {
        let child = Command::new(server_binary())
            .args(["serve", "--listen", &format!("127.0.0.1:{}", self.port)])
            .env("DATABASE_URL", &self.database_url)
            .env("SYNC_DATA_DIR", &self.data_dir)
            // A serving instance keeps its whole pool open: tests running side by side, some with
            // two instances each, would pass Postgres' 100 connections at the default 32.
            .env("SYNC_DB_POOL", "8")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start sync-server");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Waits until `/readyz` answers (at most 30 s).
    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("sync-server exited during start: {status}");
            }
            let ready = client
                .get(format!("{}/readyz", self.base))
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if matches!(ready, Ok(r) if r.status().is_success()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sync-server not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Runs `sync-server admin --json ARGS...` against this server's database and data folder
    /// (the admin command line on the server host) and returns its JSON output.
    pub fn admin(&self, args: &[&str]) -> serde_json::Value {
        let output = Command::new(server_binary())
            .arg("admin")
            .arg("--json")
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("SYNC_DATA_DIR", &self.data_dir)
            // A serving instance keeps its whole pool open: tests running side by side, some with
            // two instances each, would pass Postgres' 100 connections at the default 32.
            .env("SYNC_DB_POOL", "8")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .expect("run sync-server admin");
        assert!(
            output.status.success(),
            "sync-server admin {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "sync-server admin {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// Kills the process at once (SIGKILL): no graceful shutdown, as in a power cut.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same database, data folder and port.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}
