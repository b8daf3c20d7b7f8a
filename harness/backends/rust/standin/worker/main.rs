// SPDX-License-Identifier: GPL-2.0
//! The binding worker: drives `kernel::gpu::buddy` through its public API only.
//!
//! One request per input line, one reply line per request; replies are flushed
//! whenever the input is drained, so a batch written at once is one round trip; after
//! `E`, after every reply, so when a batch of programs dies in one of them every reply
//! before the crash is out (it costs the worker a write per reply, little beside its work).
//! Requests and replies use the descriptors `BH_PROTOCOL_FDS="IN OUT"` names (stdin and
//! stdout without it): stdout and stderr are the code under test's output, never a reply.
//!
//! Requests (decimal numbers):
//!   i BASE SIZE CHUNK                  GpuBuddy::new; "0 ID AVAIL" or "-ERRNO" (a refused
//!                                      allocator still takes an ID, so `L` names it and a
//!                                      batch written before the reply stays in step)
//!   a ID MODE START END SIZE MIN FLAGS alloc_blocks (MODE s, t or r; FLAGS the C bits of
//!                                      Contiguous, Clear, TrimDisable); handle = the
//!                                      allocator's next number, failures included;
//!                                      "STATUS AVAIL N OFF ORDER SIZE ..."
//!   f ID H                             drop the allocation; "0 AVAIL"
//!   e ID H                             AllocatedBlocks::is_empty; "0 1", "0 0", or "0 2"
//!                                      for an allocation that failed or is gone
//!   c ID                               "0 AVAIL SIZE CHUNK BASE"
//!   d ID                               drop the GpuBuddy only: its allocations keep the
//!                                      C allocator alive until the last of them goes; "0"
//!   z ID                               drop the allocator (and whatever it still holds);
//!                                      "0 LEAKED": block structures still alive once no
//!                                      allocator holds any (0 while another one lives)
//!   w                                  C warnings since the last call: "N" then N lines
//!   W                                  how many warnings are pending, forgetting them: "N"
//!   E                                  flush after every reply from now on: "0"
//!   T THREADS OPS SEED SIZE CHUNK      stress: threads share one GpuBuddy;
//!                                      "0 OPERATIONS GRANTED AVAIL" or "FAIL ..."
//!   q                                  quit
//! ID may be `L`, the allocator the last `i` made, so a whole program can be one batch.
//! On an allocator that was refused or dropped, `a` answers -19 (ENODEV), `c` zeros:
//! the harness knows from the `i` reply and reads none of them.
//! A value that no `Alignment` can hold answers -22 (EINVAL): Rust cannot express it.

use api::{alloc, GpuBuddy};
use kernel::{gpu::buddy::AllocatedBlocks, prelude::*};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::pin::Pin;

extern "C" {
    fn fflush(stream: *mut core::ffi::c_void) -> i32;
    fn setvbuf(stream: *mut core::ffi::c_void, buf: *mut u8, mode: i32, size: usize) -> i32;
    static stdout: *mut core::ffi::c_void;
    fn kill(pid: i32, sig: i32) -> i32;
    fn getpgrp() -> i32;
    fn bh_warn_pending() -> i32;
    fn bh_warn_text(i: i32) -> *const u8;
    fn bh_warn_clear();
    fn bh_live() -> i64;
}

const EINVAL: i32 = -22;
const ENODEV: i32 = -19;
const CONTIGUOUS: u64 = 1 << 2;
const CLEAR: u64 = 1 << 3;
const TRIM_DISABLE: u64 = 1 << 5;

struct Slot {
    buddy: Option<GpuBuddy>,
    allocs: Vec<Option<Pin<KBox<AllocatedBlocks>>>>,
}

/// The modifier flags of the C bits; both API generations name them alike.
fn flags_of(bits: u64) -> kernel::gpu::buddy::GpuBuddyAllocFlags {
    use kernel::gpu::buddy::{GpuBuddyAllocFlag, GpuBuddyAllocFlags};
    let mut f = GpuBuddyAllocFlags::default();
    for (bit, flag) in [(CONTIGUOUS, GpuBuddyAllocFlag::Contiguous),
                        (CLEAR, GpuBuddyAllocFlag::Clear),
                        (TRIM_DISABLE, GpuBuddyAllocFlag::TrimDisable)] {
        if bits & bit != 0 {
            f |= flag;
        }
    }
    f
}

