#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fetch_fuzz::response(data);
});
