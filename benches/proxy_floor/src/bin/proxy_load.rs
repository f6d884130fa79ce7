//! The load generator of `benches/bench_proxy.py`: the same cheap client for every proxy.
//!
//! `--conns` kept-alive HTTP/1.1 connections (hand-written on `tokio::net::TcpStream`, one
//! current-thread runtime) each send the same `POST /v1/chat/completions` body one after another.
//! Every connection first does `--warmup` requests; then the clock starts and they go on until
//! `--duration` seconds have passed or `--max-requests` were sent. Each response is read whole
//! (content-length, chunked or until close), must be a 200, and must contain `--expect` (a chat) or
//! at least `--expect-chunks` SSE `data:` events before `[DONE]` (a stream, `--stream`).
//!
//! Around the measured window it reads `/proc` for each `--watch NAME=PID` (the process and its
//! descendants): CPU seconds used in the window, the largest VmRSS seen in it, VmHWM; and its own
//! CPU and the whole machine's busy time in the window. A request without a whole answer within
//! `--timeout` seconds (default 60) is an error. Prints one JSON line:
//! requests, errors (wrong or failed answers, the first one quoted), wall, requests/s, latency
//! percentiles in µs (per request; per whole stream with `--stream`), data events, and the watch
//! figures. Only 127.0.0.1 is ever addressed.
//!
//! ```text
//! proxy-load --port 4000 --key sk-x --conns 64 --duration 5 --warmup 20 --model bench \
//!     --prompt "hi" --expect hi --watch proxy=1234
//! ```

use std::collections::HashMap;
use std::fs;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// The command line.
struct Args {
    port: u16,
    path: String,
    key: String,
    conns: usize,
    duration: Duration,
    max_requests: usize,
    warmup: usize,
    stream: bool,
    expect: String,
    expect_chunks: usize,
    body: String,
    timeout: Duration,
    watch: Vec<(String, u32)>,
}

impl Args {
    fn parse() -> Args {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let mut values: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut stream = false;
        let mut i = 0;
        while i < args.len() {
            if args[i] == "--stream" {
                stream = true;
                i += 1;
                continue;
            }
            let value = args.get(i + 1).unwrap_or_else(|| panic!("{} needs a value", args[i]));
            values.entry(args[i].as_str()).or_default().push(value);
            i += 2;
        }
        let one = |name: &str, default: Option<&str>| -> String {
            values
                .get(name)
                .and_then(|v| v.last().copied())
                .or(default)
                .unwrap_or_else(|| panic!("missing {name}"))
                .to_owned()
        };
        let num = |name: &str, default: &str| -> f64 { one(name, Some(default)).parse().expect(name) };
        let model = one("--model", None);
        let prompt = one("--prompt", None);
        let body = if stream {
            json!({"model": model, "messages": [{"role": "user", "content": prompt}], "stream": true,
                   "stream_options": {"include_usage": true}})
        } else {
            json!({"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": 64})
        };
        let watch = values
            .get("--watch")
            .into_iter()
            .flatten()
            .map(|w| {
                let (name, pid) = w.split_once('=').expect("--watch NAME=PID");
                (name.to_owned(), pid.parse().expect("--watch NAME=PID"))
            })
            .collect();
        Args {
            port: one("--port", None).parse().expect("--port"),
            path: one("--path", Some("/v1/chat/completions")),
            key: one("--key", Some("")),
            conns: num("--conns", "1") as usize,
            duration: Duration::from_secs_f64(num("--duration", "5")),
            max_requests: num("--max-requests", "1e12") as usize,
            warmup: num("--warmup", "10") as usize,
            stream,
            expect: one("--expect", Some("")),
            expect_chunks: num("--expect-chunks", "0") as usize,
            body: body.to_string(),
            timeout: Duration::from_secs_f64(num("--timeout", "60")),
            watch,
        }
    }
}

// ===== /proc readings =====

const CLOCK_TICKS: f64 = 100.0; // USER_HZ on Linux

/// (pid, parent pid, user + system ticks of itself, ticks of its reaped children).
fn stat(pid: u32) -> Option<(u32, u32, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    Some((pid, u32::try_from(n(1)?).ok()?, n(11)? + n(12)?, n(13)? + n(14)?))
}

/// `root` and every live descendant.
fn tree(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32, u64, u64)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter_map(stat)
        .collect();
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let parent = out[i];
        out.extend(all.iter().filter(|s| s.1 == parent).map(|s| s.0));
        i += 1;
    }
    out
}

/// CPU seconds of `root`'s tree: live processes plus the children its members reaped.
fn tree_cpu(root: u32) -> f64 {
    let ticks: u64 = tree(root).into_iter().filter_map(stat).map(|s| s.2 + s.3).sum();
    ticks as f64 / CLOCK_TICKS
}

