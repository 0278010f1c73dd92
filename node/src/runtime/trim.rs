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

/// Gives the kernel back the heap pages the start freed: libcontainer's builder, the spec and
/// its parse, the seccomp compilation. glibc returns only the top of the heap on its own, and
/// only past 128 KiB free there; what lies below a live allocation stays resident (~1 MiB of
/// an idle monitor's 1.9 MiB). `malloc_trim` releases every whole free page, wherever it is.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: malloc_trim only returns free memory to the kernel; the monitor calling it
        // is single-threaded and holds no allocator state across the call.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Drops our mappings of the clean pages of the executable and of the libraries. Best effort.
pub fn release_startup_pages() {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return;
    };
    for (start, end) in clean_file_mappings(&smaps) {
        // SAFETY: the range is one of our own read-only mappings of a file with no private
        // (copied-on-write) pages, as the kernel listed it: every page in it is the file's
        // content, so dropping it loses nothing; the next access maps it back from the page
        // cache.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED);
        }
    }
}

/// Address ranges of the file mappings in `smaps` (the executable's, the libraries') that are
/// not writable and hold no anonymous pages. The relocated RELRO segment is read-only too but
/// private to us (Anonymous > 0): zapping it would bring back the unrelocated file content, so
/// it must be skipped. libc's code is mapped by every process, so in an idle monitor the pages
/// its start touched (~650 KiB) counted in its RSS though not in its PSS.
fn clean_file_mappings(smaps: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        if let Some((range, eligible)) = mapping_header(line) {
            current = eligible.then_some(range);
            continue;
        }
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if let Some(range) = current.take() {
                if kb.trim().trim_end_matches("kB").trim() == "0" {
                    out.push(range);
                }
            }
        }
    }
    out
}

/// For a mapping's header line: its range, and whether it is a read-only mapping of a file
/// (not `[vdso]` and the like). `None` for a field line.
fn mapping_header(line: &str) -> Option<((usize, usize), bool)> {
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
    Some(((start, end), path.starts_with('/') && !perms.contains('w')))
}

#[cfg(test)]
mod tests {
    use super::clean_file_mappings;

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
";

    #[test]
    fn only_clean_read_only_file_mappings() {
        let got = clean_file_mappings(SMAPS);
        assert_eq!(
            got,
            vec![
                (0x55d0a0000000, 0x55d0a0100000),
                (0x55d0a0100000, 0x55d0a0400000),
                (0x7f0000000000, 0x7f0000001000)
            ]
        );
    }
}
