//! Gives back the code pages a process touched only to start (and, in the monitor, the heap it
//! freed): the monitor after it created
//! its container, berthd once it serves the API. Most of the
//! monitor's binary (libcontainer, spec parsing, cgroup setup) runs once; afterwards it only
//! copies output and waits. Those pages stay mapped, so each idle monitor would look several
//! MiB big. Zapping our own page-table entries for them (MADV_DONTNEED) drops them from our
//! RSS while leaving them in the page cache for the next monitor; the few pages the loop
//! needs fault back in cheaply. MADV_PAGEOUT, used before, reclaimed the pages from the page
//! cache instead: every rmap walk visited every other monitor's mapping of the binary (a
//! start cost growing with the number of containers), and the next start read them from disk.

/// Tunes glibc's allocator for a long-running, many-threaded daemon. Call at the start of
/// main, before other threads start.
///
/// The mmap threshold stays at its default, 128 KiB. Left dynamic, freeing one large buffer
/// (a whole file read, a big request body, `/proc/self/smaps`) raises the threshold to that
/// buffer's size, and from then on every malloc arena may keep up to twice that in freed
/// memory: one read of the 680 KB init binary left a restarted berthd 5.5 MiB larger. Set
/// explicitly, the threshold stays put and large buffers are mapped and unmapped on their own.
///
/// At most two malloc arenas. By default a thread that finds an arena locked takes one of its
/// own, up to eight per core, and memory freed into an arena serves only the threads that use
/// it: a swarm leader's async workers and blocking threads (its passes, its reads of every
/// task) spread 10,000 tasks' churn over many arenas. Capped, the leader of the scale bench
/// held 333 MiB after the rolling update of 10,000 tasks instead of 434, and 473 MiB at 20,000
/// instead of 620, at the same speed.
pub fn tune_malloc() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes the allocator's tuning; it is called at the start of
        // main, before any other thread allocates.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// What an idle, single-threaded process (a monitor, the spawner) gives back once its start
/// is over: the unrelocated pages of its read-only data, the heap the start freed, the stack
/// its deepest calls touched, and its mappings of the start-up code. In that order, so that once the code is dropped nothing runs but the
/// return to the caller's loop: every page touched after the drop maps its fault-around window
/// again (64–128 KiB of the binary), and the drops of a heap-allocated list after the code
/// went (allocator and `Vec` code spread over the binary) once brought back ~450 KiB.
pub fn release_idle_memory() {
    let maps = read_maps();
    for &range in maps.relocated.as_slice() {
        drop_file_pages(range);
    }
    release_free_heap();
    if let Some(stack) = maps.stack {
        release_stack_below_here(stack);
    }
    drop_mappings(&maps.clean);
}

/// Drops our mappings of the clean pages of the executable and of the libraries. Best effort.
/// For a process with other threads running (berthd).
pub fn release_startup_pages() {
    drop_mappings(&read_maps().clean);
}

/// Gives the kernel back the heap pages the start freed: libcontainer's builder, the spec and
/// its parse, the seccomp compilation. glibc returns only the top of the heap on its own, and
/// only past 128 KiB free there; what lies below a live allocation stays resident (~1 MiB of
/// an idle monitor's 1.9 MiB). `malloc_trim` releases every whole free page, wherever it is.
fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim only returns free memory to the kernel; the process calling it
        // is single-threaded and holds no allocator state across the call.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Pagemap entry bits (`Documentation/admin-guide/mm/pagemap.rst`).
const PAGE_PRESENT: u64 = 1 << 63;
const PAGE_SWAPPED: u64 = 1 << 62;
const PAGE_FILE: u64 = 1 << 61;

/// Entries read from `/proc/self/pagemap` at a time.
const PAGEMAP_CHUNK: usize = 64;

/// Drops the pages of a relocated read-only mapping (the binary's RELRO segment: vtables,
/// the GOT) that still hold the file's content, keeping those the loader wrote: they are
/// private copies, and dropping one would bring back the unrelocated bytes. In the monitor
/// ~170 KiB of its 212 KiB are the file's.
fn drop_file_pages((start, end): (usize, usize)) {
    use std::os::unix::fs::FileExt;
    let Ok(pagemap) = std::fs::File::open("/proc/self/pagemap") else {
        return;
    };
    let page = page_size();
    let mut entries = [0u8; 8 * PAGEMAP_CHUNK];
    let mut run: Option<usize> = None;
    let mut addr = start;
    'chunks: while addr < end {
        let n = ((end - addr) / page).min(PAGEMAP_CHUNK);
        let buf = &mut entries[..n * 8];
        let offset = u64::try_from(addr / page * 8).unwrap_or(u64::MAX);
        if pagemap.read_exact_at(buf, offset).is_err() {
            break 'chunks;
        }
        for entry in buf.chunks_exact(8) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(entry);
            let e = u64::from_ne_bytes(bytes);
            let private = e & PAGE_SWAPPED != 0 || (e & PAGE_PRESENT != 0 && e & PAGE_FILE == 0);
            match (private, run) {
                (false, None) => run = Some(addr),
                (true, Some(from)) => {
                    // SAFETY: every page in the run was, as the kernel reported, absent or the
                    // file's own page; the mapping is read-only, so none becomes private since.
                    unsafe { dont_need(from, addr) };
                    run = None;
                }
                _ => {}
            }
            addr += page;
        }
    }
    if let Some(from) = run {
        // SAFETY: as above, for the pages checked before the loop ended.
        unsafe { dont_need(from, addr) };
    }
}