/// A `/proc/PID/status` figure in kB, summed over `pids`.
fn status_kb(pids: &[u32], field: &str) -> u64 {
    pids.iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            let line = s.lines().find(|l| l.starts_with(field))?;
            line[field.len()..]
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .sum()
}

/// Busy CPU seconds of the whole machine (all CPUs, `/proc/stat`: user, nice, system, irq, softirq).
fn machine_busy() -> f64 {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum::<u64>() as f64 / CLOCK_TICKS
}

// ===== HTTP/1.1 =====

/// One kept-alive connection and its read buffer.
struct Conn {
    port: u16,
    timeout: Duration,
    request: Vec<u8>,
    tcp: Option<TcpStream>,
    buf: Vec<u8>,
}

/// A whole answer: status and decoded body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Conn {
    fn new(args: &Args) -> Conn {
        let head = format!(
            "POST {} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            args.path,
            args.port,
            args.key,
            args.body.len()
        );
        Conn {
            port: args.port,
            timeout: args.timeout,
            request: [head.as_bytes(), args.body.as_bytes()].concat(),
            tcp: None,
            buf: Vec::with_capacity(1 << 16),
        }
    }

    async fn exchange(&mut self) -> Result<Answer, String> {
        if self.tcp.is_none() {
            let tcp = TcpStream::connect(("127.0.0.1", self.port))
                .await
                .map_err(|e| format!("connect: {e}"))?;
            tcp.set_nodelay(true).map_err(|e| e.to_string())?;
            self.tcp = Some(tcp);
            self.buf.clear();
        }
        let timeout = self.timeout;
        let result = match tokio::time::timeout(timeout, self.exchange_on_open()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no whole answer within {timeout:?}")),
        };
        if !matches!(result, Ok((_, true))) {
            self.tcp = None; // an error, or the server closes: the next request opens a new connection
        }
        result.map(|(answer, _)| answer)
    }

    /// The answer and whether the connection stays open.
    async fn exchange_on_open(&mut self) -> Result<(Answer, bool), String> {
        let tcp = self.tcp.as_mut().ok_or("no connection")?;
        tcp.write_all(&self.request).await.map_err(|e| format!("write: {e}"))?;
        let end = loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            read_more(tcp, &mut self.buf).await?;
        };
        let head = String::from_utf8_lossy(&self.buf[..end]).to_ascii_lowercase();
        self.buf.drain(..end + 4);
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or("bad status line")?;
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')).map(str::trim))
        };
        let keep = header("connection") != Some("close");
        let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            read_chunked(tcp, &mut self.buf).await?
        } else if let Some(len) = header("content-length") {
            let len: usize = len.parse().map_err(|_| "bad content-length")?;
            while self.buf.len() < len {
                read_more(tcp, &mut self.buf).await?;
            }
            self.buf.drain(..len).collect()
        } else {
            while tcp.read_buf(&mut self.buf).await.map_err(|e| e.to_string())? > 0 {}
            return Ok((
                Answer {
                    status,
                    body: std::mem::take(&mut self.buf),
                },
                false,
            ));
        };
        Ok((Answer { status, body }, keep))
    }
}

async fn read_more(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(), String> {
    match tcp.read_buf(buf).await {
        Ok(0) => Err("the server closed the connection".to_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Decodes a chunked body from `buf` (refilled from `tcp`), leaving what follows it in `buf`.
async fn read_chunked(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            read_more(tcp, buf).await?;
        };
        let size_text = String::from_utf8_lossy(&buf[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| format!("bad chunk size {size_text:?}"))?;
        while buf.len() < line_end + 2 + size + 2 {
            read_more(tcp, buf).await?;
        }
        body.extend_from_slice(&buf[line_end + 2..line_end + 2 + size]);
        buf.drain(..line_end + 2 + size + 2);
        if size == 0 {
            return Ok(body); // no trailers are sent by these servers
        }
    }
}

// ===== checks =====

/// SSE `data:` events before `[DONE]`.
fn data_events(body: &[u8]) -> usize {
    body.split(|b| *b == b'\n')
        .filter(|l| l.starts_with(b"data:") && !l.windows(6).any(|w| w == b"[DONE]"))
        .count()
}

/// None when the answer is what was asked for, else why not.
fn check(args: &Args, answer: &Answer) -> (Option<String>, usize) {
    if answer.status != 200 {
        let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned();
        return (Some(format!("status {}: {text}", answer.status)), 0);
    }
    if args.stream {
        let events = data_events(&answer.body);
        if events < args.expect_chunks {
            return (
                Some(format!("{events} data events, expected {}", args.expect_chunks)),
                events,
            );
        }
        return (None, events);
    }
    let found = args.expect.is_empty()
        || answer
            .body
            .windows(args.expect.len())
            .any(|w| w == args.expect.as_bytes());
    if found {
        (None, 0)
    } else {
        let text = String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)]).into_owned();
        (Some(format!("reply without {:?}: {text}", args.expect)), 0)
    }
}

