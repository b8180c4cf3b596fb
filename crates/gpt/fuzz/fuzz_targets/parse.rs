#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    gpt_fuzz::parse(data);
});
