#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    verity_fuzz::verify_tree(data);
});
