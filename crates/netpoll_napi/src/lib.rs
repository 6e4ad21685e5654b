//! netpoll_napi: the thin Node.js binding of `netpoll_core`. It only converts between JS and
//! core types; every algorithm lives in the core crate.
#![deny(missing_docs)]

mod conn_calls;
mod convert;
mod dial;
mod direct;
mod engine;
mod inline_engine;
mod js_call;
mod link_buffer;
mod pool_stats;
mod sni;
mod threaded_engine;
mod tls;
mod tls_client;
mod tls_info;
mod uv;

/// Version of the native addon (the crate version), to check that JS and binary match.
#[napi_derive::napi(catch_unwind)]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Tests only: makes the next `count` passes through `site` (`decode`, `write` or
/// `reactor`) panic, to prove that panics become errors or closed connections and never
/// cross into JS. Refused unless the environment has `NETPOLL_FAULT_INJECTION=1`.
#[napi_derive::napi(catch_unwind)]
pub fn inject_panic(site: String, count: u32) -> napi::Result<()> {
    if std::env::var("NETPOLL_FAULT_INJECTION").as_deref() != Ok("1") {
        return Err(napi::Error::from_reason(
            "panic injection needs NETPOLL_FAULT_INJECTION=1",
        ));
    }
    let site = netpoll_core::fault::Site::parse(&site)
        .ok_or_else(|| napi::Error::from_reason(format!("unknown site {site:?}")))?;
    netpoll_core::fault::count_panics();
    netpoll_core::fault::arm(site, count);
    Ok(())
}
