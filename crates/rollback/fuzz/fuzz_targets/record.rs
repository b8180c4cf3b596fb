#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    rollback_fuzz::record(data);
});