// ===== the run =====

/// What one connection saw in the measured window.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: usize,
    warmup_errors: usize,
    first_error: Option<String>,
    events: usize,
}

async fn connection(args: Arc<Args>, barrier: Arc<Barrier>, sent: Arc<AtomicUsize>, stop: Arc<AtomicBool>) -> Tally {
    let mut conn = Conn::new(&args);
    let mut tally = Tally::default();
    for _ in 0..args.warmup {
        if let Err(e) = conn.exchange().await {
            tally.warmup_errors += 1;
            tally.first_error.get_or_insert(format!("warm-up: {e}"));
        }
    }
    barrier.wait().await;
    while !stop.load(Ordering::Relaxed) && sent.fetch_add(1, Ordering::Relaxed) < args.max_requests {
        let started = Instant::now();
        let outcome = conn.exchange().await;
        let took = started.elapsed();
        let problem = match outcome {
            Ok(answer) => {
                let (problem, events) = check(&args, &answer);
                tally.events += events;
                problem
            }
            Err(e) => Some(e),
        };
        match problem {
            None => tally
                .latencies_us
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
            Some(p) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(p);
            }
        }
    }
    tally
}

fn percentile(sorted: &[u32], p: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn main() {
    let args = Arc::new(Args::parse());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let line = runtime.block_on(run(args));
    println!("{line}");
}

async fn run(args: Arc<Args>) -> serde_json::Value {
    let barrier = Arc::new(Barrier::new(args.conns + 1));
    let sent = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..args.conns)
        .map(|_| tokio::spawn(connection(args.clone(), barrier.clone(), sent.clone(), stop.clone())))
        .collect();
    barrier.wait().await;
    let cpu_before: Vec<f64> = args.watch.iter().map(|(_, pid)| tree_cpu(*pid)).collect();
    let (busy_before, own_before) = (machine_busy(), tree_cpu(std::process::id()));
    let started = Instant::now();
    let timer = {
        let stop = stop.clone();
        let duration = args.duration;
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    // RSS under load: the largest VmRSS seen while the connections run, sampled every 200 ms.
    let sampler = {
        let (stop, watch) = (stop.clone(), args.watch.clone());
        tokio::spawn(async move {
            // The process trees as they are now: listing /proc on every sample would stall the connections.
            let trees: Vec<Vec<u32>> = watch.iter().map(|(_, pid)| tree(*pid)).collect();
            let mut peak = vec![0u64; watch.len()];
            while !stop.load(Ordering::Relaxed) {
                for (most, pids) in peak.iter_mut().zip(&trees) {
                    *most = (*most).max(status_kb(pids, "VmRSS:"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            peak
        })
    };
    let mut tallies = Vec::with_capacity(tasks.len());
    for task in tasks {
        tallies.push(task.await.expect("connection task"));
    }
    let wall = started.elapsed().as_secs_f64();
    timer.abort();
    stop.store(true, Ordering::Relaxed); // ended by --max-requests before --duration
    let under_load = sampler.await.expect("sampler");
    let (busy, own) = (machine_busy() - busy_before, tree_cpu(std::process::id()) - own_before);
    let mut watch = serde_json::Map::new();
    for (((name, pid), before), rss) in args.watch.iter().zip(cpu_before).zip(under_load) {
        watch.insert(
            name.clone(),
            json!({
                "cpu_s": tree_cpu(*pid) - before,
                "rss_kb": rss,
                "hwm_kb": status_kb(&tree(*pid), "VmHWM:"),
                "processes": tree(*pid).len(),
            }),
        );
    }
    let mut latencies: Vec<u32> = tallies.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let ok = latencies.len();
    let mean = if ok == 0 {
        None
    } else {
        Some(latencies.iter().map(|&l| f64::from(l)).sum::<f64>() / ok as f64)
    };
    json!({
        "conns": args.conns,
        "stream": args.stream,
        "requests": ok,
        "errors": tallies.iter().map(|t| t.errors).sum::<usize>(),
        "warmup_errors": tallies.iter().map(|t| t.warmup_errors).sum::<usize>(),
        "first_error": tallies.iter().find_map(|t| t.first_error.clone()),
        "wall_s": wall,
        "rps": ok as f64 / wall,
        "p50_us": percentile(&latencies, 50.0),
        "p90_us": percentile(&latencies, 90.0),
        "p99_us": percentile(&latencies, 99.0),
        "max_us": latencies.last(),
        "mean_us": mean,
        "events": tallies.iter().map(|t| t.events).sum::<usize>(),
        "watch": watch,
        "load_cpu_s": own,
        "machine_busy_s": busy,
    })
}
