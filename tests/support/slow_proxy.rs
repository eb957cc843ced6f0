//! A loopback proxy in front of the moto server that holds every answer
//! back for a while and remembers every request: a sweep then takes long
//! enough to be killed at a chosen point (after its first change, say),
//! and the test can count the calls that changed something.
//!
//! One request per connection, as moto answers (`Connection: close`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One request as the proxy saw it: its operation (the `X-Amz-Target`
/// header, or the query `Action=`) and its body.
#[derive(Clone, Debug)]
pub struct Call {
    pub operation: String,
    pub body: String,
}

pub struct SlowProxy {
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    answered: Arc<AtomicUsize>,
    mutating: &'static [&'static str],
}

impl SlowProxy {
    /// Forwards to `upstream` (host:port), each answer `delay` late;
    /// operations named in `mutating` are counted once answered.
    pub fn start(upstream: &str, delay: Duration, mutating: &'static [&'static str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("address"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(AtomicUsize::new(0));
        let (upstream, c, a) = (upstream.trim_start_matches("http://").to_string(), Arc::clone(&calls), Arc::clone(&answered));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let (upstream, calls, answered) = (upstream.clone(), Arc::clone(&c), Arc::clone(&a));
                std::thread::spawn(move || {
                    let _ = forward(client, &upstream, delay, &calls, &answered, mutating);
                });
            }
        });
        Self { endpoint, calls, answered, mutating }
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// How many changing calls were answered so far.
    pub fn changes_answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }

    /// How many calls of `operation` named `name` (as a JSON string or a
    /// form value) in their body.
    pub fn count(&self, operation: &str, name: &str) -> usize {
        let quoted = format!("\"{name}\"");
        self.calls().iter().filter(|c| c.operation == operation && (c.body.contains(&quoted) || c.body.contains(&format!("={name}&")))).count()
    }

    /// The operations this proxy counts as changes.
    pub fn mutating(&self) -> &'static [&'static str] {
        self.mutating
    }
}

fn forward(mut client: TcpStream, upstream: &str, delay: Duration, calls: &Mutex<Vec<Call>>, answered: &AtomicUsize, mutating: &[&str]) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_request(&mut client)?;
    let text = String::from_utf8_lossy(&request).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let target = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("x-amz-target")).map(|(_, v)| v.trim().to_string()));
    let action = body.split('&').find_map(|kv| kv.strip_prefix("Action=")).map(str::to_string);
    let operation = target.or(action).unwrap_or_default();
    let operation = operation.rsplit('.').next().unwrap_or_default().to_string();
    if let Ok(mut c) = calls.lock() {
        c.push(Call { operation: operation.clone(), body: body.to_string() });
    }
    let mut server = TcpStream::connect(upstream)?;
    server.write_all(&request)?;
    let mut response = Vec::new();
    server.read_to_end(&mut response)?;
    std::thread::sleep(delay);
    client.write_all(&response)?;
    client.flush()?;
    if mutating.contains(&operation.as_str()) {
        answered.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

/// The request head and its `Content-Length` body.
fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = client.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(buf);
        }
    }
}
