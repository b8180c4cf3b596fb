#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    authenticode_fuzz::verify_image(data);
});
