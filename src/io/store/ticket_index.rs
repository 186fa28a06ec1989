//! The persistent ticket indexes, one sled tree written in the same transaction as the tickets
//! it indexes, so what a listing, a report over a period, `/metrics` or start-up reads costs
//! what its answer holds, not what the store has accumulated over the years.
//!
//! Keys of the `index` tree (integers big-endian; a time is its microseconds since the epoch
//! with the sign bit flipped, so byte order is time order):
//!
//! | key | value | for |
//! |---|---|---|
//! | `t` ++ ticket | the ticket's [`Entry`] | finding the keys below to remove when it changes |
//! | `s` ++ status ++ queue length u32 ++ queue ++ ticket | empty | `tickets`, `--status`, `--queue`, active tickets |
//! | `c` ++ created ++ ticket | empty | `report --since` |
//! | `d` ++ next due ++ ticket | empty | the SLA sweep's due index ([`super::due`]) |
//! | `n` ++ status ++ priority ++ queue | count u64 | the census (`status`, `/metrics`) |
//! | `m` | count u64 | stored messages |

use chrono::{DateTime, Utc};

use crate::domain::status::Status;
use crate::domain::ticket::Ticket;
use crate::io::store::due::next_due;
use crate::io::store::pending::{Kv, T};

/// Name of the tree.
pub(super) const TREE: &str = "index";

const MESSAGES: &[u8] = b"m";

/// What the index knows of one ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    status: u8,
    priority: u8,
    created: i64,
    due: Option<i64>,
    queue: String,
}

