//! The one HTTP/1.1 server loop, body helpers and free-port finder that every stand-in shares.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Every response body here is small and complete before it is sent.
pub type Body = Full<Bytes>;

/// Larger than any Lambda payload (6 MB), so a request is never cut short by the tools themselves.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// A running server: its address, and the task that serves it (aborted on drop, so a test's
/// servers end with the test).
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Server {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `addr` (port 0: the system picks a free one) and serves each connection with
/// `handler` on its own task, so any number of clients (Runtime API pollers, browser
/// connections) are served at once.
pub async fn serve<H, F>(addr: SocketAddr, handler: H) -> std::io::Result<Server>
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let handler = Arc::new(handler);
    let task = tokio::spawn(async move {
        loop {
            // An accept error (say, out of file descriptors) is passing: keep serving.
            let Ok((stream, peer)) = listener.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let handler = handler.clone();
                    async move { Ok::<_, Infallible>(handler(request, peer).await) }
                });
                // A client that goes away mid-request is its own business.
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server { addr, task })
}

/// A free loopback port, for programs that cannot bind port 0 themselves and report it (moto).
/// The port is released before it is returned, so another process could take it first: good
/// enough on a test machine, and the only such finder in the repository.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

/// Reads a whole request body, refusing one over `MAX_BODY`.
pub async fn read_body(body: Incoming) -> Result<Bytes, String> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) => Err(format!("unreadable request body: {e}")),
    }
}

pub fn respond(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    respond(status, "application/json", value.to_string())
}

pub fn text(status: StatusCode, message: impl Into<String>) -> Response<Body> {
    respond(status, "text/plain; charset=utf-8", message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn serves_concurrent_clients_and_stops_on_drop() {
        let server = serve("127.0.0.1:0".parse().unwrap(), |request, _| async move {
            let path = request.uri().path().to_owned();
            if path == "/slow" {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
            text(StatusCode::OK, path)
        })
        .await
        .unwrap();
        let url = server.url();
        let client = reqwest::Client::new();
        // The slow request must not hold up the fast one: each connection has its own task.
        let slow = tokio::spawn({
            let (client, url) = (client.clone(), url.clone());
            async move { client.get(format!("{url}/slow")).send().await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let fast = client.get(format!("{url}/fast")).send().await.unwrap();
        assert_eq!(fast.text().await.unwrap(), "/fast");
        assert!(
            !slow.is_finished(),
            "the fast answer came while the slow one waited"
        );
        assert_eq!(slow.await.unwrap().unwrap().text().await.unwrap(), "/slow");

        let addr = server.addr;
        drop(server);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(port > 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }
}
