#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shieldhsm::fuzzing::attr_decode(data));
