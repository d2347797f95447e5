//! `pgkeep metrics`: print the Prometheus metrics once (for node_exporter's textfile
//! collector from cron), and the minimal HTTP responder `pgkeep daemon --metrics ADDR` serves
//! them with (GET /metrics; one request per connection; no framework).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use color_eyre::eyre::{eyre, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::Context;
use crate::monitor::metrics;

/// Arguments of `pgkeep metrics`.
#[derive(Debug, Args)]
pub struct MetricsArgs {}

/// Runs `pgkeep metrics`: exit 0 even when the server is down (that is a metric).
pub async fn run(ctx: &Context, _args: MetricsArgs) -> Result<i32> {
    print!("{}", render(ctx).await?);
    Ok(0)
}

async fn render(ctx: &Context) -> Result<String> {
    let target = ctx.target().await?;
    let input = metrics::collect(&ctx.config, target.as_ref()).await;
    Ok(metrics::render(&input))
}

/// Binds `addr` (refusing with one line when it cannot) and serves the metrics until `stop`.
pub async fn serve(ctx: Context, addr: SocketAddr, stop: CancellationToken) -> Result<()> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        eyre!("cannot serve metrics on {addr} ({e}): choose a free port, e.g. --metrics 127.0.0.1:9187")
    })?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(60), answer(&ctx, stream)).await;
                    });
                }
            }
        }
    });
    Ok(())
}

/// Reads one request head and answers it.
async fn answer(ctx: &Context, mut stream: TcpStream) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("request timed out"))??;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => match render(ctx).await {
            Ok(b) => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", b),
            Err(e) => ("500 Internal Server Error", "text/plain", format!("{e}\n")),
        },
        ("GET", "/") => (
            "200 OK",
            "text/plain",
            "pgkeep metrics: GET /metrics\n".to_string(),
        ),
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "not found: GET /metrics\n".into(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".into()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