/// Drops our page-table entries for `start..end`.
///
/// # Safety
///
/// Every page in the range must be one whose content can be lost or found again: a file's
/// page (mapped back from the page cache) or memory nothing will read before writing.
unsafe fn dont_need(start: usize, end: usize) {
    // SAFETY: the caller vouches for the range; madvise does not touch other memory.
    unsafe {
        libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
    }
}

/// Room left below this frame for the calls still to come (the `madvise` calls and their
/// wrappers use a few hundred bytes) and for the red zone of any frame.
const STACK_MARGIN: usize = 16 * 1024;

/// Drops the main thread's stack pages below this frame: the start's deepest calls
/// (libcontainer, the spec's parse) touched ~70 KiB of stack that an idle loop never uses
/// again, but the kernel keeps it mapped.
#[inline(never)]
fn release_stack_below_here(stack: (usize, usize)) {
    let here = std::ptr::addr_of!(stack) as usize;
    let page = page_size();
    let end = (here & !(page - 1)).saturating_sub(STACK_MARGIN);
    if here >= stack.1 || end <= stack.0 {
        return;
    }
    // SAFETY: the range is the part of our own main-thread stack more than STACK_MARGIN below
    // this frame. Nothing lives below the stack pointer (only this single-threaded process
    // uses this stack, and the red zone is 128 bytes); dropped pages read as zero if a later,
    // deeper call or a signal handler reaches them again.
    unsafe { dont_need(stack.0, end) };
}

fn page_size() -> usize {
    // SAFETY: sysconf reads a constant of the system.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n)
        .ok()
        .filter(|n| n.is_power_of_two())
        .unwrap_or(4096)
}

/// Drops our mappings of `ranges`. Allocates nothing, so that no allocator code runs after.
fn drop_mappings(ranges: &Ranges) {
    for &(start, end) in ranges.as_slice() {
        // SAFETY: the range is one of our own read-only mappings of a file with no private
        // (copied-on-write) pages, as the kernel listed it: every page in it is the file's
        // content, so dropping it loses nothing; the next access maps it back from the page
        // cache.
        unsafe { dont_need(start, end) };
    }
}

/// Mappings beyond this many are left mapped. A monitor has ~20 file mappings (its binary,
/// libc, the loader, libseccomp and a few other libraries), berthd about as many.
const MAX_RANGES: usize = 64;

/// Address ranges kept on the stack, not the heap: freeing a list after the code is dropped
/// would run allocator code from all over the binary.
struct Ranges {
    items: [(usize, usize); MAX_RANGES],
    len: usize,
}

impl Ranges {
    fn new() -> Self {
        Ranges {
            items: [(0, 0); MAX_RANGES],
            len: 0,
        }
    }

    fn push(&mut self, range: (usize, usize)) {
        if let Some(slot) = self.items.get_mut(self.len) {
            *slot = range;
            self.len += 1;
        }
    }

    fn as_slice(&self) -> &[(usize, usize)] {
        &self.items[..self.len]
    }
}

/// What `/proc/self/smaps` says of our mappings.
struct Maps {
    /// Clean read-only file mappings: our binary's and the libraries' code and read-only data.
    clean: Ranges,
    /// Read-only file mappings holding private pages too: the relocated (RELRO) segments.
    relocated: Ranges,
    /// The main thread's stack.
    stack: Option<(usize, usize)>,
}

/// Our mappings, read from `/proc/self/smaps`; none if it cannot be read. The text read is
/// freed before this returns.
fn read_maps() -> Maps {
    match std::fs::read_to_string("/proc/self/smaps") {
        Ok(smaps) => parse_maps(&smaps),
        Err(_) => Maps {
            clean: Ranges::new(),
            relocated: Ranges::new(),
            stack: None,
        },
    }
}

/// The file mappings in `smaps` (the executable's, the libraries') that are not writable, by
/// whether they hold anonymous pages, and the stack. A relocated RELRO segment is read-only
/// too but partly private to us (Anonymous > 0): zapping it whole would bring back the
/// unrelocated file content, so it is kept apart. libc's code is mapped by every process, so in an idle monitor the pages
/// its start touched (~650 KiB) counted in its RSS though not in its PSS.
fn parse_maps(smaps: &str) -> Maps {
    let mut clean = Ranges::new();
    let mut relocated = Ranges::new();
    let mut stack = None;
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some((range, kind)) = mapping_header(line) {
            current = (kind == Mapping::ReadOnlyFile).then_some(range);
            if kind == Mapping::Stack {
                stack = Some(range);
            }
            continue;
        }
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if let Some(range) = current.take() {
                if kb.trim().trim_end_matches("kB").trim() == "0" {
                    clean.push(range);
                } else {
                    relocated.push(range);
                }
            }
        }
    }
    Maps {
        clean,
        relocated,
        stack,
    }
}

