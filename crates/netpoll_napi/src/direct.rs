//! The inline engine's direct connections: busy connections of a nearly idle shard watched
//! by their own `uv_poll` on Node's loop, so a request costs libuv's poll, the read and the
//! write, without the shard's nested poll (see `netpoll_core::shard::DirectHost`).

use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::os::fd::RawFd;

use netpoll_core::event::ConnId;
use netpoll_core::shard::DirectHost;

use crate::uv::UvHandle;

/// Most connections a shard may hold for a new hand-over: one or two request/response
/// connections gain a syscall per request; beyond that the nested poll is shared by several
/// events, and one batch per round beats one JS call per connection.
pub const MAX_DIRECT_CONNECTIONS: usize = 2;

/// What a direct connection's `uv_poll` callback needs: its engine and its connection.
pub struct DirectCtx {
    /// The engine's `Inner`, as an opaque pointer (it outlives every handle).
    pub engine: *const c_void,
    pub id: ConnId,
}

struct Entry {
    id: ConnId,
    handle: UvHandle,
    /// Boxed: the handle's `data` points at it.
    _ctx: Box<DirectCtx>,
}

/// The direct connections of one engine and their `uv_poll` handles.
#[derive(Default)]
pub struct DirectSet {
    entries: Vec<Entry>,
}

/// The `uv_poll` callback of direct connections.
pub type DirectCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);

impl DirectSet {
    /// Starts watching `fd` of `id` for readability on `event_loop`; the handle keeps the
    /// loop alive if `referenced` (like the engine's other handles, see [`DirectSet::set_ref`]).
    pub fn watch(
        &mut self,
        event_loop: *mut c_void,
        engine: *const c_void,
        (id, fd): (ConnId, RawFd),
        cb: DirectCb,
        referenced: bool,
    ) -> Result<(), c_int> {
        let ctx = Box::new(DirectCtx { engine, id });
        let data = &*ctx as *const DirectCtx as *mut c_void;
        let handle = UvHandle::poll(event_loop, fd, data, cb)?;
        if !referenced {
            handle.set_ref(false);
        }
        self.entries.push(Entry {
            id,
            handle,
            _ctx: ctx,
        });
        Ok(())
    }

    /// Stops watching `id` (its handle closes now; no callback follows). Whether it was
    /// watched.
    pub fn unwatch(&mut self, id: ConnId) -> bool {
        let Some(i) = self.entries.iter().position(|e| e.id == id) else {
            return false;
        };
        self.entries.swap_remove(i).handle.close();
        true
    }

    /// Whether every handle keeps the loop alive (they follow the engine's other handles).
    pub fn set_ref(&self, referenced: bool) {
        for e in &self.entries {
            e.handle.set_ref(referenced);
        }
    }

    /// The connections watched now.
    pub fn ids(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.entries.iter().map(|e| e.id)
    }

    /// Whether none is watched.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Drop for DirectSet {
    fn drop(&mut self) {
        for e in self.entries.drain(..) {
            e.handle.close();
        }
    }
}

/// The shard's side of the set: closes a direct connection's handle when the shard
/// discards it, before its descriptor closes.
pub struct Release {
    set: *const RefCell<DirectSet>,
}

impl Release {
    /// A release hook for `set`, which must outlive the shard it is given to.
    pub fn new(set: &RefCell<DirectSet>) -> Release {
        Release { set }
    }
}

// SAFETY: the inline engine's shard never leaves the JS thread that created it; the hook is
// only called from that shard's methods, on that thread.
unsafe impl Send for Release {}

impl DirectHost for Release {
    fn max_connections(&self) -> usize {
        MAX_DIRECT_CONNECTIONS
    }

    fn release(&mut self, id: ConnId) {
        // SAFETY: the set lives in the engine's boxed Inner, which owns (and outlives) the
        // shard that calls this; the set is never borrowed across a shard call.
        let set = unsafe { &*self.set };
        set.borrow_mut().unwatch(id);
    }
}
