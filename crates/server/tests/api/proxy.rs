//! A TCP proxy a test can cut and restore, to take PostgreSQL or Redis
//! "down" for one server without touching the real service; with a TLS
//! acceptor, it is also a TLS listener in front of a plain one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Forwards connections on a fresh local port to `upstream`.
    pub async fn start(upstream: &str) -> Proxy {
        Self::launch(upstream, None).await
    }

    /// Forwards connections on a fresh local port to `upstream`, ending
    /// TLS with `acceptor` first: a TLS listener in front of a server that
    /// has none (the broker).
    pub async fn start_tls(upstream: &str, acceptor: tokio_rustls::TlsAcceptor) -> Proxy {
        Self::launch(upstream, Some(acceptor)).await
    }

    async fn launch(upstream: &str, tls: Option<tokio_rustls::TlsAcceptor>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_links, upstream) = (up.clone(), links.clone(), upstream.to_owned());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accept_up.load(Ordering::SeqCst) {
                    drop(client); // refused, as a stopped server would
                    continue;
                }
                let (upstream, tls) = (upstream.clone(), tls.clone());
                let link = tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    match tls {
                        None => {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                        // A failed handshake (an unknown certificate) drops the client.
                        Some(acceptor) => {
                            if let Ok(mut client) = acceptor.accept(client).await {
                                let _ =
                                    tokio::io::copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                    }
                });
                accept_links.lock().await.push(link);
            }
        });
        Proxy { addr, up, links }
    }

    /// Drops every open connection and refuses new ones.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().await.drain(..) {
            link.abort();
        }
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
