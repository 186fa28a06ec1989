//! How the CLI shows what the daemon (or the store) answered: tables and plain text for people.
//! Printing only: every answer was already computed by [`crate::service::requests`].

use anyhow::Result;
use unicode_width::UnicodeWidthStr;

use crate::desk::report::{self, Report};
use crate::io::store::QuarantineRecord;
use crate::service::views::{OutboxView, TicketDetail, TicketSummary};

/// `outbox list`.
pub(crate) fn outbox(list: &[OutboxView]) -> Result<()> {
    if list.is_empty() {
        println!("outbox is empty");
    }
    for i in list {
        let state = serde_json::to_value(&i.state)?;
        println!(
            "#{:<5} ticket {:<6} {:<9} {:<10} attempts {:<3} to {}  {}{}",
            i.id,
            i.ticket,
            format!("{:?}", i.kind).to_lowercase(),
            state["state"].as_str().unwrap_or("?"),
            i.attempts,
            i.to.join(", "),
            i.subject,
            state["reason"]
                .as_str()
                .map(|r| format!("\n       {r}"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// `quarantine list`.
pub(crate) fn quarantine(list: &[QuarantineRecord]) {
    if list.is_empty() {
        println!("quarantine is empty");
    }
    for q in list {
        println!(
            "#{:<5} {}  {} bytes  from {}  subject {}\n       reason: {}",
            q.id,
            q.at.format("%Y-%m-%d %H:%M:%S"),
            q.size,
            q.from.as_deref().unwrap_or("?"),
            q.subject.as_deref().unwrap_or("?"),
            q.reason
        );
    }
}

pub(crate) fn tickets(list: &[TicketSummary]) {
    if list.is_empty() {
        println!("no tickets");
        return;
    }
    println!(
        "{:>6}  {:<8} {:<3} {:<24} {:>4}  {:<16}  SUBJECT",
        "#", "STATUS", "PRI", "CUSTOMER", "MSGS", "UPDATED (UTC)"
    );
    for t in list {
        println!(
            "{:>6}  {:<8} {:<3} {:<24} {:>4}  {:<16}  {}",
            t.id,
            t.status.as_str(),
            t.priority.to_string(),
            truncate(&t.customer, 24),
            t.messages,
            t.updated_at.format("%Y-%m-%d %H:%M"),
            t.subject
        );
    }
}

pub(crate) fn ticket(t: &TicketDetail) {
    println!("Ticket {}  [{}] {}", t.id, t.status, t.priority);
    println!("Subject:   {}", t.subject);
    println!("Customer:  {}", t.customer);
    println!("Requester: {}", t.requester);
    println!(
        "Created:   {}",
        t.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    println!(
        "Updated:   {}",
        t.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(r) = t.related {
        println!("Related:   ticket {r}");
    }
    if let Some(a) = &t.assignee {
        println!("Assignee:  {a}");
    }
    if !t.priority_rule.is_empty() {
        println!("Priority:  {} ({})", t.priority, t.priority_rule);
    }
    for (name, key) in [
        ("First response", "first_response"),
        ("Update", "update"),
        ("Resolution", "resolution"),
    ] {
        let c = &t.sla[key];
        if let Some(due) = c["due_at"].as_str() {
            let state = match (c["stopped_at"].as_str(), c["breached"].as_bool()) {
                (Some(at), Some(true)) => format!("MISSED, stopped at {at}"),
                (Some(at), _) => format!("met at {at}"),
                (None, Some(true)) => "BREACHED".to_owned(),
                _ if c["paused"].as_bool() == Some(true) => "paused".to_owned(),
                _ => "running".to_owned(),
            };
            println!("{name:<15} due {due} ({state})");
        }
    }
    for e in &t.escalations {
        println!(
            "Escalated:  level {} at {} by {:?} ({})",
            e.level,
            e.at.format("%Y-%m-%d %H:%M:%S UTC"),
            e.by,
            e.detail
        );
    }
    if let Some(s) = &t.satisfaction {
        println!(
            "Satisfaction: {}/5 at {}{}",
            s.score,
            s.at.format("%Y-%m-%d %H:%M:%S UTC"),
            if s.comment.is_empty() {
                String::new()
            } else {
                format!(" \"{}\"", s.comment.replace('\n', " "))
            }
        );
    }
    for (i, m) in t.messages.iter().enumerate() {
        println!("\n--- message {} ({:?}) ---", i + 1, m.threaded_by);
        println!("From:    {}", m.from);
        if let Some(d) = m.date {
            println!("Date:    {}", d.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        println!("Subject: {}", m.subject);
        println!("Message-ID: <{}>", m.message_id);
        if !m.machine_generated.is_empty() {
            println!("Machine-generated: {}", m.machine_generated.join("; "));
        }
        for a in &m.attachments {
            println!(
                "Attachment: {} ({}, {} bytes)",
                a.name, a.content_type, a.size
            );
        }
        println!("\n{}", m.text);
    }
}

pub(crate) fn report(r: &Report, tz: chrono_tz::Tz) {
    let local = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&tz).format("%Y-%m-%d %H:%M");
    match r.since {
        Some(s) => println!(
            "SLA report: tickets created since {} ({tz}), as of {}",
            local(s),
            local(r.as_of)
        ),
        None => println!("SLA report: all tickets, as of {} ({tz})", local(r.as_of)),
    }
    let mut by_priority = r.by_priority.clone();
    by_priority.push(r.overall.clone());
    let mut tables = vec![report_rows("PRIORITY", &by_priority)];
    // Only an empty period has no agent row (unassigned tickets have their own).
    if !r.by_agent.is_empty() {
        tables.push(report_rows("AGENT", &r.by_agent));
    }
    if !r.by_queue.is_empty() {
        tables.push(report_rows("QUEUE", &r.by_queue));
    }
    // One set of widths for both tables, so their columns line up under each other.
    let widths: Vec<usize> = (0..tables[0][0].len())
        .map(|i| {
            tables
                .iter()
                .flatten()
                .map(|row| row[i].width())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for rows in &tables {
        println!();
        for row in rows {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                // Display width: a Chinese character takes two columns.
                let pad = " ".repeat(w.saturating_sub(cell.width()));
                // Names read left to right, figures line up on their last digit.
                if i == 0 {
                    line.push_str(&format!("{cell}{pad}"));
                } else {
                    line.push_str(&format!("  {pad}{cell}"));
                }
            }
            println!("{}", line.trim_end());
        }
    }
    println!(
        "\nRESP/RES MET: first-response/resolution targets met, of the tickets whose target is \
         decided\n  (clock stopped, or past due); MED/P90: time taken, pending time excluded.\n\
         ESC: tickets escalated; SLA/AGT/CUS: escalations by the SLA, agents, customers.\n\
         CSAT: average survey score (answers); SAT: answers scoring 4 or 5."
    );
}

/// The header and one row per group of a `report` table.
fn report_rows(first: &str, groups: &[report::Group]) -> Vec<Vec<String>> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let pct = |p: Option<f64>| opt(p.map(|p| format!("{p}%")));
    let time = |s: Option<i64>| opt(s.map(report::human_duration));
    let met =
        |t: &report::TargetStats| opt(t.met_pct.map(|p| format!("{p}% {}/{}", t.met, t.measured)));
    let header = [
        first,
        "TICKETS",
        "OPEN",
        "DONE",
        "RESP MET",
        "MED",
        "P90",
        "RES MET",
        "MED",
        "P90",
        "ESC",
        "SLA/AGT/CUS",
        "CSAT",
        "SAT",
    ];
    let mut rows = vec![header.map(str::to_owned).to_vec()];
    for g in groups {
        let (f, res, s, by) = (
            &g.first_response,
            &g.resolution,
            &g.satisfaction,
            &g.escalations_by,
        );
        rows.push(vec![
            g.name.clone(),
            g.tickets.to_string(),
            g.open.to_string(),
            g.resolved.to_string(),
            met(f),
            time(f.median_secs),
            time(f.p90_secs),
            met(res),
            time(res.median_secs),
            time(res.p90_secs),
            g.escalated.to_string(),
            format!("{}/{}/{}", by.sla, by.agent, by.customer),
            opt(s.average.map(|a| format!("{a:.1} ({})", s.answers))),
            pct(s.satisfied_pct),
        ]);
    }
    rows
}

pub(crate) fn status(v: &serde_json::Value) {
    let daemon = v["daemon"].as_bool() == Some(true);
    println!(
        "daemon:      {}",
        if daemon { "running" } else { "not running" }
    );
    println!(
        "tickets:     {}  {}",
        v["tickets"],
        v["tickets_by_status"]
            .as_object()
            .map(|m| m
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "))
            .unwrap_or_default()
    );
    println!("messages:    {}", v["messages"]);
    println!("quarantined: {}", v["quarantined"]);
    println!("store:       {} bytes on disk", v["store_bytes"]);
    let s = &v["store"];
    println!(
        "instance:    {} (created {}{})",
        s["instance_id"].as_str().unwrap_or("?"),
        s["created_at"].as_str().unwrap_or("before instance ids"),
        s["upgraded_at"]
            .as_str()
            .map(|u| format!(", given its id at {u}"))
            .unwrap_or_default()
    );
    match v["outbound_secret"]["text"].as_str() {
        Some(text) => println!("secret:      {text}"),
        None => println!("secret:      none needed (no [smtp]: nothing is sent)"),
    }
    let i = &v["ingest"];
    if daemon {
        println!(
            "imap:        {}{}, last sync {}",
            if i["connected"].as_bool() == Some(true) {
                "connected"
            } else {
                "disconnected"
            },
            if i["idle"].as_bool() == Some(true) {
                " (IDLE)"
            } else {
                " (polling)"
            },
            i["last_sync"].as_str().unwrap_or("never")
        );
        println!(
            "since start: {} stored, {} duplicates, {} quarantined, {} reconnects",
            i["stored"], i["duplicates"], i["quarantined"], i["reconnects"]
        );
        if let Some(e) = i["last_error"].as_str() {
            println!("last error:  {e}");
        }
        let accounts = i["accounts"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        if accounts.len() > 1 {
            for a in accounts {
                let queues: Vec<&str> = a["queues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|q| q.as_str())
                    .collect();
                let state = if a["connected"].as_bool() == Some(true) {
                    "connected".to_owned()
                } else {
                    format!(
                        "DOWN: {}{}",
                        a["last_error"].as_str().unwrap_or("not connected yet"),
                        a["retry_in_seconds"]
                            .as_u64()
                            .map(|r| format!(" (retry within {r} s)"))
                            .unwrap_or_default()
                    )
                };
                println!(
                    "account:     {} (queues {}): {state}, last sync {}, {} stored",
                    a["account"].as_str().unwrap_or("?"),
                    queues.join(", "),
                    a["last_sync"].as_str().unwrap_or("never"),
                    a["stored"]
                );
            }
        }
        for m in i["stuck"].as_array().into_iter().flatten() {
            println!(
                "stuck mail:  UID {} {}: {}",
                m["uid"],
                m["message_id"].as_str().unwrap_or("-"),
                m["reason"].as_str().unwrap_or_default()
            );
        }
        if i["abandoned_parses"].as_u64().unwrap_or(0) > 0 {
            println!("parses given up, still running: {}", i["abandoned_parses"]);
        }
    }
    if let Some(f) = v["store_fault"].as_str() {
        println!("store fault: {f}");
    }
    for t in v["sla_skipped"].as_array().into_iter().flatten() {
        println!(
            "SLA skipped: ticket {}: {}",
            t["ticket"],
            t["reason"].as_str().unwrap_or_default()
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
