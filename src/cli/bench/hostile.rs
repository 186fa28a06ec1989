//! `bench --hostile`: what each hostile mail of issue 14 costs the real ingest loop against the
//! real server, as figures (the tests assert outcomes, not time or memory).
//!
//! Each case's mails and then one normal mail are APPENDed to a scratch staging mailbox while
//! ingest idles in the inbox, then moved into the inbox with one `UID MOVE`, so they arrive
//! together, in order, and the benchmark's own APPEND work (and the memory of building the mail)
//! falls outside the measurement. Measured from that MOVE until every mail of the case is durable
//! and out of the inbox: the process's CPU time (`getrusage`: ingest's tasks, its blocking pool
//! and the parse thread), the wall time until the normal mail is a durable ticket, the peak RSS
//! (`VmHWM`, reset per case) and the store's growth on disk.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use super::core::dir_size;
use super::peak::{Peak, proc_status_kib};
use super::report::{Report, group, kib, mib, ms, secs};
use super::session::{
    Running, STALL, check_alive, ingest_state, prepare_ingest, raw_session, staging_mailbox,
    wait_moved,
};
use crate::config::Config;
use crate::io::imap::{Imap, timed};
use crate::io::store::Store;
use crate::service::parse_budget;

/// The bounds issue 14 sets for every hostile mail.
const MAX_CPU_PER_MAIL: Duration = Duration::from_secs(2);
const MAX_PEAK_KIB: u64 = 200 * 1024;
/// "The next mail flows within seconds."
const MAX_NEXT_MAIL: Duration = Duration::from_secs(10);

const MIB: usize = 1024 * 1024;

/// Builds one mail from its Message-ID (without brackets).
type Build = Box<dyn Fn(&str) -> Vec<u8>>;

/// One row: `count` mails built by `build` (from a Message-ID without brackets), then a normal
/// mail.
struct Case {
    what: String,
    count: usize,
    build: Build,
}

/// The mails of issue 14's "What was seen", plus the parser's structural budgets.
fn cases(cfg: &Config) -> Vec<Case> {
    let to = cfg.support.address.clone();
    let head = move |id: &str, subject: &str, extra: &str| {
        format!(
            "From: Mallory <m@hostile.example>\r\nTo: {to}\r\n\
             Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{id}>\r\n\
             Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}"
        )
    };
    let mut cases = Vec::new();
    let mut add =
        |what: String, count: usize, build: Build| cases.push(Case { what, count, build });
    for repeats in [120_000, 340_000] {
        let head = head.clone();
        add(
            format!("HTML-only, `<div></span>` × {}", group(repeats)),
            1,
            Box::new(move |id| {
                format!(
                    "{}Content-Type: text/html; charset=utf-8\r\n\r\n{}<p>the real words</p>\r\n",
                    head(id, "html", ""),
                    "<div></span>".repeat(repeats)
                )
                .into_bytes()
            }),
        );
    }
    for n in [50_000, 100_000] {
        let head = head.clone();
        add(
            format!("References with {} ids", group(n)),
            1,
            Box::new(move |id| {
                let ids: String = (0..n).map(|i| format!(" <r{i}@x.example>")).collect();
                format!(
                    "{}References:{ids}\r\nContent-Type: text/plain\r\n\r\nplease help\r\n",
                    head(id, "references", "")
                )
                .into_bytes()
            }),
        );
    }
    let header_only = |head: &dyn Fn(&str, &str, &str) -> String, id: &str| {
        // No blank line: all of it is header, one field folded over and over.
        let mut raw = head(id, "all header", "X-Filler: start\r\n");
        let line = " folded filler line of a header that never ends, padding padding\r\n";
        while raw.len() < 20 * MIB {
            raw.push_str(line);
        }
        // Every mail the same size, whatever its Message-ID.
        raw.truncate(20 * MIB - 2);
        raw.push_str("\r\n");
        raw.into_bytes()
    };
    for n in [8, 64] {
        let head = head.clone();
        add(
            format!("{n} × 20 MiB header-only (no blank line), one batch"),
            n,
            Box::new(move |id| header_only(&head, id)),
        );
    }
    {
        let head = head.clone();
        let size = cfg.support.max_message_bytes as usize + MIB;
        add(
            format!(
                "{} mail (over `max_message_bytes` = {}), base64 attachment",
                mib(size),
                group(cfg.support.max_message_bytes as usize)
            ),
            1,
            Box::new(move |id| {
                let mut raw = format!(
                    "{}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
                     Content-Type: text/plain; charset=utf-8\r\n\r\nThe logs are attached.\r\n\
                     --b\r\nContent-Type: application/octet-stream; name=\"logs.bin\"\r\n\
                     Content-Transfer-Encoding: base64\r\n\r\n",
                    head(id, "too large", "")
                );
                let line =
                    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5\r\n";
                while raw.len() < size {
                    raw.push_str(line);
                }
                raw.push_str("--b--\r\n");
                raw.into_bytes()
            }),
        );
    }
    {
        let head = head.clone();
        add(
            "350,000 short lines (`\\t` each; the fuzz finding)".into(),
            1,
            Box::new(move |id| {
                format!(
                    "{}Content-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n{}bye\r\n",
                    head(id, "many lines", ""),
                    "\t\r\n".repeat(350_000)
                )
                .into_bytes()
            }),
        );
    }
    {
        let head = head.clone();
        add(
            "MIME nested 2,000 deep".into(),
            1,
            Box::new(move |id| {
                let mut raw = head(id, "deep", "");
                for level in 0..2_000 {
                    raw.push_str(&format!(
                        "Content-Type: multipart/mixed; boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
                    ));
                }
                raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
                raw.into_bytes()
            }),
        );
    }
    {
        let head = head.clone();
        add(
            "20,000 MIME parts".into(),
            1,
            Box::new(move |id| {
                format!(
                    "{}\r\n{}--m--\r\n",
                    head(id, "parts", "Content-Type: multipart/mixed; boundary=m\r\n"),
                    "--m\r\n\r\nx\r\n".repeat(20_000)
                )
                .into_bytes()
            }),
        );
    }
    add(
        "100,000 header fields".into(),
        1,
        Box::new(move |id| {
            format!(
                "{}{}\r\nbody\r\n",
                head(id, "fields", ""),
                "X-Junk: 1\r\n".repeat(100_000)
            )
            .into_bytes()
        }),
    );
    cases
}

