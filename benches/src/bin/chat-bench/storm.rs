//! The reconnect storm: every connection loses its server at once (it is restarted by whoever
//! runs the tool) and all of them come back together with `since`, asking for the lines said
//! while they were away. How long until every one has them?

use crate::net::{self, Ws};
use crate::report;
use crate::run::Target;
use async_tungstenite::tungstenite::client::IntoClientRequest;
use async_tungstenite::tungstenite::Message;
use futures_util::StreamExt;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;

/// What the tool prints on stderr when every connection has the seed line: restart the
/// server now.
pub const READY: &str = "chat-bench: storm ready: restart the server";

pub async fn storm(
    target: &Target,
    n: usize,
    missed: u32,
    patience: f64,
) -> Result<serde_json::Value, String> {
    // One JSON connection learns the id every other connection will resume from.
    let (mut observer, seed) = seed(target).await?;
    let (mut conns, connect) = crate::run::connect_all(target, n).await?;
    for ws in &mut conns {
        until(ws, |l| l.ends_with("]: storm seed")).await?;
    }
    eprintln!("{READY}");
    // The server goes: every connection ends (1001 from a clean stop, or a reset).
    let gone = Instant::now();
    for ws in conns.iter_mut().chain(std::iter::once(&mut observer)) {
        while let Some(Ok(_)) = ws.next().await {}
    }
    drop(conns);
    // It comes back: a talker says what the others miss.
    let deadline = Instant::now() + Duration::from_secs_f64(patience);
    let mut talker = loop {
        match net::connect(target.addr, &target.path, None).await {
            Ok((ws, _)) => break ws,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => return Err(format!("the server did not come back: {e}")),
        }
    };
    let back_after = gone.elapsed();
    for chunk in (0..missed).collect::<Vec<_>>().chunks(20) {
        let frame: Vec<String> = chunk.iter().map(|i| format!("missed {i}")).collect();
        talker
            .send(Message::text(frame.join("\n")))
            .await
            .map_err(|e| format!("talker: {e}"))?;
    }
    let mut heard = 0;
    until(&mut talker, |l| {
        heard += u32::from(l.contains("]: missed "));
        heard == missed
    })
    .await?;

    // The storm: everyone at once, resuming after the seed.
    let started = Instant::now();
    let path = format!("{}?since={seed}", target.path);
    let mut times = report::histogram();
    let mut failed = 0;
    let mut done = futures_util::stream::iter(0..n)
        .map(|i| {
            let path = path.clone();
            async move {
                let (mut ws, _) =
                    net::connect(target.addr, &path, net::source(i, target.sources)).await?;
                let mut got = 0;
                until(&mut ws, |l| {
                    got += u32::from(l.contains("]: missed "));
                    got == missed
                })
                .await?;
                Ok::<_, String>((started.elapsed(), ws))
            }
        })
        .buffer_unordered(n.max(1));
    let mut back = Vec::with_capacity(n);
    while let Some(result) = done.next().await {
        match result {
            Ok((took, ws)) => {
                let _ = times.record(took.as_micros() as u64);
                back.push(ws);
            }
            Err(e) => {
                failed += 1;
                eprintln!("chat-bench: a resume failed: {e}");
            }
        }
    }
    let all = started.elapsed();
    Ok(json!({
        "mode": "storm",
        "connections": n,
        "missed_lines": missed,
        "connect": connect,
        "server_back_after_s": back_after.as_secs_f64(),
        "all_resumed_s": all.as_secs_f64(),
        "resumed": report::percentiles(&times),
        "failed": failed,
    }))
}

/// The JSON connection that says the seed line; returns it and the seed's id.
async fn seed(target: &Target) -> Result<(Ws, u64), String> {
    let url = format!("{}://{}{}", net::scheme(), target.addr, target.path);
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "chat.v1.json".parse().expect("a header value"),
    );
    let stream = TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut ws, _) = async_tungstenite::client_async(request, net::wrap(stream).await?)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    ws.send(Message::text("storm seed"))
        .await
        .map_err(|e| e.to_string())?;
    let mut id = None;
    until(&mut ws, |l| {
        let v: serde_json::Value = serde_json::from_str(l).unwrap_or_default();
        if v["text"] == "storm seed" {
            id = v["id"].as_u64();
        }
        id.is_some()
    })
    .await?;
    Ok((ws, id.expect("until returned")))
}

/// Reads text lines until `done` says so.
async fn until(ws: &mut Ws, mut done: impl FnMut(&str) -> bool) -> Result<(), String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if done(&t) => return Ok(()),
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("closed".into()),
        }
    }
}
