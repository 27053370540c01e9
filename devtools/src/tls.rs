//! TLS on loopback for the benchmark's TLS mode: a throwaway certificate authority made with
//! Debian's `openssl` at run time (never committed), a certificate for `localhost` and
//! `127.0.0.1` that it signs, and a TLS terminator that fronts any plain TCP stand-in (moto, the
//! identity provider, Returning.AI), recording when each connection arrived and when its
//! handshake finished.
//!
//! The function is made to trust the CA the way a user's own CA would be trusted: a bundle of
//! the system's roots plus this CA, named by `SSL_CERT_FILE`, which rustls-native-certs (read by
//! both reqwest's platform verifier and the AWS SDK's default HTTPS client) honours.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

/// Where Debian (and Ubuntu) keep the system's roots; Amazon Linux's is
/// `/etc/pki/tls/certs/ca-bundle.crt`.
pub const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
];

/// A throwaway CA and the server certificate it signed, in `dir`.
pub struct ThrowawayCa {
    pub dir: PathBuf,
    /// The CA's certificate alone (PEM).
    pub ca_pem: PathBuf,
    /// The system's roots followed by the CA: the value for `SSL_CERT_FILE`.
    pub bundle: PathBuf,
    server_pem: PathBuf,
    server_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl: {e} (Debian's openssl package)"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl ThrowawayCa {
    /// Makes a fresh CA (RSA 2048, valid two days, as a public CA's RSA chain) and a server
    /// certificate for `localhost` and `127.0.0.1`, in `dir`.
    pub fn generate(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=rai-dev throwaway test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        )?;
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        )?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .map_err(|e| e.to_string())?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "2",
                "-extfile",
                "server.ext",
            ],
        )?;
        let ca_pem = dir.join("ca.pem");
        let mut bundle = SYSTEM_BUNDLES
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        bundle.extend(std::fs::read(&ca_pem).map_err(|e| e.to_string())?);
        let bundle_path = dir.join("bundle.pem");
        std::fs::write(&bundle_path, bundle).map_err(|e| e.to_string())?;
        Ok(Self {
            dir: dir.to_owned(),
            ca_pem,
            bundle: bundle_path,
            server_pem: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        })
    }

    /// The server side: the server certificate and its key.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let chain = CertificateDer::pem_file_iter(&self.server_pem)
            .map_err(|e| e.to_string())?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_file(&self.server_key).map_err(|e| e.to_string())?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| e.to_string())?;
        Ok(Arc::new(config))
    }
}

/// One connection through a terminator: when it was accepted, and when its handshake ended
/// (`None`: it failed).
#[derive(Debug, Clone, Copy)]
pub struct Handshake {
    pub accepted: Instant,
    pub done: Option<Instant>,
}

/// A TLS terminator in front of a plain TCP `backend`.
pub struct TlsFront {
    pub addr: SocketAddr,
    handshakes: Arc<Mutex<Vec<Handshake>>>,
    task: JoinHandle<()>,
}

impl TlsFront {
    pub async fn start(
        backend: SocketAddr,
        config: Arc<rustls::ServerConfig>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let handshakes = Arc::new(Mutex::new(Vec::new()));
        let seen = handshakes.clone();
        let acceptor = TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                };
                let accepted = Instant::now();
                let _ = stream.set_nodelay(true);
                let (acceptor, seen) = (acceptor.clone(), seen.clone());
                tokio::spawn(async move {
                    let tls = acceptor.accept(stream).await;
                    let done = tls.is_ok().then(Instant::now);
                    seen.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push(Handshake { accepted, done });
                    let Ok(mut tls) = tls else { return };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = plain.set_nodelay(true);
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(Self {
            addr,
            handshakes,
            task,
        })
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// Every connection so far, in the order their handshakes ended.
    pub fn handshakes(&self) -> Vec<Handshake> {
        self.handshakes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net;
    use hyper::StatusCode;

    #[tokio::test]
    async fn a_client_that_trusts_the_bundle_reaches_the_backend_through_tls() {
        let dir = std::env::temp_dir().join(format!("rai-dev-tls-test-{}", std::process::id()));
        let ca = ThrowawayCa::generate(&dir).unwrap();
        let backend = net::serve("127.0.0.1:0".parse().unwrap(), |_, _| async {
            net::text(StatusCode::OK, "behind tls")
        })
        .await
        .unwrap();
        let front = TlsFront::start(backend.addr, ca.server_config().unwrap())
            .await
            .unwrap();
        let ca_cert = reqwest::Certificate::from_pem(&std::fs::read(&ca.ca_pem).unwrap()).unwrap();
        let client = reqwest::Client::builder()
            .tls_certs_only([ca_cert])
            .build()
            .unwrap();
        let body = client
            .get(format!("{}/x", front.url()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "behind tls");
        let handshakes = front.handshakes();
        assert_eq!(handshakes.len(), 1);
        assert!(handshakes[0].done.unwrap() >= handshakes[0].accepted);
        // A client without the CA is refused.
        assert!(
            reqwest::Client::builder()
                .tls_certs_only([])
                .build()
                .unwrap()
                .get(front.url())
                .send()
                .await
                .is_err()
        );
        let bundle = std::fs::read_to_string(&ca.bundle).unwrap();
        assert!(bundle.ends_with(&std::fs::read_to_string(&ca.ca_pem).unwrap()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
