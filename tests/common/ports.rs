//! Ports for the test servers, chosen so that no other test or outgoing connection can take one
//! while its server is stopped for a "server went away" test.

use std::fs;
use std::net::TcpListener;

/// `N` distinct free ports on 127.0.0.1 for servers the harness restarts on the same port
/// (Dovecot, the SMTP relay).
///
/// They come from just below the kernel's ephemeral range
/// (`/proc/sys/net/ipv4/ip_local_port_range`), never from `bind(0)`: the kernel hands out
/// ephemeral ports for every outgoing connection and every `bind(0)` of every parallel test, so a
/// port taken from that range and freed while a server is stopped for a "server went away" test
/// can be grabbed by someone else before the restart. Ports below the range are only ever taken
/// by another test picking the same random port (and every start retries on "address in use").
/// All listeners are held at once so the ports differ.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let (lo, hi) = listener_port_range();
    let mut held: Vec<TcpListener> = Vec::with_capacity(N);
    let mut tries = 0;
    while held.len() < N {
        tries += 1;
        assert!(tries < 10_000, "no free port on 127.0.0.1 in {lo}..{hi}");
        let port = lo + (random_u64() % u64::from(hi - lo)) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// The 16k ports below the ephemeral range (at least 1024..).
fn listener_port_range() -> (u16, u16) {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let hi = low.max(1024 + 4096);
    (hi.saturating_sub(16384).max(1024), hi)
}

/// Not cryptographic: distinct per call and per process, enough to spread port picks.
fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}
