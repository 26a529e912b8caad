//! libFuzzer target `match_spec`: see fuzz/bodies.rs.
#![no_main]

#[path = "../bodies.rs"]
mod bodies;

libfuzzer_sys::fuzz_target!(|data: &[u8]| bodies::run("match_spec", data, bodies::scratch()));
