#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    pe_fuzz::parse(data);
});
