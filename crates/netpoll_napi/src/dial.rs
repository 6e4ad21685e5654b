//! The dial methods of [`NativeEngine`]: placement, starting a dial, cancelling one.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::addr::{resolve, Network};
use netpoll_core::error::NetError;
use netpoll_core::stream::Stream;
use netpoll_core::threaded::Command;

use crate::convert::{io_err, to_napi};
use crate::engine::{Engine, NativeEngine};
use crate::tls_client::{client_tls, TlsClientOptions};

#[napi]
impl NativeEngine {
    /// The shard for a new dial, by the placement policy (always 0 inline).
    #[napi(catch_unwind)]
    pub fn pick_shard(&self) -> napi::Result<u32> {
        match self.engine()? {
            Engine::Inline(_) => Ok(0),
            Engine::Threaded(t) => t.pick_shard(),
        }
    }

    /// Starts a dial to a resolved address on `shard`. Inline: returns `[index, generation]`
    /// at once; threaded: returns `[]` and the `connected` record carries `tag`. Errors the
    /// OS reports at once are thrown: `bind` with the local address when `localAddress`
    /// cannot be bound, else `connect` with the address. A Unix listener whose backlog is
    /// full is retried until the timeout (0: until it connects or the listener goes away).
    /// With `tls`, the connection is reported once its TLS handshake completed (a failed
    /// handshake is the dial's error).
    #[napi(catch_unwind)]
    // One argument per JS parameter: an options object would cost every plain dial a
    // property read per field.
    #[allow(clippy::too_many_arguments)]
    pub fn dial(
        &self,
        shard: u32,
        network: String,
        address: String,
        local_address: Option<String>,
        timeout_ms: f64,
        tag: u32,
        tls: Option<TlsClientOptions>,
    ) -> napi::Result<Vec<u32>> {
        let tls = tls.as_ref().map(|o| client_tls(o, &address)).transpose()?;
        let network = Network::parse(&network).map_err(to_napi)?;
        let target = resolve(network, &address)
            .map_err(to_napi)?
            .into_iter()
            .next()
            .ok_or_else(|| to_napi(NetError::new("ERR_INVALID_ADDRESS", "no address")))?;
        let local = match local_address {
            Some(l) => resolve(network, &l).map_err(to_napi)?.into_iter().next(),
            None => None,
        };
        let dial = Stream::dial(&target, local.as_ref()).map_err(to_napi)?;
        let timeout = timeout_ms.max(0.0) as u64;
        match self.engine()? {
            Engine::Inline(e) => {
                let id = e.with_shard(|s| {
                    let id = s.dial(dial, timeout).map_err(|e| io_err(e, "connect"))?;
                    if let Some(tls) = &tls {
                        s.dial_tls(id, tls).map_err(to_napi)?;
                    }
                    Ok::<_, napi::Error>(id)
                })?;
                Ok(vec![id.index, id.generation])
            }
            Engine::Threaded(t) => {
                let command = match tls {
                    Some(tls) => Command::DialTls(dial, timeout, tag, tls),
                    None => Command::Dial(dial, timeout, tag),
                };
                t.send(shard, vec![command])?;
                Ok(vec![])
            }
        }
    }

    /// Threaded only: cancels the dial `tag` on `shard` if it is still connecting (its
    /// socket is closed, its `connected` record reports `ABORT_ERR`); a dial that finished
    /// meanwhile is left to its `connected` record. Inline dials are cancelled by closing
    /// their connection, whose id `dial` returned.
    #[napi(catch_unwind)]
    pub fn cancel_dial(&self, shard: u32, tag: u32) -> napi::Result<()> {
        match self.engine()? {
            Engine::Inline(_) => Err(napi::Error::new(
                Status::InvalidArg,
                "cancelDial is for threaded dials; close an inline dial's connection instead",
            )),
            Engine::Threaded(t) => t.send(shard, vec![Command::CancelDial(tag)]),
        }
    }
}
