//! Reads held while the consumer is behind (see [`ShardConfig::max_pending_input`]), kept
//! in the order that makes the limit fair.
//!
//! Within a round, the first connection to be read may fill the limit by itself; every
//! connection readable after it is held. Released in plain arrival order, the same bulk
//! stream would be first again next round and fill the limit again, and a connection with
//! ten bytes behind it would wait until the stream ran dry. So a connection held before it
//! read anything goes ahead, on release, of every connection that had its turn.
//!
//! [`ShardConfig::max_pending_input`]: crate::config::ShardConfig::max_pending_input

use crate::event::ConnId;

/// The held connections: those held before they read (in arrival order), then those held
/// after reading (in arrival order).
#[derive(Debug, Default)]
pub(super) struct HeldReads {
    ids: Vec<ConnId>,
    /// How many of `ids`, at the front, were held before they read.
    waiting: usize,
}

impl HeldReads {
    /// Holds `id`; `had_turn`: it read in this round before the limit was reached.
    pub(super) fn hold(&mut self, id: ConnId, had_turn: bool) {
        if had_turn {
            self.ids.push(id);
        } else {
            self.ids.insert(self.waiting, id);
            self.waiting += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Releases every held connection into the round's work, fairly: those that waited,
    /// then `ready` (connections whose read budget ran out: they had their turn), then those
    /// that had their turn when they were held.
    pub(super) fn release(&mut self, ready: &mut Vec<ConnId>) -> Vec<ConnId> {
        let mut order = std::mem::take(&mut self.ids);
        let had_turn = order.split_off(self.waiting);
        self.waiting = 0;
        order.append(ready);
        order.extend(had_turn);
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(index: u32) -> ConnId {
        ConnId {
            index,
            generation: 0,
        }
    }

    #[test]
    fn those_that_waited_go_first_then_the_ready_then_those_that_had_their_turn() {
        let mut held = HeldReads::default();
        held.hold(id(0), true);
        held.hold(id(1), false);
        held.hold(id(2), true);
        held.hold(id(3), false);
        let mut ready = vec![id(9)];
        let order = held.release(&mut ready);
        assert_eq!(order, vec![id(1), id(3), id(9), id(0), id(2)]);
        assert!(held.is_empty() && ready.is_empty());
        held.hold(id(4), false);
        assert_eq!(held.release(&mut Vec::new()), vec![id(4)]);
    }
}
