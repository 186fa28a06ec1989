//! Handing freed heap back to the OS. An allocator keeps what it freed for reuse, so a process
//! that once held a burst's mails, or an answer over every ticket, stays that large while it
//! idles: on a small VPS beside other services that is memory taken for nothing.

/// Mails handled in one go (ingested, or sent) after which the freed heap is handed back: a
/// backlog, not the odd new mail.
pub(crate) const BACKLOG: usize = 64;

/// Returns the free pages of every glibc malloc arena to the OS. Costs a walk of the free
/// lists (a few milliseconds on a heap of a hundred MiB), so it is for moments after a burst of
/// work, not for every mail. Other allocators were measured in the benchmark instead (README,
/// issue 17): jemalloc, purged here, idled at the same RSS after a burst; mimalloc held twice
/// the memory (78 instead of 31 MiB after opening the 100k-mail store).
pub(crate) fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the OS.
    unsafe {
        libc::malloc_trim(0);
    }
}
