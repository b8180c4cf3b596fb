#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secureboot_fuzz::esl(data);
});
