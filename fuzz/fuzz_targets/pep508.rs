//! libFuzzer target `pep508`: see fuzz/bodies.rs.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::run("pep508", data, bodies::scratch()));
