//! `sniAnswer`: the owner's answer to a TLS connection's SNI request (Node's `SNICallback`
//! calling back), which the shard waits for before the handshake goes on (see the core's
//! `shard/tls_sni.rs`).

use napi_derive::napi;
use netpoll_core::shard::SniAnswer;
use netpoll_core::threaded::Command;

use crate::engine::{ask, conn, Engine, NativeEngine};
use crate::tls::NativeSecureContext;

#[napi]
impl NativeEngine {
    /// Answers the SNI request of a connection: the certificates of `context`, else (`refuse`
    /// false) the listener's own; with `refuse`, the connection is closed and not reported.
    /// Returns whether the connection was still waiting for the answer (false: it failed or
    /// closed meanwhile, and the answer did nothing). Threaded: only a refusal waits for the
    /// reactor's reply (an error path); the other answers return true at once.
    #[napi(catch_unwind)]
    pub fn sni_answer(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
        context: Option<&NativeSecureContext>,
        refuse: bool,
    ) -> napi::Result<bool> {
        let id = conn(index, generation);
        let answer = match (refuse, context) {
            (true, _) => SniAnswer::Refuse,
            (false, Some(c)) => SniAnswer::Context(c.inner.clone()),
            (false, None) => SniAnswer::Default,
        };
        match self.engine()? {
            Engine::Inline(e) => Ok(e.with_shard(|s| s.sni_answer(id, answer))),
            Engine::Threaded(t) if refuse => ask(t, shard, |reply| {
                Command::SniAnswer(id, answer, Some(reply))
            }),
            Engine::Threaded(t) => {
                t.send(shard, vec![Command::SniAnswer(id, answer, None)])?;
                Ok(true)
            }
        }
    }
}