impl Entry {
    pub(super) fn of(t: &Ticket) -> Entry {
        Entry {
            status: status_byte(t.status),
            priority: t.priority as u8,
            created: t.created_at.timestamp_micros(),
            due: next_due(t).map(|d| d.timestamp_micros()),
            queue: t.queue.clone(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(19 + self.queue.len());
        v.push(self.status);
        v.push(self.priority);
        v.extend_from_slice(&self.created.to_be_bytes());
        match self.due {
            Some(d) => {
                v.push(1);
                v.extend_from_slice(&d.to_be_bytes());
            }
            None => v.push(0),
        }
        v.extend_from_slice(self.queue.as_bytes());
        v
    }

    /// `None` for bytes this module did not write (then the index is rebuilt, see
    /// [`super::Store::rebuild_index`]).
    fn decode(v: &[u8]) -> Option<Entry> {
        let (&status, rest) = v.split_first()?;
        let (&priority, rest) = rest.split_first()?;
        let created = i64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
        let rest = &rest[8..];
        let (&has_due, rest) = rest.split_first()?;
        let (due, rest) = match has_due {
            0 => (None, rest),
            1 => (
                Some(i64::from_be_bytes(rest.get(..8)?.try_into().ok()?)),
                &rest[8..],
            ),
            _ => return None,
        };
        if usize::from(status) >= Status::ALL.len() || priority > 3 {
            return None;
        }
        Some(Entry {
            status,
            priority,
            created,
            due,
            queue: String::from_utf8(rest.to_vec()).ok()?,
        })
    }

    /// The keys it puts in the tree besides its own.
    fn keys(&self, id: u64) -> Vec<Vec<u8>> {
        let mut out = vec![status_key(self.status, &self.queue, id)];
        out.push(time_key(b'c', self.created, id));
        if let Some(d) = self.due {
            out.push(time_key(b'd', d, id));
        }
        out
    }

    fn count_key(&self) -> Vec<u8> {
        let mut k = vec![b'n', self.status, self.priority];
        k.extend_from_slice(self.queue.as_bytes());
        k
    }
}

fn status_byte(s: Status) -> u8 {
    Status::ALL.iter().position(|&x| x == s).unwrap_or(0) as u8
}

fn entry_key(id: u64) -> [u8; 9] {
    let mut k = [b't'; 9];
    k[1..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `s` ++ status ++ queue length ++ queue: the prefix of one status's tickets in one queue.
fn status_prefix(status: u8, queue: &str) -> Vec<u8> {
    let mut k = vec![b's', status];
    k.extend_from_slice(&(queue.len() as u32).to_be_bytes());
    k.extend_from_slice(queue.as_bytes());
    k
}

fn status_key(status: u8, queue: &str, id: u64) -> Vec<u8> {
    let mut k = status_prefix(status, queue);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn ordered(micros: i64) -> [u8; 8] {
    ((micros as u64) ^ (1 << 63)).to_be_bytes()
}

fn time_key(tag: u8, micros: i64, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(tag);
    k.extend_from_slice(&ordered(micros));
    k.extend_from_slice(&id.to_be_bytes());
    k
}

fn u64_at(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

/// The ticket number at the end of a key.
fn id_of(k: &[u8]) -> u64 {
    u64_at(&k[k.len().saturating_sub(8)..])
}

/// How a stored ticket record (key, value) is read: the store's codec, which this file does not
/// import (the store imports this file).
pub(super) type ReadTicket = dyn Fn(&[u8], &[u8]) -> Result<Ticket, String>;

/// Brings the index in step with `t` as it is written in this transaction (also right for a
/// ticket written twice in one transaction: the second reads what the first wrote).
fn index_tx<A, K: Kv<A>>(idx: &K, t: &Ticket) -> Result<(), K::Err> {
    let new = Entry::of(t);
    let old = idx
        .get(T::Index, &entry_key(t.id))?
        .and_then(|v| Entry::decode(&v));
    if old.as_ref() == Some(&new) {
        return Ok(());
    }
    if let Some(old) = &old {
        for k in old.keys(t.id) {
            idx.remove(T::Index, &k)?;
        }
        add_tx(idx, &old.count_key(), -1)?;
    }
    for k in new.keys(t.id) {
        idx.put(T::Index, &k, &[])?;
    }
    add_tx(idx, &new.count_key(), 1)?;
    idx.put(T::Index, &entry_key(t.id), &new.encode())?;
    Ok(())
}

/// The index's part of a commit: `tickets` as written in this transaction and `messages` more
/// stored messages. The one call a write path makes.
pub(super) fn commit_tx<'a, A, K: Kv<A>>(
    idx: &K,
    tickets: impl IntoIterator<Item = &'a Ticket>,
    messages: i64,
) -> Result<(), K::Err> {
    for t in tickets {
        index_tx(idx, t)?;
    }
    if messages != 0 {
        add_tx(idx, MESSAGES, messages)?;
    }
    Ok(())
}

fn add_tx<A, K: Kv<A>>(idx: &K, key: &[u8], n: i64) -> Result<(), K::Err> {
    let now = idx.get(T::Index, key)?.map(|v| u64_at(&v)).unwrap_or(0);
    let next = now.saturating_add_signed(n);
    if next == 0 {
        idx.remove(T::Index, key)?;
    } else {
        idx.put(T::Index, key, &next.to_be_bytes())?;
    }
    Ok(())
}

/// Builds the index anew from every ticket (the schema 5 migration, an import): `tickets` and
/// the number of `messages` are read, the index cleared and written in batches. A ticket record
/// that does not read is left out (logged), as a damaged record must not stop a start.
pub(super) fn rebuild(
    idx: &sled::Tree,
    tickets: &sled::Tree,
    messages: &sled::Tree,
    read: &ReadTicket,
) -> sled::Result<(u64, u64)> {
    idx.clear()?;
    let mut counts: std::collections::BTreeMap<Vec<u8>, u64> = Default::default();
    let mut batch = sled::Batch::default();
    let (mut n, mut in_batch) = (0u64, 0usize);
    for kv in tickets.iter() {
        let (k, v) = kv?;
        let t: Ticket = match read(&k, &v) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(ticket = u64_at(&k), error = %e, "a ticket record does not read; left out of the index");
                continue;
            }
        };
        let e = Entry::of(&t);
        for key in e.keys(t.id) {
            batch.insert(key, &[]);
        }
        *counts.entry(e.count_key()).or_default() += 1;
        batch.insert(&entry_key(t.id), e.encode());
        n += 1;
        in_batch += 1;
        if in_batch == 1000 {
            idx.apply_batch(std::mem::take(&mut batch))?;
            in_batch = 0;
        }
    }
    let m = messages.len() as u64;
    for (k, c) in counts {
        batch.insert(k, &c.to_be_bytes());
    }
    if m > 0 {
        batch.insert(MESSAGES, &m.to_be_bytes());
    }
    idx.apply_batch(batch)?;
    Ok((n, m))
}

/// Ticket numbers with `status` in the stored queue `queue` (any queue: `None`), in number
/// order.
pub(super) fn ids_with_status(
    idx: &sled::Tree,
    status: Status,
    queue: Option<&str>,
) -> sled::Result<Vec<u64>> {
    let s = status_byte(status);
    let prefix = match queue {
        Some(q) => status_prefix(s, q),
        None => vec![b's', s],
    };
    let mut out = Vec::new();
    for kv in idx.scan_prefix(prefix) {
        let (k, _) = kv?;
        out.push(id_of(&k));
    }
    out.sort_unstable();
    Ok(out)
}

/// Ticket numbers created at or after `since`, in number order.
pub(super) fn ids_created_since(idx: &sled::Tree, since: DateTime<Utc>) -> sled::Result<Vec<u64>> {
    let mut from = vec![b'c'];
    from.extend_from_slice(&ordered(since.timestamp_micros()));
    let mut out = Vec::new();
    for kv in idx.range(from..vec![b'd']) {
        let (k, _) = kv?;
        out.push(id_of(&k));
    }
    out.sort_unstable();
    Ok(out)
}

/// Every ticket with a next SLA due time, with it, earliest first: read lazily, so the first
/// costs one lookup however many tickets are open.
pub(super) fn due(idx: &sled::Tree) -> impl Iterator<Item = sled::Result<(u64, DateTime<Utc>)>> {
    idx.scan_prefix(b"d").filter_map(|kv| match kv {
        Err(e) => Some(Err(e)),
        Ok((k, _)) if k.len() != 17 => None,
        Ok((k, _)) => {
            let micros = (u64_at(&k[1..9]) ^ (1 << 63)) as i64;
            DateTime::from_timestamp_micros(micros).map(|d| Ok((id_of(&k), d)))
        }
    })
}

/// Tickets counted by status and priority per stored queue name (empty: the first queue).
pub(super) fn census(idx: &sled::Tree) -> sled::Result<Vec<(String, [[u64; 4]; 5])>> {
    let mut out: Vec<(String, [[u64; 4]; 5])> = Vec::new();
    for kv in idx.scan_prefix(b"n") {
        let (k, v) = kv?;
        let (Some(&s), Some(&p)) = (k.get(1), k.get(2)) else {
            continue;
        };
        if usize::from(s) >= Status::ALL.len() || p > 3 {
            continue;
        }
        let q = String::from_utf8_lossy(&k[3..]).into_owned();
        let i = match out.iter().position(|(n, _)| *n == q) {
            Some(i) => i,
            None => {
                out.push((q, [[0; 4]; 5]));
                out.len() - 1
            }
        };
        out[i].1[usize::from(s)][usize::from(p)] += u64_at(&v);
    }
    Ok(out)
}

/// Number of stored messages.
pub(super) fn message_count(idx: &sled::Tree) -> sled::Result<u64> {
    Ok(idx.get(MESSAGES)?.map(|v| u64_at(&v)).unwrap_or(0))
}

/// The first difference between the index and what a full read of `tickets` and `messages`
/// says it must hold, if any (tests: after a sequence of writes, after a crash).
pub(super) fn difference(
    idx: &sled::Tree,
    tickets: &sled::Tree,
    messages: &sled::Tree,
    read: &ReadTicket,
) -> sled::Result<Option<String>> {
    let mut want: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for kv in tickets.iter() {
        let (k, v) = kv?;
        let Ok(t) = read(&k, &v) else {
            continue;
        };
        let e = Entry::of(&t);
        for key in e.keys(t.id) {
            want.insert(key, Vec::new());
        }
        let c = want
            .entry(e.count_key())
            .or_insert_with(|| 0u64.to_be_bytes().to_vec());
        *c = (u64_at(c) + 1).to_be_bytes().to_vec();
        want.insert(entry_key(t.id).to_vec(), e.encode());
    }
    let m = messages.len() as u64;
    if m > 0 {
        want.insert(MESSAGES.to_vec(), m.to_be_bytes().to_vec());
    }
    let mut have: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for kv in idx.iter() {
        let (k, v) = kv?;
        have.insert(k.to_vec(), v.to_vec());
    }
    let show = |k: &[u8]| String::from_utf8_lossy(&k[..1]).into_owned() + &hex::encode(&k[1..]);
    for (k, v) in &want {
        match have.get(k) {
            None => return Ok(Some(format!("missing {}", show(k)))),
            Some(h) if h != v => {
                return Ok(Some(format!(
                    "{}: {} instead of {}",
                    show(k),
                    hex::encode(h),
                    hex::encode(v)
                )));
            }
            Some(_) => {}
        }
    }
    Ok(have
        .keys()
        .find(|k| !want.contains_key(*k))
        .map(|k| format!("stale {}", show(k))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_foreign_bytes_do_not_read() {
        let e = Entry {
            status: 2,
            priority: 3,
            created: -5,
            due: Some(i64::MAX),
            queue: "计费".into(),
        };
        assert_eq!(Entry::decode(&e.encode()), Some(e.clone()));
        let none = Entry { due: None, ..e };
        assert_eq!(Entry::decode(&none.encode()), Some(none));
        for bad in [
            &b""[..],
            b"\x07\x00",
            b"\x00\x09\0\0\0\0\0\0\0\0\0",
            b"\x00\x00\0\0\0\0\0\0\0\0\x05",
        ] {
            assert_eq!(Entry::decode(bad), None, "{bad:?}");
        }
    }

    /// One transaction writing several tickets, one of them twice over (a batch with a
    /// mail and its follow-up), another moved between queues: the index holds only the last
    /// state of each, and counts each once.
    /// The tickets as this test writes them.
    fn plain_json(_: &[u8], v: &[u8]) -> Result<Ticket, String> {
        serde_json::from_slice(v).map_err(|e| e.to_string())
    }

    /// The index tree alone inside a transaction.
    struct IndexOnly<'a>(&'a sled::transaction::TransactionalTree);

    impl<A> Kv<A> for IndexOnly<'_> {
        type Err = sled::transaction::ConflictableTransactionError<A>;
        fn get(&self, t: T, key: &[u8]) -> Result<Option<sled::IVec>, Self::Err> {
            assert_eq!(t, T::Index);
            Ok(self.0.get(key)?)
        }
        fn put(&self, t: T, key: &[u8], value: &[u8]) -> Result<(), Self::Err> {
            assert_eq!(t, T::Index);
            self.0.insert(key, value)?;
            Ok(())
        }
        fn remove(&self, t: T, key: &[u8]) -> Result<(), Self::Err> {
            assert_eq!(t, T::Index);
            self.0.remove(key)?;
            Ok(())
        }
        fn abort(e: A) -> Self::Err {
            sled::transaction::ConflictableTransactionError::Abort(e)
        }
    }

    #[test]
    fn a_ticket_written_twice_in_one_transaction_is_indexed_once() {
        use sled::Transactional;
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (idx, tickets, messages) = (
            db.open_tree(TREE).unwrap(),
            db.open_tree("tickets").unwrap(),
            db.open_tree("messages").unwrap(),
        );
        let requester = crate::mail::mailbox::Mailbox {
            name: None,
            address: "c@example.org".into(),
        };
        let now = Utc::now();
        let mut a = Ticket::new(1, "c".into(), requester, "s".into(), "s".into(), now);
        let mut b = a.clone();
        b.id = 2;
        b.queue = "billing".into();
        let write = |ts: &[&Ticket], n: i64| {
            (&idx, &tickets)
                .transaction(|(i, t)| {
                    let i = &IndexOnly(i);
                    for x in ts {
                        t.insert(&x.id.to_be_bytes(), serde_json::to_vec(x).unwrap())?;
                        commit_tx(i, [*x], 0)?;
                    }
                    commit_tx(i, [], n)?;
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                })
                .unwrap();
            for m in 0..n {
                messages
                    .insert(format!("{}-{m}", ts.len()), b"".as_slice())
                    .unwrap();
            }
        };
        write(&[&a, &b], 2);
        assert_eq!(
            difference(&idx, &tickets, &messages, &plain_json).unwrap(),
            None
        );
        let first = a.clone();
        a.status = Status::Resolved;
        a.created_at = now - chrono::Duration::days(400);
        b.queue = String::new();
        write(&[&first, &b, &a], 1);
        assert_eq!(
            difference(&idx, &tickets, &messages, &plain_json).unwrap(),
            None
        );
        assert_eq!(ids_with_status(&idx, Status::Resolved, None).unwrap(), [1]);
        assert_eq!(ids_with_status(&idx, Status::New, Some("")).unwrap(), [2]);
        assert!(
            ids_with_status(&idx, Status::New, Some("billing"))
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            ids_created_since(&idx, now - chrono::Duration::days(1)).unwrap(),
            [2]
        );
        assert_eq!(message_count(&idx).unwrap(), 3);
        let c = census(&idx).unwrap();
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].1.iter().flatten().sum::<u64>(), 2);
    }

    #[test]
    fn time_keys_sort_in_time_order_across_the_epoch() {
        let mut keys = [-10_i64, -1, 0, 1, 1 << 40]
            .iter()
            .map(|&m| time_key(b'c', m, 1))
            .collect::<Vec<_>>();
        let sorted = keys.clone();
        keys.sort();
        assert_eq!(keys, sorted);
    }
}