// The binding's API differs between generations; the build picks one by the tree's source.
#[cfg(not(bh_api = "v12"))]
#[path = "api_landed.rs"]
mod api;
#[cfg(bh_api = "v12")]
#[path = "api_v12.rs"]
mod api;

fn blocks_text(a: &AllocatedBlocks) -> String {
    let blocks: Vec<String> =
        api::blocks(a).iter().map(|(o, r, s)| format!("{o} {r} {s}")).collect();
    // `is_empty()` is API too: a binding whose two views of the list disagree ends here.
    assert_eq!(a.is_empty(), blocks.is_empty(), "AllocatedBlocks::is_empty() disagrees with iter()");
    let mut s = blocks.len().to_string();
    for b in blocks {
        s.push(' ');
        s.push_str(&b);
    }
    s
}

fn warnings() -> Vec<String> {
    // SAFETY: the shim's warning buffer is only read and cleared from this thread.
    unsafe {
        let n = bh_warn_pending();
        let out = (0..n)
            .map(|i| {
                std::ffi::CStr::from_ptr(bh_warn_text(i).cast()).to_string_lossy().into_owned()
            })
            .collect();
        bh_warn_clear();
        out
    }
}

/// A small deterministic generator, so a stress run repeats from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Threads allocate and drop at random through one `GpuBuddy` (so through its own
/// `Mutex`); afterwards no two blocks ever live at once overlapped, `avail` is back and
/// every block structure returned to the slab.
fn stress(threads: u64, ops: u64, seed: u64, size: u64, chunk: u64) -> String {
    let live_before = unsafe { bh_live() };
    let buddy = match api::new(0, size, chunk) {
        Ok(b) => std::sync::Arc::new(b),
        Err(e) => return format!("FAIL GpuBuddy::new: {e}"),
    };
    let initial = api::info(&buddy).0;
    // Every live block is also recorded here, so overlaps between threads are seen.
    let owned = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let buddy = buddy.clone();
            let owned = owned.clone();
            std::thread::spawn(move || -> core::result::Result<u64, String> {
                let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (t + 1));
                let mut held: Vec<(Pin<KBox<AllocatedBlocks>>, Vec<(u64, u64)>)> = Vec::new();
                let mut granted = 0;
                for _ in 0..ops {
                    if held.is_empty() || rng.next() % 3 != 0 {
                        let pages = 1 + rng.next() % 64;
                        let mode = if rng.next() % 2 == 0 { "s" } else { "t" };
                        if let Ok(a) = alloc(&buddy, mode, 0, 0, pages * chunk, chunk, 0) {
                            let spans: Vec<(u64, u64)> =
                                api::blocks(&a).iter().map(|&(o, _, s)| (o, s)).collect();
                            let mut map = owned.lock().unwrap();
                            for &(off, sz) in &spans {
                                let clash = map.range(..off + sz).next_back()
                                    .filter(|(&o, &s): &(&u64, &u64)| o + s > off);
                                if let Some((o, s)) = clash {
                                    return Err(format!("block {off:#x}+{sz:#x} overlaps live \
                                                        {o:#x}+{s:#x}"));
                                }
                                map.insert(off, sz);
                            }
                            drop(map);
                            held.push((a, spans));
                            granted += 1;
                        }
                    } else {
                        let i = (rng.next() % held.len() as u64) as usize;
                        let (a, spans) = held.swap_remove(i);
                        {
                            let mut map = owned.lock().unwrap();
                            for (off, _) in spans {
                                map.remove(&off);
                            }
                        }
                        drop(a);
                    }
                }
                for (a, spans) in held {
                    let mut map = owned.lock().unwrap();
                    for (off, _) in spans {
                        map.remove(&off);
                    }
                    drop(map);
                    drop(a);
                }
                Ok(granted)
            })
        })
        .collect();
    let mut granted = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(n)) => granted += n,
            Ok(Err(msg)) => return format!("FAIL {msg}"),
            Err(_) => return "FAIL a thread panicked".into(),
        }
    }
    let avail = api::info(&buddy).0;
    drop(buddy);
    let leaked = unsafe { bh_live() } - live_before;
    let warns = warnings();
    if avail != initial {
        return format!("FAIL avail {avail:#x} after every drop, expected {initial:#x}");
    }
    if leaked != 0 || !warns.is_empty() {
        return format!("FAIL {leaked} block structures leaked; warnings: {}", warns.join("; "));
    }
    format!("0 {} {granted} {avail}", threads * ops)
}