/// The kinds of mapping `parse_maps` looks for.
#[derive(Debug, PartialEq, Eq)]
enum Mapping {
    /// A read-only mapping of a file (not `[vdso]` and the like).
    ReadOnlyFile,
    /// `[stack]`: the main thread's.
    Stack,
    Other,
}

/// For a mapping's header line: its range and kind. `None` for a field line.
fn mapping_header(line: &str) -> Option<((usize, usize), Mapping)> {
    let mut f = line.split_whitespace();
    let range = f.next()?;
    let (start, end) = range.split_once('-')?;
    let (Ok(start), Ok(end)) = (
        usize::from_str_radix(start, 16),
        usize::from_str_radix(end, 16),
    ) else {
        return None;
    };
    let perms = f.next().unwrap_or("");
    let path = f.nth(3).unwrap_or("");
    let kind = if path == "[stack]" {
        Mapping::Stack
    } else if path.starts_with('/') && !perms.contains('w') {
        Mapping::ReadOnlyFile
    } else {
        Mapping::Other
    };
    Some(((start, end), kind))
}

#[cfg(test)]
mod tests {
    use super::{drop_file_pages, parse_maps, read_maps};

    /// The anonymous (private) kB of each mapping starting at one of `starts`.
    fn anonymous_kb(starts: &[usize]) -> Vec<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut out = Vec::new();
        let mut current = false;
        for line in smaps.lines() {
            if let Some(range) = line.split_whitespace().next().filter(|r| r.contains('-')) {
                let start = range.split('-').next().unwrap_or("");
                current = usize::from_str_radix(start, 16).is_ok_and(|s| starts.contains(&s));
            } else if let Some(kb) = line.strip_prefix("Anonymous:").filter(|_| current) {
                out.push(kb.trim().trim_end_matches("kB").trim().parse().unwrap());
            }
        }
        out
    }

    #[test]
    fn relocated_pages_are_kept_and_the_files_dropped() {
        let maps = read_maps();
        let starts: Vec<usize> = maps.relocated.as_slice().iter().map(|r| r.0).collect();
        assert!(
            !starts.is_empty(),
            "a PIE test binary has a relocated segment"
        );
        let before = anonymous_kb(&starts);
        for &range in maps.relocated.as_slice() {
            drop_file_pages(range);
        }
        // Had a page the loader wrote been dropped, its unrelocated bytes would be back: the
        // private count would fall, and calls through the GOT and vtables would go astray.
        assert_eq!(anonymous_kb(&starts), before);
        let shown: Box<dyn std::fmt::Display> = Box::new(42);
        assert_eq!(shown.to_string(), "42");
    }

    const SMAPS: &str = "\
55d0a0000000-55d0a0100000 r--p 00000000 fe:01 123 /usr/bin/berth-monitor
Size:               1024 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
55d0a0100000-55d0a0400000 r-xp 00100000 fe:01 123 /usr/bin/berth-monitor
Size:               3072 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
55d0a0400000-55d0a0410000 r--p 00400000 fe:01 123 /usr/bin/berth-monitor
Size:                 64 kB
Anonymous:            64 kB
VmFlags: rd mr mw me ac
55d0a0410000-55d0a0420000 rw-p 00410000 fe:01 123 /usr/bin/berth-monitor
Size:                 64 kB
Anonymous:             0 kB
VmFlags: rd wr mr mw me ac
7f0000000000-7f0000001000 r-xp 00000000 fe:01 456 /usr/lib/libc.so.6
Size:                  4 kB
Anonymous:             0 kB
VmFlags: rd ex mr mw me
7f0000002000-7f0000003000 r--p 00000000 00:00 0 [vvar]
Size:                  4 kB
Anonymous:             0 kB
VmFlags: rd mr pf io de dd
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0                          [stack]
Size:                132 kB
Anonymous:            76 kB
VmFlags: rd wr mr mw me gd ac
";

    #[test]
    fn only_clean_read_only_file_mappings() {
        let got = parse_maps(SMAPS);
        assert_eq!(got.stack, Some((0x7ffc00000000, 0x7ffc00021000)));
        assert_eq!(
            got.relocated.as_slice(),
            [(0x55d0a0400000, 0x55d0a0410000)].as_slice()
        );
        assert_eq!(
            got.clean.as_slice(),
            vec![
                (0x55d0a0000000, 0x55d0a0100000),
                (0x55d0a0100000, 0x55d0a0400000),
                (0x7f0000000000, 0x7f0000001000)
            ]
            .as_slice()
        );
    }
}
