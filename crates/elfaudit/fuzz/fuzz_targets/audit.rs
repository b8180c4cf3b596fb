#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    elfaudit_fuzz::audit(data);
});
