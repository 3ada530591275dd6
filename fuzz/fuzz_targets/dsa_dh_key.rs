#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shieldhsm::fuzzing::dsa_dh_key(data));