/// A customer's ordinary question, the mail after each hostile one.
fn normal(cfg: &Config, id: &str) -> Vec<u8> {
    format!(
        "From: Li Si <lisi@customer.example>\r\nTo: {}\r\nSubject: a question after {id}\r\n\
         Date: Mon, 30 Nov 2026 10:00:01 +0000\r\nMessage-ID: <{id}>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nHello, a question about our hosting.\r\n",
        cfg.support.address
    )
    .into_bytes()
}

/// User + system CPU time of the whole process (all threads, finished ones included).
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// What became of one mail, read back from the store.
fn outcome(store: &Store, id: &str) -> Result<String> {
    if let Some((ticket, seq)) = store.message_location(id)? {
        let notes = store
            .message_at(ticket, seq)?
            .map(|m| m.parse_notes)
            .unwrap_or_default();
        return Ok(if notes.is_empty() {
            format!("ticket {ticket}")
        } else {
            format!("ticket {ticket}, noted: {}", notes.join("; "))
        });
    }
    if let Some(rec) = store.quarantined_by_message_id(id)? {
        let kept = store.quarantined_bytes(&rec)?.map_or(0, |b| b.len());
        return Ok(format!(
            "quarantined: {} (kept {} of {})",
            rec.reason,
            kib(kept),
            mib(rec.size as usize)
        ));
    }
    Ok("no record".into())
}

