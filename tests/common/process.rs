//! Children of a test: every server and daemon a test starts dies with it, also when the test
//! process is killed without unwinding (a runner timeout, panic=abort), so no Dovecot, relay or
//! daemon outlives its test and holds ports or a store for the next one.

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// Makes the kernel send `signal` to the child when the thread that spawned it exits, however
/// it exits. (It fires when the *thread* exits: start servers from the test's own thread, not
/// from `spawn_blocking`.)
pub fn die_with_parent(cmd: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe, as required between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, signal);
            Ok(())
        });
    }
}

/// Whether `child` has exited, *without* reaping it: while it is an
/// unreaped zombie its pid (= the process group id of the Dovecot instance)
/// cannot be reused, so [`kill_group`] stays safe.
pub fn has_exited(child: &Child) -> bool {
    // SAFETY: waitid with WNOWAIT only inspects our own child.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            child.id() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

/// SIGKILL the process group led by `child` (spawned with
/// `process_group(0)`, not yet reaped), wait (max 5 s) until no live member
/// is left, so all sockets are closed, and reap the leader.
pub fn kill_group(mut child: Child) -> ExitStatus {
    let pgid = child.id();
    // SAFETY: the group id is the pid of our unreaped child.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), libc::SIGKILL);
    }
    let status = child.wait().expect("wait for dovecot");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !live_group_members(pgid).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    status
}

/// Pids of non-zombie processes whose process group is `pgid` (from /proc;
/// orphaned Dovecot children are reaped by PID 1, possibly lazily).
pub fn live_group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain anything.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            out.push(pid);
        }
    }
    out
}
