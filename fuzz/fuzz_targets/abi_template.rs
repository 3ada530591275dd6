#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shieldhsm::fuzzing::abi_template(data));
