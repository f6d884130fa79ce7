//! The CPU floor of a paced HTTP client on this machine, for the issue-3 "CPU per request" target.
//!
//! Sends `N` chat requests to a chat-completions server (our mock in another process) from one
//! tokio worker thread, released `rate * slot` at a time every `slot` seconds (or all at once
//! with rate 0), over `conc` keep-alive connections, and prints the process CPU per request.
//! Three clients that do nothing else:
//!
//! * `raw`: hand-written HTTP/1.1 on `tokio::net::TcpStream` (the floor of any tokio client);
//! * `hyper`: hyper's own HTTP/1.1 connections (`hyper::client::conn::http1`), one per worker, with
//!   the connection driven in the worker's task (what reqwest is built on, without its layers);
//! * `reqwest`: a bare `reqwest::Client` built with our features (the floor of our HTTP stack).
//!
//! ```text
//! python -m liter_llm.testing serve --port 8761 --no-record --latency-ms 50 &
//! cargo run --release -- 8761 3000 150 0.05 256 reqwest   # port n rate slot conc client
//! ```
//!
//! The runtime is a one-worker multi-thread runtime, as in the package; `FLOOR_RT=current` uses a
//! current-thread runtime instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex, Semaphore};

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn body(i: usize) -> String {
    format!(r#"{{"model":"gpt-4o-mini","messages":[{{"role":"user","content":"prompt {i}"}}],"max_tokens":32}}"#)
}

/// One request and its whole response over a kept-alive connection.
async fn raw_exchange(conn: &mut TcpStream, buf: &mut Vec<u8>, port: u16, i: usize) {
    let body = body(i);
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nauthorization: Bearer k\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(format!("{head}{body}").as_bytes()).await.expect("write");
    buf.clear();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("content-length"));
            if buf.len() >= end + 4 + len {
                return;
            }
        }
    }
}

fn main() {
    let runtime = if std::env::var("FLOOR_RT").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
    };
    runtime.expect("runtime").block_on(async_main());
}

async fn async_main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, name: &str| args.get(i).unwrap_or_else(|| panic!("missing argument {name}"));
    let port: u16 = arg(1, "port").parse().expect("port");
    let n: usize = arg(2, "n").parse().expect("n");
    let rate: f64 = arg(3, "rate").parse().expect("rate");
    let slot: f64 = arg(4, "slot").parse().expect("slot");
    let conc: usize = arg(5, "conc").parse().expect("conc");
    let kind = arg(6, "client").clone();
    assert!(
        ["raw", "hyper", "reqwest"].contains(&kind.as_str()),
        "client: raw, hyper or reqwest"
    );
    let use_reqwest = kind == "reqwest";
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = reqwest::Url::parse(&format!("http://127.0.0.1:{port}/v1/chat/completions")).expect("url");

    let (tx, rx) = mpsc::unbounded_channel::<usize>();
    let rx = Arc::new(Mutex::new(rx));
    let done = Arc::new(Semaphore::new(0));
    let ready = Arc::new(Semaphore::new(0));
    for _ in 0..conc {
        let (rx, done, ready, http, url) = (rx.clone(), done.clone(), ready.clone(), http.clone(), url.clone());
        if kind == "hyper" {
            tokio::spawn(hyper_worker(port, rx, done, ready));
            continue;
        }
        tokio::spawn(async move {
            let mut conn = None;
            let mut buf = Vec::with_capacity(8192);
            // Warm up: one request per worker opens its connection before the clock starts.
            if use_reqwest {
                http.post(url.clone())
                    .body(body(0))
                    .send()
                    .await
                    .expect("send")
                    .bytes()
                    .await
                    .expect("body");
            } else {
                let mut c = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
                c.set_nodelay(true).expect("nodelay");
                raw_exchange(&mut c, &mut buf, port, 0).await;
                conn = Some(c);
            }
            ready.add_permits(1);
            loop {
                let next = rx.lock().await.recv().await;
                let Some(i) = next else { break };
                match &mut conn {
                    Some(c) => raw_exchange(c, &mut buf, port, i).await,
                    None => {
                        let resp = http
                            .post(url.clone())
                            .header("authorization", "Bearer k")
                            .header("content-type", "application/json")
                            .body(body(i))
                            .send()
                            .await
                            .expect("send");
                        assert!(!resp.bytes().await.expect("body").is_empty());
                    }
                }
                done.add_permits(1);
            }
        });
    }
    drop(ready.acquire_many(conc as u32).await.expect("ready"));
    tokio::time::sleep(Duration::from_millis(300)).await;

    let (cpu, started) = (cpu_seconds(), Instant::now());
    if rate == 0.0 {
        (0..n).for_each(|i| tx.send(i).expect("queue"));
    } else {
        let group = ((rate * slot).round() as usize).max(1);
        let mut tick = tokio::time::interval(Duration::from_secs_f64(group as f64 / rate));
        for start in (0..n).step_by(group) {
            tick.tick().await;
            (start..(start + group).min(n)).for_each(|i| tx.send(i).expect("queue"));
        }
    }
    drop(done.acquire_many(n as u32).await.expect("done"));
    let (cpu, wall) = (cpu_seconds() - cpu, started.elapsed().as_secs_f64());
    println!(
        "{kind}: rate {rate}/s slot {slot}s conc {conc}: {n} requests, wall {wall:.2}s, CPU {:.1} us/request",
        cpu / n as f64 * 1e6
    );
}

/// One hyper HTTP/1.1 connection: requests from the queue, the connection polled in this task.
async fn hyper_worker(
    port: u16,
    rx: Arc<Mutex<mpsc::UnboundedReceiver<usize>>>,
    done: Arc<Semaphore>,
    ready: Arc<Semaphore>,
) {
    use http_body_util::{BodyExt, Full};
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let (mut send, conn) =
        hyper::client::conn::http1::handshake::<_, Full<bytes::Bytes>>(hyper_util::rt::TokioIo::new(tcp))
            .await
            .expect("handshake");
    let mut conn = std::pin::pin!(conn);
    let host = format!("127.0.0.1:{port}");
    let mut first = true;
    loop {
        let i = if first {
            0
        } else {
            let next = tokio::select! {
                next = async { rx.lock().await.recv().await } => next,
                _ = conn.as_mut() => panic!("connection closed"),
            };
            let Some(i) = next else { break };
            i
        };
        let request = hyper::Request::post("/v1/chat/completions")
            .header("host", &host)
            .header("authorization", "Bearer k")
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body(i))))
            .expect("request");
        let exchange = async {
            let response = send.send_request(request).await.expect("send");
            response.into_body().collect().await.expect("body").to_bytes()
        };
        let bytes = tokio::select! {
            bytes = exchange => bytes,
            _ = conn.as_mut() => panic!("connection closed"),
        };
        assert!(!bytes.is_empty());
        if first {
            first = false;
            ready.add_permits(1);
        } else {
            done.add_permits(1);
        }
    }
}
