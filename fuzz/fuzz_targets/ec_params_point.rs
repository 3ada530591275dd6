#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| shieldhsm::fuzzing::ec_params_point(data));
