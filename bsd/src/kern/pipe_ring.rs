//! The byte ring a pipe's data waits in (`sys_pipe`'s buffer): bytes go in at the tail and
//! come out at the head, each step at most two slice copies however the data wraps. Kept
//! apart from the pipe so the host tests can fill, drain, wrap and regrow it.

use alloc::vec::Vec;

/// A ring of `data.len()` bytes, `len` of them from `head` on.
pub struct PipeRing {
    data: Vec<u8>,
    head: usize,
    len: usize,
}

impl PipeRing {
    /// An empty ring over `storage` (its length is the ring's capacity).
    pub fn new(storage: Vec<u8>) -> PipeRing {
        PipeRing { data: storage, head: 0, len: 0 }
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Is nothing waiting?
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes the ring can hold.
    pub fn capacity(&self) -> usize {
        self.data.len()
    }

    /// Room left.
    pub fn free(&self) -> usize {
        self.data.len() - self.len
    }

    /// Appends as much of `src` as fits; returns how much.
    pub fn push(&mut self, src: &[u8]) -> usize {
        let cap = self.data.len();
        let n = src.len().min(self.free());
        if n == 0 {
            return 0;
        }
        // The free space starts after the data and may wrap past the end of the storage.
        let start = (self.head + self.len) % cap;
        let first = n.min(cap - start);
        self.data[start..start + first].copy_from_slice(&src[..first]);
        self.data[..n - first].copy_from_slice(&src[first..n]);
        self.len += n;
        n
    }

    /// Takes up to `dst.len()` bytes from the front; returns how many.
    pub fn pop(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len);
        if n == 0 {
            return 0;
        }
        let cap = self.data.len();
        let first = n.min(cap - self.head);
        dst[..first].copy_from_slice(&self.data[self.head..self.head + first]);
        dst[first..n].copy_from_slice(&self.data[..n - first]);
        self.head = (self.head + n) % cap;
        self.len -= n;
        n
    }

    /// Moves the waiting bytes, in order, to the front of `storage` (at least as long as
    /// they are) and makes it the ring's; returns the old storage.
    pub fn regrow(&mut self, mut storage: Vec<u8>) -> Vec<u8> {
        let len = self.len;
        let moved = self.pop(&mut storage[..len]);
        debug_assert_eq!(moved, len);
        let old = core::mem::replace(&mut self.data, storage);
        self.head = 0;
        self.len = len;
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use osfmk::test_rng::Rng;

    #[test]
    fn fills_drains_and_wraps_in_order() {
        let mut r = PipeRing::new(vec![0; 8]);
        assert_eq!(r.push(b"abcdef"), 6);
        let mut out = [0u8; 4];
        assert_eq!(r.pop(&mut out), 4);
        assert_eq!(&out, b"abcd");
        // Six more: two fit before the end, the rest wrap; only six of seven fit.
        assert_eq!(r.push(b"ghijklm"), 6);
        assert_eq!(r.free(), 0);
        assert_eq!(r.push(b"z"), 0);
        let mut all = [0u8; 16];
        assert_eq!(r.pop(&mut all), 8);
        assert_eq!(&all[..8], b"efghijkl");
        assert!(r.is_empty());
        assert_eq!(r.pop(&mut all), 0);
    }

    #[test]
    fn regrow_keeps_wrapped_bytes_in_order() {
        let mut r = PipeRing::new(vec![0; 8]);
        r.push(b"12345678");
        let mut out = [0u8; 5];
        r.pop(&mut out);
        r.push(b"9ab");
        let old = r.regrow(vec![0; 32]);
        assert_eq!(old.len(), 8);
        assert_eq!((r.capacity(), r.len()), (32, 6));
        r.push(b"cdef");
        let mut all = [0u8; 32];
        assert_eq!(r.pop(&mut all), 10);
        assert_eq!(&all[..10], b"6789abcdef");
    }

    /// Random pushes and pops against a plain queue: the same bytes come out in order.
    #[test]
    fn random_traffic_matches_a_queue() {
        let mut rng = Rng(0x9195);
        let mut r = PipeRing::new(vec![0; 61]);
        let mut model = alloc::collections::VecDeque::new();
        let mut next = 0u8;
        for step in 0..20_000 {
            if step == 10_000 {
                r.regrow(vec![0; 200]);
            }
            let n = (rng.next() % 90) as usize;
            if rng.next().is_multiple_of(2) {
                let src: Vec<u8> = (0..n)
                    .map(|_| {
                        next = next.wrapping_add(1);
                        next
                    })
                    .collect();
                let took = r.push(&src);
                assert_eq!(took, n.min(r.capacity() - model.len()));
                model.extend(&src[..took]);
                // What did not fit is offered again by a writer; take the counter back.
                next = next.wrapping_sub((n - took) as u8);
            } else {
                let mut dst = vec![0u8; n];
                let got = r.pop(&mut dst);
                assert_eq!(got, n.min(model.len()));
                for b in &dst[..got] {
                    assert_eq!(Some(*b), model.pop_front());
                }
            }
            assert_eq!(r.len(), model.len());
        }
    }
}
