//! The local control socket.
//!
//! sled lets only one process open the store, so while the daemon runs the CLI asks it over a
//! Unix socket instead. The protocol is one JSON request line, one JSON response line:
//! `{"ok":true,"data":…}` or `{"ok":false,"error":"…"}`. The socket is created mode 0600: it
//! exposes customer mail.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result, bail};
use tokio::net::{UnixListener, UnixStream};
use tracing::{debug, info, warn};

use crate::io::store::Store;
use crate::service::accounts::IngestStatuses;
use crate::service::requests::{self, Request};
use crate::service::settings::Settings;
use crate::service::shutdown::Shutdown;

/// Largest request line accepted; requests are tiny, so anything bigger is abuse.
const MAX_REQUEST: usize = 64 * 1024;

/// What the control socket answers with.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) store: Store,
    /// Reloadable settings (configuration, templates).
    pub(crate) live: crate::service::settings::Live,
    /// Where new settings are published (an import may bring the store's secret).
    pub(crate) publish: Arc<tokio::sync::watch::Sender<Arc<Settings>>>,
    pub(crate) ingest: IngestStatuses,
    pub(crate) sender: Option<Arc<Mutex<crate::service::metrics::SendStats>>>,
    /// Wakes the sender.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

/// Serves the control socket until shutdown.
pub(crate) async fn serve(path: &Path, shared: Shared, mut shutdown: Shutdown) -> Result<()> {
    if path.exists() {
        // A socket left by a killed daemon; we hold the store lock, so nobody else owns it.
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot bind control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (conn, _) = match r {
                    Ok(c) => c,
                    Err(e) => { warn!(error = %e, "control socket accept failed"); continue; }
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(conn, shared).await {
                        debug!(error = %format!("{e:#}"), "control request failed");
                    }
                });
            }
            () = shutdown.recv() => break,
        }
    }
    let _ = std::fs::remove_file(path);
    Ok(())
}

async fn handle(conn: UnixStream, shared: Shared) -> Result<()> {
    // Every request is blocking store work (and an export may be large), so the whole exchange
    // runs on a blocking thread with an ordinary socket. A client that stops reading (`supportd
    // export | less`, left alone) holds nothing but this thread, and only until the write
    // timeout drops it.
    let conn = conn.into_std()?;
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let limit = shared.live.borrow().config.control.write_timeout_secs;
    conn.set_write_timeout(Some(std::time::Duration::from_secs(limit.max(1))))?;
    let result = tokio::task::spawn_blocking(move || handle_blocking(conn, shared)).await?;
    if let Err(e) = &result
        && let Some(io) = e.downcast_ref::<std::io::Error>()
        && matches!(
            io.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    {
        warn!(
            timeout_secs = limit,
            "a control client stopped reading its answer; dropped it (control.write_timeout_secs)"
        );
    }
    result
}

fn handle_blocking(conn: std::os::unix::net::UnixStream, shared: Shared) -> Result<()> {
    use std::io::{BufRead, Read, Write};
    let mut line = String::new();
    std::io::BufReader::new((&conn).take(MAX_REQUEST as u64)).read_line(&mut line)?;
    let mut w = std::io::BufWriter::new(&conn);
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Export) => match shared.store.export_spooled() {
            Ok((mut spool, n)) => {
                debug!(records = n, "export spooled; sending it");
                w.write_all(b"{\"ok\":true,\"stream\":true}\n")?;
                std::io::copy(&mut spool, &mut w)?;
                w.flush()?;
                debug!(records = n, "export sent");
                return Ok(());
            }
            Err(e) => serde_json::json!({"ok": false, "error": format!("export failed: {e}")}),
        },
        Ok(req) => {
            let mut st = serde_json::to_value(shared.ingest.total())?;
            st["accounts"] = shared.ingest.json();
            if let Some(s) = &shared.sender {
                st["outbox"] = serde_json::to_value(s.lock().unwrap().clone())?;
            }
            let settings = shared.live.borrow().clone();
            let ctx = requests::Context {
                config: Some(&settings.config),
                templates: settings.templates.as_deref(),
                directory: Some(&settings.directory),
                status: Some(&st),
                wake: Some(&shared.wake),
            };
            match requests::answer(&shared.store, ctx, &req) {
                Ok(data) => {
                    if matches!(req, Request::Import { .. }) {
                        adopt_store_secret(&shared);
                    }
                    serde_json::json!({"ok": true, "data": data})
                }
                Err(e) => serde_json::json!({"ok": false, "error": format!("{e:#}")}),
            }
        }
        Err(e) => serde_json::json!({"ok": false, "error": format!("bad request: {e}")}),
    };
    serde_json::to_writer(&mut w, &reply)?;
    w.write_all(b"\n")?;
    w.flush()?;
    drop((w, reply));
    // An answer over many tickets (`tickets --all`, `report` without `--since`) frees what it
    // read, which the allocator keeps: with glibc's the benchmark measured 44 of the 157 MiB
    // such answers added at 100k tickets returned by a trim (the rest is sled's pages read for
    // them). Once per request.
    crate::io::heap::release_free_memory();
    Ok(())
}

