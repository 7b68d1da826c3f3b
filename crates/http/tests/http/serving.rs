//! Connections a slow or hostile client opens cannot be held forever, nor
//! be more than the service serves at once.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use trizone_http::serve::{ConnectionLimits, serve_with};

/// A server answering `GET /` with `ok`, under `limits`; stops when the
/// returned sender is dropped.
async fn server(
    limits: ConnectionLimits,
) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(serve_with(
        listener,
        app,
        async move {
            let _ = stopped.await;
        },
        limits,
    ));
    (address, stop)
}

/// What the server sends until it closes the connection, or `None` if it
/// neither answers nor closes within `patience`.
async fn read_to_close(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await {
        Ok(_) => Some(String::from_utf8_lossy(&answer).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_disconnected() {
    let limits = ConnectionLimits {
        header_read: Duration::from_millis(300),
        ..ConnectionLimits::default()
    };
    let (address, _stop) = server(limits).await;
    let mut slow = TcpStream::connect(address).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    // One more header line well after the limit, as the attack did.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let _ = slow.write_all(b"x-one-more: line\r\n").await;
    let answer = read_to_close(&mut slow, Duration::from_secs(10))
        .await
        .expect("the connection stayed open");
    assert!(!answer.contains("200 OK"), "{answer}");

    // A client that sends its request promptly is served as before.
    let mut prompt = TcpStream::connect(address).await.unwrap();
    prompt
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut prompt, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let limits = ConnectionLimits {
        max_connections: 2,
        ..ConnectionLimits::default()
    };
    let (address, _stop) = server(limits).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut idle = TcpStream::connect(address).await.unwrap();
        // A request that keeps the connection alive: it is now being served.
        idle.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buffer = [0; 256];
        assert!(idle.read(&mut buffer).await.unwrap() > 0);
        held.push(idle);
    }
    let mut third = TcpStream::connect(address).await.unwrap();
    third
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_to_close(&mut third, Duration::from_millis(500)).await,
        None,
        "a third connection was served past the cap of two"
    );
    drop(held.pop());
    let answer = read_to_close(&mut third, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
}