fn num(it: &mut core::str::SplitWhitespace<'_>) -> u64 {
    it.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!("protocol: expected a number");
        std::process::exit(3)
    })
}

/// An allocator's number, or `L` for the last one created: a batch written before any
/// reply can name the allocator its own `i` line makes.
fn slot_id(it: &mut core::str::SplitWhitespace<'_>, created: usize) -> usize {
    let id = match it.next() {
        Some("L") if created > 0 => created - 1,
        Some(s) => s.parse().unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    if id >= created {
        eprintln!("protocol: no allocator {id}");
        std::process::exit(3)
    }
    id
}

/// The protocol's descriptors: `BH_PROTOCOL_FDS` when the harness drives the worker.
fn protocol() -> (Box<dyn std::io::Read>, Box<dyn Write>, bool) {
    let fds = std::env::var("BH_PROTOCOL_FDS").ok().and_then(|v| {
        let mut it = v.split_whitespace().map(|x| x.parse::<i32>());
        match (it.next(), it.next()) {
            (Some(Ok(i)), Some(Ok(o))) => Some((i, o)),
            _ => None,
        }
    });
    match fds {
        // SAFETY: the harness opened both descriptors for this process and uses them for
        // nothing else here.
        Some((i, o)) => unsafe {
            (Box::new(File::from_raw_fd(i)), Box::new(File::from_raw_fd(o)), true)
        },
        None => (Box::new(std::io::stdin()), Box::new(std::io::stdout()), false),
    }
}

/// Driven by the harness, the worker leads a process group of its own: once the harness
/// is gone (SIGKILL cannot be handled), the group ends, on end of input or, should the
/// code be spinning, when a watchdog sees the worker reparented.
fn end_group(own: bool) {
    if own {
        // SAFETY: plain system calls; 0 is this process's own group.
        unsafe { kill(0, 9) };
    }
}

fn watch_parent(own: bool) {
    let parent = std::env::var("BH_PARENT_PID").ok().and_then(|p| p.parse().ok())
        .unwrap_or_else(std::os::unix::process::parent_id);
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_millis(100));
        if std::os::unix::process::parent_id() != parent {
            end_group(own);
        }
    });
}

/// What the C printed goes out before the replies that follow it.
fn flush_c_output() {
    let _ = std::io::stdout().flush();
    // SAFETY: fflush(NULL) flushes every C stream.
    unsafe { fflush(core::ptr::null_mut()) };
}

