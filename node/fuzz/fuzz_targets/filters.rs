//! libFuzzer target: `berth_node::fuzz::filters` must return on any input without panicking.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| berth_node::fuzz::filters(data));