/// After an import: sign for the imported store (its identity) with the secret the export
/// brought, if the configuration names none.
fn adopt_store_secret(shared: &Shared) {
    let current = shared.publish.borrow().clone();
    match current.with_store_secret(&shared.store) {
        Ok(Some(new)) => {
            shared.publish.send_replace(Arc::new(new));
            info!(
                "import: signing for the imported store (its identity and outbound secret) from now on"
            );
        }
        Ok(None) => {}
        Err(e) => {
            warn!(error = %format!("{e:#}"), "import: cannot read the store's outbound secret")
        }
    }
}

/// Connects to the daemon's socket; `None` when no daemon listens there.
fn connect(path: &Path) -> Result<Option<std::os::unix::net::UnixStream>> {
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(c) => Ok(Some(c)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("cannot reach {}", path.display())),
    }
}

/// Streams a daemon's export into `out`. `Ok(false)` means no daemon is listening.
pub(crate) fn export(path: &Path, out: &mut dyn std::io::Write) -> Result<bool> {
    use std::io::{BufRead, Write};
    let Some(mut conn) = connect(path)? else {
        return Ok(false);
    };
    let mut req = serde_json::to_vec(&Request::Export)?;
    req.push(b'\n');
    conn.write_all(&req)?;
    let mut reader = std::io::BufReader::new(conn);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let v: serde_json::Value =
        serde_json::from_str(&first).context("the daemon sent an unreadable answer")?;
    if v["ok"].as_bool() != Some(true) {
        bail!(
            "{}",
            v["error"]
                .as_str()
                .unwrap_or("the daemon refused the export")
        );
    }
    copy_export(&mut reader, out)?;
    Ok(true)
}

/// Copies an export stream to `out`; an error unless it ends with the end line (the daemon
/// dropped us, or died, half-way).
pub(crate) fn copy_export(
    input: &mut dyn std::io::BufRead,
    out: &mut dyn std::io::Write,
) -> Result<()> {
    let end = format!("{{\"{}\"", crate::io::store::EXPORT_END_KEY);
    let mut line = Vec::new();
    let mut last_was_end = false;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        out.write_all(&line)?;
        last_was_end = line.starts_with(end.as_bytes()) && line.ends_with(b"\n");
    }
    out.flush()?;
    if !last_was_end {
        bail!("the export was cut off before its end line; do not use this output as a backup");
    }
    Ok(())
}

/// Sends one request to a running daemon. `Ok(None)` means no daemon is listening.
pub(crate) fn request(path: &Path, req: &Request) -> Result<Option<serde_json::Value>> {
    use std::io::{BufRead, Write};
    let Some(mut conn) = connect(path)? else {
        return Ok(None);
    };
    conn.set_read_timeout(Some(std::time::Duration::from_secs(60)))?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    conn.write_all(&line)?;
    let mut resp = String::new();
    std::io::BufReader::new(conn).read_line(&mut resp)?;
    let v: serde_json::Value =
        serde_json::from_str(&resp).context("the daemon sent an unreadable answer")?;
    if v["ok"].as_bool() == Some(true) {
        Ok(Some(v["data"].clone()))
    } else {
        bail!(
            "{}",
            v["error"]
                .as_str()
                .unwrap_or("the daemon refused the request")
        )
    }
}
