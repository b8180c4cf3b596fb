#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    httpd_fuzz::request(data);
});
