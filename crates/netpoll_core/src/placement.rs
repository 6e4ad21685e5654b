//! Placement of connections over the shards of a threaded engine: round-robin, random or
//! least-connections, shared by every reactor thread (accepts handed over by the shard that
//! accepted them) and by the JS thread (dials).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::error::NetError;

/// How a new connection picks its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    /// Each shard in turn.
    #[default]
    RoundRobin,
    /// A uniformly random shard.
    Random,
    /// The shard with the fewest connections (ties: the lowest index).
    LeastConnections,
}

impl Policy {
    /// Parses `round-robin`, `random` or `least-connections`.
    pub fn parse(name: &str) -> Result<Policy, NetError> {
        match name {
            "round-robin" => Ok(Policy::RoundRobin),
            "random" => Ok(Policy::Random),
            "least-connections" => Ok(Policy::LeastConnections),
            other => Err(NetError::new(
                "ERR_INVALID_ARG_VALUE",
                format!("unknown load balance policy {other:?}"),
            )),
        }
    }
}

/// Picks shards by a [`Policy`]; safe to call from any thread.
#[derive(Debug)]
pub struct Balancer {
    policy: Policy,
    next: AtomicUsize,
    seed: AtomicU64,
    /// Connections per shard, as last published by each shard.
    loads: Box<[AtomicUsize]>,
    /// Per shard, connections picked for it that it has not taken in yet.
    pending: Box<[AtomicUsize]>,
}

impl Balancer {
    /// A balancer over `shards` shards (at least one).
    pub fn new(policy: Policy, shards: usize) -> Balancer {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Balancer {
            policy,
            next: AtomicUsize::new(0),
            seed: AtomicU64::new(seed | 1),
            loads: (0..shards.max(1)).map(|_| AtomicUsize::new(0)).collect(),
            pending: (0..shards.max(1)).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.loads.len()
    }

    /// The policy in use.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The shard for the next connection. The pick counts as one more connection on that
    /// shard until the shard reports it [`Balancer::placed`], so a burst spreads out.
    pub fn pick(&self) -> usize {
        let n = self.loads.len();
        let shard = match self.policy {
            Policy::RoundRobin => self.next.fetch_add(1, Ordering::Relaxed) % n,
            Policy::Random => (self.random() % n as u64) as usize,
            Policy::LeastConnections => (0..n).min_by_key(|&i| self.load(i)).unwrap_or(0),
        };
        self.pending[shard].fetch_add(1, Ordering::Relaxed);
        shard
    }

    /// Shard `shard` took in a connection picked for it (it is in its own count from now on).
    pub fn placed(&self, shard: usize) {
        if let Some(p) = self.pending.get(shard) {
            let _ = p.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
    }

    /// Shard `shard` reports how many connections it holds now.
    pub fn set_load(&self, shard: usize, connections: usize) {
        if let Some(load) = self.loads.get(shard) {
            load.store(connections, Ordering::Relaxed);
        }
    }

    /// The connection count of `shard` as the balancer sees it: its last published count
    /// plus the connections picked for it and not yet taken in.
    pub fn load(&self, shard: usize) -> usize {
        match (self.loads.get(shard), self.pending.get(shard)) {
            (Some(l), Some(p)) => l.load(Ordering::Relaxed) + p.load(Ordering::Relaxed),
            _ => 0,
        }
    }

    /// xorshift64*: fast, good enough to spread connections, and lock-free.
    fn random(&self) -> u64 {
        let mut x = self.seed.load(Ordering::Relaxed);
        loop {
            let mut y = x;
            y ^= y >> 12;
            y ^= y << 25;
            y ^= y >> 27;
            match self
                .seed
                .compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return y.wrapping_mul(0x2545_f491_4f6c_dd1d),
                Err(current) => x = current,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_cycles() {
        let b = Balancer::new(Policy::RoundRobin, 3);
        let picks: Vec<usize> = (0..6).map(|_| b.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn least_connections_fills_the_emptiest_shard_first() {
        let b = Balancer::new(Policy::LeastConnections, 3);
        b.set_load(0, 5);
        b.set_load(1, 2);
        b.set_load(2, 4);
        let picks: Vec<usize> = (0..4).map(|_| b.pick()).collect();
        // 1 goes 2→3→4, then ties with 2 at 4 (lowest index wins), then 2 at 5 vs 1 at 5.
        assert_eq!(picks, [1, 1, 1, 2]);
        assert_eq!((b.load(0), b.load(1), b.load(2)), (5, 5, 5));
        // Shard 1 took its three in and published them: the count is not doubled.
        for _ in 0..3 {
            b.placed(1);
        }
        b.set_load(1, 5);
        assert_eq!(b.load(1), 5);
        b.placed(0); // nothing pending: stays at its count
        assert_eq!(b.load(0), 5);
    }

    #[test]
    fn random_reaches_every_shard_roughly_evenly() {
        let b = Balancer::new(Policy::Random, 4);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            counts[b.pick()] += 1;
        }
        for c in counts {
            assert!((700..1300).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn policy_names_parse_and_unknown_ones_are_errors() {
        assert_eq!(Policy::parse("random").unwrap(), Policy::Random);
        assert_eq!(
            Policy::parse("least-connections").unwrap(),
            Policy::LeastConnections
        );
        assert_eq!(Policy::parse("round-robin").unwrap(), Policy::RoundRobin);
        assert_eq!(
            Policy::parse("fastest").unwrap_err().code,
            "ERR_INVALID_ARG_VALUE"
        );
    }
}
