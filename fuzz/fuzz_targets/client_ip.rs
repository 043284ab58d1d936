#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| hookwall::fuzzing::client_ip(data));
