#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    dm_fuzz::integrity_superblock(data);
});
