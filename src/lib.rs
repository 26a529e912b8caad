//! scivision: scientific computer-vision models, each in its own conda prefix.
//!
//! Data flows one way: recipe → build → channel (the maintainer's half), and
//! catalog → spec → solve → install → lock (the user's half). The CLI in `cli` only parses
//! arguments and presents results.
//!
//! # Architecture
//!
//! Modules use only modules of their own layer or below (`tests/architecture.rs` fails on a
//! cycle, and on a library module that uses the CLI):
//!
//! 1. leaves: `atomic` (file placement), `names`, `redact`, `message` (errors as text),
//!    `package` (the conda package writer), `record` (wheels' RECORD files);
//! 2. the network and the caches: `tls` (the system's roots, loaded lazily) → `http` (client,
//!    retries) → `prefix` (package cache,
//!    installer, repodata gateway) → `integrity`;
//! 3. data and its rules: `weights`, `runner`, `solve` → `system`, `mapping`, `lock`, `pypi`,
//!    `config`;
//! 4. the maintainer's half: `channel` (index, deprecations) → `build` (recipes to packages);
//! 5. the catalog: `card` → `catalog` → `card_recipe`, `compat` → `curation` (lint, conflicts,
//!    recipes);
//! 6. the user's workflows: `env` (solve, install, create) → `request` (a command's request),
//!    `locking` (`env lock`), `pack`, `prediction` (a model run in its prefix), `doctor` (what
//!    the host offers), `kernel`, `cache`;
//! 7. `cli`.
//!
//! Settings flow one way too: the CLI resolves flags, environment variables and the config
//! file once into [`config::Settings`] and passes what each call needs; no other library
//! module reads the environment (`tests/architecture.rs` checks that as well). Errors keep
//! their class ([`message::ErrorClass`]), which the CLI turns into the exit code.

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
pub mod curation;
pub mod doctor;
pub mod env;
pub mod http;
pub mod integrity;
pub mod kernel;
pub mod lock;
pub mod locking;
pub mod mapping;
pub mod message;
pub mod names;
pub mod pack;
pub mod package;
pub mod prediction;
pub mod prefix;
pub mod pypi;
pub mod record;
pub mod redact;
pub mod request;
pub mod runner;
pub mod solve;
pub mod system;
pub mod tls;
pub mod variant;
pub mod weights;
