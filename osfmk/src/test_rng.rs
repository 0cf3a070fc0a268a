//! A small deterministic random generator for the host tests' randomized sequences
//! (xorshift64*), so a failing sequence replays exactly from its seed. Built for osfmk's
//! own tests and, with the `test-support` feature, for other crates' (bsd's).

/// xorshift64* over a non-zero state.
pub struct Rng(pub u64);

impl Rng {
    // Not an Iterator: the sequence never ends and every caller wants the raw word.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index in `0..n` (0 when `n` is 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// One of `items`, if there are any.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() { None } else { items.get(self.index(items.len())).cloned() }
    }
}