fn main() {
    let (input, output, harness) = protocol();
    // SAFETY: getpgrp has no preconditions.
    let own = harness && unsafe { getpgrp() } as u32 == std::process::id();
    if harness {
        // The C's stdout and stderr share the case's output file: keep their order.
        // SAFETY: before any output; _IONBF is 2 in glibc.
        unsafe { setvbuf(stdout, core::ptr::null_mut(), 2, 0) };
    }
    if own {
        watch_parent(own);
    }
    let mut input = BufReader::new(input);
    let mut out = std::io::BufWriter::new(output);
    let mut slots: Vec<Slot> = Vec::new();
    // Block structures already reported lost (see `z`).
    let mut lost: i64 = 0;
    let mut eager = false;
    let mut line = String::new();
    loop {
        line.clear();
        if input.read_line(&mut line).unwrap_or(0) == 0 {
            flush_c_output();
            let _ = out.flush();
            end_group(own); // the harness closed its end: it is gone
            break;
        }
        let mut it = line.split_whitespace();
        let reply = match it.next() {
            Some("i") => {
                let (base, size, chunk) = (num(&mut it), num(&mut it), num(&mut it));
                match api::new(base, size, chunk) {
                    Ok(b) => {
                        let avail = api::info(&b).0;
                        slots.push(Slot { buddy: Some(b), allocs: Vec::new() });
                        format!("0 {} {}", slots.len() - 1, avail)
                    }
                    Err(e) => {
                        slots.push(Slot { buddy: None, allocs: Vec::new() });
                        e.to_string()
                    }
                }
            }
            Some("a") => {
                let id = slot_id(&mut it, slots.len());
                let m = it.next().unwrap_or("s").to_string();
                let (start, end, size, min, bits) =
                    (num(&mut it), num(&mut it), num(&mut it), num(&mut it), num(&mut it));
                let slot = &mut slots[id];
                match slot.buddy.as_ref() {
                    None => {
                        slot.allocs.push(None);
                        format!("{ENODEV} 0 0")
                    }
                    Some(buddy) => {
                        let r = alloc(buddy, &m, start, end, size, min, bits);
                        let avail = api::info(buddy).0;
                        match r {
                            Ok(a) => {
                                let text = format!("0 {avail} {}", blocks_text(&a));
                                slot.allocs.push(Some(a));
                                text
                            }
                            Err(e) => {
                                slot.allocs.push(None);
                                format!("{e} {avail} 0")
                            }
                        }
                    }
                }
            }
            Some("f") => {
                let (id, h) = (slot_id(&mut it, slots.len()), num(&mut it) as usize);
                let slot = &mut slots[id];
                if let Some(a) = slot.allocs.get_mut(h) {
                    drop(a.take());
                }
                format!("0 {}", slot.buddy.as_ref().map_or(0, |b| api::info(b).0))
            }
            Some("c") => match slots[slot_id(&mut it, slots.len())].buddy.as_ref() {
                Some(b) => {
                    let (avail, size, chunk, base) = api::info(b);
                    format!("0 {avail} {size} {chunk} {base}")
                }
                None => "0 0 0 0 0".to_string(),
            },
            Some("e") => {
                let (id, h) = (slot_id(&mut it, slots.len()), num(&mut it) as usize);
                match slots[id].allocs.get(h) {
                    Some(Some(a)) => format!("0 {}", u8::from(a.is_empty())),
                    _ => "0 2".to_string(),
                }
            }
            Some("d") => {
                let id = slot_id(&mut it, slots.len());
                slots[id].buddy = None;
                "0".to_string()
            }
            Some("z") => {
                let id = slot_id(&mut it, slots.len());
                // The allocator is finalised when its last reference goes: the allocations
                // hold one each, so they go first, as a kernel user's would.
                slots[id].allocs.clear();
                slots[id].buddy = None;
                // Once nothing holds a C allocator, every block structure should be back.
                // What is lost, reported once, stays lost: later counts start from there.
                let mut leaked = 0;
                if slots.iter().all(|s| s.buddy.is_none() && s.allocs.iter().all(Option::is_none)) {
                    // SAFETY: the shim's counter of live block structures, read only.
                    let live = unsafe { bh_live() };
                    leaked = live - lost;
                    lost = live;
                    slots.clear();
                }
                format!("0 {leaked}")
            }
            Some("E") => {
                eager = true;
                "0".to_string()
            }
            Some("W") => {
                let n = warnings().len();
                n.to_string()
            }
            Some("w") => {
                let w = warnings();
                let mut s = w.len().to_string();
                for line in w {
                    s.push('\n');
                    s.push_str(&line.replace('\n', " "));
                }
                s
            }
            Some("T") => {
                let (t, ops, seed, size, chunk) =
                    (num(&mut it), num(&mut it), num(&mut it), num(&mut it), num(&mut it));
                stress(t, ops, seed, size, chunk)
            }
            Some("q") | None => break,
            Some(other) => {
                eprintln!("protocol: unknown request '{other}'");
                std::process::exit(3)
            }
        };
        let _ = writeln!(out, "{reply}");
        if eager || input.buffer().is_empty() {
            flush_c_output();
            let _ = out.flush();
        }
    }
    flush_c_output();
    let _ = out.flush();
}
