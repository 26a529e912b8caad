//! scivision: scientific computer-vision models, each in its own conda prefix.
//!
//! Data flows one way: recipe → build → channel (the maintainer's half), and
//! catalog → spec → solve → install → lock (the user's half). The CLI in `cli` only parses
//! arguments and presents results.

pub mod atomic;
pub mod build;
pub mod cache;
pub mod card;
pub mod card_recipe;
pub mod catalog;
pub mod channel;
pub mod cli;
pub mod compat;
pub mod config;
pub mod env;
pub mod http;
pub mod integrity;
pub mod kernel;
pub mod lock;
pub mod mapping;
pub mod names;
pub mod pack;
pub mod prefix;
pub mod pypi;
pub mod redact;
pub mod runner;
pub mod solve;
pub mod system;
pub mod weights;