/// The outcomes of a case's mails, identical ones counted once.
fn summarise(outcomes: &[String]) -> String {
    let mut distinct: Vec<(&str, usize)> = Vec::new();
    for o in outcomes {
        // Ticket numbers differ between mails of one batch; say the rest once.
        let key = o.strip_prefix("ticket ").map_or(o.as_str(), |_| "ticket");
        match distinct.iter_mut().find(|(k, _)| *k == key) {
            Some((_, n)) => *n += 1,
            None => distinct.push((key, 1)),
        }
    }
    if distinct.len() == 1 && outcomes.len() == 1 {
        return outcomes[0].clone();
    }
    distinct
        .iter()
        .map(|(k, n)| format!("{n} × {k}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Runs every case through a real ingest loop and adds the table to `report`.
pub(super) async fn hostile_phase(
    cfg: &Config,
    work: &Path,
    running: &mut Running,
    report: &mut Report,
) -> Result<()> {
    report.facts(cfg, work);
    let inbox = cfg.imap.mailbox.as_str();
    let staging = staging_mailbox(cfg);
    let mut imap = Imap::connect(&cfg.imap)
        .await
        .context("cannot connect to the IMAP server")?;
    report.caps = Some(imap.caps);
    for mailbox in [
        inbox,
        &cfg.imap.processed_mailbox,
        &cfg.imap.quarantine_mailbox,
        &staging,
    ] {
        imap.ensure_mailbox(mailbox).await?;
    }
    let mut admin = raw_session(cfg).await?;

    let (store, status, durable) = running.start(prepare_ingest(cfg)?);

    let limit = Duration::from_secs(600);
    let mut handled = 0;
    for (n, case) in cases(cfg).into_iter().enumerate() {
        eprintln!("bench: hostile: {}", case.what);
        let ids: Vec<String> = (0..case.count)
            .map(|i| format!("hostile-{n}-{i}@hostile.example"))
            .collect();
        let after = format!("after-{n}@customer.example");
        let mut bytes = 0;
        for id in &ids {
            let raw = (case.build)(id);
            bytes += raw.len();
            imap.append(&staging, &raw).await?;
        }
        imap.append(&staging, &normal(cfg, &after)).await?;
        // Let ingest finish its last pass and be back in IDLE; drop what building took.
        tokio::time::sleep(Duration::from_secs(1)).await;
        crate::io::heap::release_free_memory();
        let store_before = dir_size(&cfg.store.path);
        let abandoned_before = parse_budget::abandoned();
        let rss_before = proc_status_kib("VmRSS").unwrap_or(0);
        let peak = Peak::start();
        let cpu0 = process_cpu();
        let t0 = Instant::now();
        timed(limit, "SELECT", admin.session_mut().select(&staging)).await?;
        timed(limit, "UID MOVE", admin.session_mut().uid_mv("1:*", inbox)).await?;
        let deadline = Instant::now() + STALL;
        while durable.at(&after).is_none() {
            if Instant::now() > deadline {
                bail!(
                    "the mail after \"{}\" was not durable after {} s: {}",
                    case.what,
                    STALL.as_secs(),
                    ingest_state(&status)
                );
            }
            check_alive(running).await?;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let next_after = durable.at(&after).unwrap().duration_since(t0);
        handled += case.count + 1;
        timed(limit, "CLOSE", admin.session_mut().close()).await?;
        wait_moved(&mut admin, cfg, handled, running, &status).await?;
        let cpu = process_cpu().saturating_sub(cpu0);
        let peak_kib = peak.end();
        let grown = dir_size(&cfg.store.path).saturating_sub(store_before);
        let abandoned = parse_budget::abandoned().saturating_sub(abandoned_before);

        let outcomes = ids
            .iter()
            .map(|id| outcome(&store, id))
            .collect::<Result<Vec<_>>>()?;
        let next = outcome(&store, &after)?;
        let per_mail = cpu / case.count as u32;
        let peak_value = peak_kib.map_or(0, |(k, _)| k);
        let mut broken = Vec::new();
        if per_mail > MAX_CPU_PER_MAIL {
            broken.push("CPU");
        }
        if peak_value >= MAX_PEAK_KIB {
            broken.push("RSS");
        }
        if next_after > MAX_NEXT_MAIL || !next.starts_with("ticket") {
            broken.push("next mail");
        }
        let count = if case.count > 1 {
            format!(" ({} per mail)", ms(per_mail))
        } else {
            String::new()
        };
        report.row(
            "h",
            &format!("{} — {}", case.what, mib(bytes)),
            format!(
                "{} · CPU {}{count} · next mail a ticket after {}{} · store +{} · {}",
                summarise(&outcomes),
                ms(cpu),
                secs(next_after),
                if next.starts_with("ticket") {
                    String::new()
                } else {
                    format!(" (but: {next})")
                },
                mib(grown as usize),
                if broken.is_empty() {
                    "within bounds".to_owned()
                } else {
                    format!("**over: {}**", broken.join(", "))
                },
            ) + &if abandoned > 0 {
                format!(" · {abandoned} parse(s) given up, still running")
            } else {
                String::new()
            } + &format!(" · RSS before {}", mib(rss_before as usize * 1024)),
            peak_kib,
        );
    }
    admin.logout().await;
    imap.logout().await;
    let took = running.stop().await?;
    report.notes.push(format!(
        "(h) bounds (issue 14): at most {} of CPU per mail, peak RSS under {}, the next mail a \
         durable ticket within {}. CPU is the whole process's (`getrusage`), from the `UID MOVE` \
         that puts the case's mails and the normal mail after them into the inbox until all are \
         durable and moved out; the wall time runs from the same MOVE to the fsync of the normal \
         mail's batch, and includes Dovecot's ~0.5 s delay before it tells an idling client.",
        secs(MAX_CPU_PER_MAIL),
        mib(MAX_PEAK_KIB as usize * 1024),
        secs(MAX_NEXT_MAIL)
    ));
    report.notes.push(format!(
        "(h) budgets: `max_header_bytes` {}, `max_fetch_bytes` {}, `max_message_bytes` {}, \
         `max_parse_cpu_ms` {}, `[parse]` defaults. Ingest stopped cleanly {} after shutdown; \
         its store holds {} tickets and {} quarantined mails.",
        group(cfg.support.max_header_bytes as usize),
        group(cfg.support.max_fetch_bytes as usize),
        group(cfg.support.max_message_bytes as usize),
        group(cfg.support.max_parse_cpu_ms as usize),
        ms(took),
        group(store.ticket_count()),
        group(store.quarantine_count()),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_outcomes_are_counted_once() {
        let o = |s: &str| s.to_owned();
        assert_eq!(summarise(&[o("ticket 3")]), "ticket 3");
        assert_eq!(
            summarise(&[o("quarantined: x"), o("quarantined: x"), o("ticket 4")]),
            "2 × quarantined: x; 1 × ticket"
        );
        assert!(process_cpu() > Duration::ZERO);
    }
}
