//! A kiosk's network link to the servers, as a loopback TCP proxy that a test can break: taken
//! down (new connections refused, open ones cut), stalled (bytes held in both directions until it
//! comes back), slowed (a delay before each chunk), or set to cut its next connection after some
//! bytes from the server. Each new connection goes to the next server of the list that accepts it,
//! as a load balancer in front of two server instances would.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// What the link does with bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    Up = 0,
    /// Partitioned: new connections are closed at once and open ones are cut.
    Down = 1,
    /// Bytes stop flowing both ways (connections stay open) until the link changes.
    Stall = 2,
}

impl LinkMode {
    fn from_u8(v: u8) -> LinkMode {
        match v {
            1 => LinkMode::Down,
            2 => LinkMode::Stall,
            _ => LinkMode::Up,
        }
    }
}

const NEVER: u64 = u64::MAX;

struct LinkState {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    /// The next connection is cut after this many bytes from the server (then back to never).
    cut_next: AtomicU64,
    upstreams: Vec<SocketAddr>,
    next: AtomicUsize,
    open: Mutex<Vec<AbortHandle>>,
}

/// A running link; it stops when dropped.
pub struct Link {
    pub addr: SocketAddr,
    state: Arc<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    /// A link on a free loopback port in front of `upstreams`, up.
    pub async fn start(upstreams: Vec<SocketAddr>) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind link");
        let addr = listener.local_addr().expect("link address");
        let state = Arc::new(LinkState {
            mode: AtomicU8::new(LinkMode::Up as u8),
            delay_ms: AtomicU64::new(0),
            cut_next: AtomicU64::new(NEVER),
            upstreams,
            next: AtomicUsize::new(0),
            open: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = shared.clone();
                let relay = tokio::spawn(relay(client, state));
                let mut open = shared.open.lock().unwrap();
                open.retain(|h| !h.is_finished());
                open.push(relay.abort_handle());
            }
        });
        Link { addr, state, task }
    }

    /// The link's base URL, for a kiosk to enrol at.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn mode(&self) -> LinkMode {
        LinkMode::from_u8(self.state.mode.load(Ordering::SeqCst))
    }

    /// Sets the mode; going down cuts every open connection.
    pub fn set_mode(&self, mode: LinkMode) {
        self.state.mode.store(mode as u8, Ordering::SeqCst);
        if mode == LinkMode::Down {
            for handle in self.state.open.lock().unwrap().drain(..) {
                handle.abort();
            }
        }
    }

    /// A delay before each chunk passes, both ways.
    pub fn set_delay(&self, delay: Duration) {
        self.state
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Cuts the next connection after `bytes` from the server.
    pub fn cut_next_after(&self, bytes: u64) {
        self.state.cut_next.store(bytes, Ordering::SeqCst);
    }

    /// Back to a plain link: up, no delay, no cut pending.
    pub fn heal(&self) {
        self.set_mode(LinkMode::Up);
        self.set_delay(Duration::ZERO);
        self.state.cut_next.store(NEVER, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
        for handle in self.state.open.lock().unwrap().drain(..) {
            handle.abort();
        }
    }
}

/// Waits while the link is stalled; false when it is down.
async fn passable(state: &LinkState) -> bool {
    loop {
        match LinkMode::from_u8(state.mode.load(Ordering::SeqCst)) {
            LinkMode::Up => break,
            LinkMode::Down => return false,
            LinkMode::Stall => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    true
}

/// The first server that accepts, starting from the next in turn.
async fn connect(state: &LinkState) -> Option<TcpStream> {
    let n = state.upstreams.len();
    let first = state.next.fetch_add(1, Ordering::SeqCst);
    for i in 0..n {
        if let Ok(stream) = TcpStream::connect(state.upstreams[(first + i) % n]).await {
            return Some(stream);
        }
    }
    None
}

async fn relay(client: TcpStream, state: Arc<LinkState>) {
    if !passable(&state).await {
        return;
    }
    let Some(server) = connect(&state).await else {
        return;
    };
    let limit = state.cut_next.swap(NEVER, Ordering::SeqCst);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up_state = state.clone();
    let upward = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !passable(&up_state).await || server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downward = async move {
        let mut buf = vec![0u8; 16 * 1024];
        let mut passed = 0u64;
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !passable(&state).await {
                break;
            }
            let allowed = (limit - passed).min(n as u64) as usize;
            if client_write.write_all(&buf[..allowed]).await.is_err() {
                break;
            }
            passed += allowed as u64;
            if passed >= limit {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
    }
}
