#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    luks2_fuzz::parse(data);
});
