#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    keyfile_fuzz::read(data);
});
