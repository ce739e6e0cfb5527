//! A TCP proxy between kiosks and the server that injects faults: it can cut every connection
//! after a number of bytes from the server, and it keeps the bytes the clients sent (so a test
//! can see the requests, `Range` headers included).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// No cut: connections pass everything.
const NEVER: u64 = u64::MAX;

#[derive(Default)]
struct Faults {
    /// Bytes from the server a connection may pass before it is cut.
    cut_after: AtomicU64,
    /// Everything the clients sent, in arrival order.
    sent: Mutex<Vec<u8>>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    pub addr: SocketAddr,
    faults: Arc<Faults>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free local port in front of `upstream`, passing everything.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let faults = Arc::new(Faults::default());
        faults.cut_after.store(NEVER, Ordering::SeqCst);
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(relay(client, upstream, shared.clone()));
            }
        });
        FaultProxy { addr, faults, task }
    }

    /// The proxy's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Cuts each new connection after `bytes` from the server (`None`: never).
    pub fn cut_after(&self, bytes: Option<u64>) {
        self.faults
            .cut_after
            .store(bytes.unwrap_or(NEVER), Ordering::SeqCst);
    }

    /// What the clients sent so far, as text (requests are HTTP/1.1).
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.faults.sent.lock().unwrap()).into_owned()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn relay(client: TcpStream, upstream: SocketAddr, faults: Arc<Faults>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let limit = faults.cut_after.load(Ordering::SeqCst);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let recorder = faults.clone();
    let upward = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            recorder.sent.lock().unwrap().extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
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
    // The connection ends as soon as either side does (a cut closes both).
    tokio::select! {
        _ = upward => {}
        _ = downward => {}
    }
}
