//! An event sink that reads into memory lent by its driver: the inline engine lends the free
//! end of a JS-owned slab Buffer for each round, so the bytes JS receives were never copied.
//! When the lent memory is full the shard carries the remaining reads over to its next round.

use crate::batch::Batch;
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId, TimeoutKind};

/// An event sink that records events in `batch` and reads into `mem`. Data records name
/// their bytes by offset from the start of `mem`.
pub struct LentSink<'a> {
    /// Where every event is recorded.
    pub batch: &'a mut Batch,
    /// The memory reads go to.
    pub mem: &'a mut [u8],
    /// Bytes of `mem` read so far (kept outside, so it survives a panic in the round).
    pub used: &'a mut usize,
}

impl EventSink for LentSink<'_> {
    fn read_buffer(&mut self, _min: usize) -> &mut [u8] {
        &mut self.mem[*self.used..]
    }

    fn data(&mut self, conn: ConnId, len: usize) {
        // Offsets are relative to the start of the lent memory.
        self.batch.push_data(conn, *self.used as u32, len as u32);
        *self.used += len;
    }

    fn accepted(&mut self, listener: ListenerId, conn: ConnId) {
        self.batch.accepted(listener, conn);
    }

    fn connected(&mut self, conn: ConnId, result: Result<(), NetError>) {
        self.batch.connected(conn, result);
    }

    fn flushed(&mut self, conn: ConnId) {
        self.batch.flushed(conn);
    }

    fn read_closed(&mut self, conn: ConnId) {
        self.batch.read_closed(conn);
    }

    fn timeout(&mut self, conn: ConnId, kind: TimeoutKind) {
        self.batch.timeout(conn, kind);
    }

    fn closed(&mut self, conn: ConnId, error: Option<NetError>) {
        self.batch.closed(conn, error);
    }

    fn listener_error(&mut self, listener: ListenerId, error: NetError) {
        self.batch.listener_error(listener, error);
    }

    fn accepted_from(&mut self, listener: ListenerId, conn: ConnId, origin: u32) {
        self.batch.accepted_from(listener, conn, origin);
    }

    fn tls_client_error(&mut self, listener: ListenerId, origin: u32, error: NetError) {
        self.batch.tls_client_error(listener, origin, error);
    }

    fn sni_request(&mut self, listener: ListenerId, origin: u32, conn: ConnId, name: &str) -> bool {
        let at = *self.used;
        let Some(room) = self.mem.get_mut(at..at + name.len()) else {
            return false;
        };
        room.copy_from_slice(name.as_bytes());
        *self.used += name.len();
        let span = (at as u32, name.len() as u32);
        self.batch.push_sni(listener, origin, conn, span);
        true
    }

    fn pending_input(&self) -> usize {
        *self.used + self.batch.pending_input()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::{RecordKind, RECORD_LEN};

    #[test]
    fn an_sni_request_without_room_for_its_name_records_nothing_and_asks_again() {
        let conn = ConnId {
            index: 1,
            generation: 1,
        };
        let mut batch = Batch::default();
        let mut mem = [0u8; 12];
        let mut used = 4;
        let mut sink = LentSink {
            batch: &mut batch,
            mem: &mut mem,
            used: &mut used,
        };
        assert!(!sink.sni_request(ListenerId(0), 0, conn, "alpha.test"));
        assert!(sink.batch.records.is_empty());
        assert!(sink.sni_request(ListenerId(0), 0, conn, "beta"));
        assert_eq!(used, 8);
        let r: Vec<&[u32]> = batch.records.chunks_exact(RECORD_LEN).collect();
        assert_eq!(r[1], [RecordKind::SniName as u32, 1, 1, 4, 4]);
        assert_eq!(&mem[4..8], b"beta");
    }
}
