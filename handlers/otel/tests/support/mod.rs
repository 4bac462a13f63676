//! Test support shared by this crate's integration tests: a capturing exporter and a real Arize
//! Phoenix harness (`phoenix.rs`, self-contained so other test suites can include it with
//! `#[path = ".../phoenix.rs"] mod phoenix;`).
#![allow(dead_code)]

pub mod capture;
pub mod certs;
pub mod phoenix;
pub mod receiver;
