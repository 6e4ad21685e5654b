//! netpoll_napi: the thin Node.js binding of `netpoll_core`. It only converts between JS and
//! core types; every algorithm lives in the core crate.
#![deny(missing_docs)]

mod convert;
mod engine;
mod inline_engine;
mod js_call;
mod link_buffer;
mod pool_stats;
mod threaded_engine;
mod uv;

/// Version of the native addon (the crate version), to check that JS and binary match.
#[napi_derive::napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
