//! Gives back the code pages the monitor touched only to create the container. Most of the
//! monitor's binary (libcontainer, spec parsing, cgroup setup) runs once; afterwards it only
//! copies output and waits. Those clean file-backed pages stay resident until memory pressure,
//! so each idle monitor would look several MiB big. MADV_PAGEOUT drops them now; the few pages
//! the loop needs fault back in.

/// Pages out the clean file-backed mappings of our own executable. Best effort.
pub fn release_startup_pages() {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return;
    };
    let exe = exe.to_string_lossy().into_owned();
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return;
    };
    for line in maps.lines() {
        let mut f = line.split_whitespace();
        let (Some(range), Some(perms)) = (f.next(), f.next()) else {
            continue;
        };
        let path = f.nth(3).unwrap_or("");
        // Only read-only or executable mappings of the binary: never writable data.
        if path != exe || perms.contains('w') {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        // SAFETY: the range is one of our own mappings as the kernel listed it; MADV_PAGEOUT
        // only reclaims clean pages, which are read back from the file on next access.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_PAGEOUT);
        }
    }
}
