//! The kernel's random number generator behind `/dev/random` and `/dev/urandom` (XNU's
//! `randomdev.c` over its entropy pool): ChaCha20 (the `rand_chacha` crate), seeded at boot
//! from what the platform gives (`random_init`: the device tree's `/chosen` `rng-seed` and
//! `kaslr-seed`, and the generic counter), and stirred by every write to `/dev/random`.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// The generator; `None` until seeded (the first use then seeds it from nothing but the
/// fixed key, which only host tests see: the kernel seeds it in `bsd_init`).
static RNG: spin::Mutex<Option<ChaCha20Rng>> = spin::Mutex::new(None);

/// Bytes of ChaCha20 key.
const SEED_LEN: usize = 32;

/// Folds `entropy` (any length) into a key, on top of `base`.
fn fold(mut base: [u8; SEED_LEN], entropy: &[u8]) -> [u8; SEED_LEN] {
    for (i, b) in entropy.iter().enumerate() {
        // Rotate each byte by its round so repeated blocks do not cancel out.
        let round = (i / SEED_LEN) as u32;
        base[i % SEED_LEN] ^= b.rotate_left(round % 8).wrapping_add(round as u8);
    }
    base
}

/// Seeds (or reseeds) the generator with `entropy`, keeping what it had: the new key is
/// the old generator's next output folded with `entropy`.
pub fn random_stir(entropy: &[u8]) {
    let mut rng = RNG.lock();
    let mut key = [0u8; SEED_LEN];
    if let Some(old) = rng.as_mut() {
        old.fill_bytes(&mut key);
    }
    *rng = Some(ChaCha20Rng::from_seed(fold(key, entropy)));
}

/// Seeds the generator at boot.
pub fn random_init(entropy: &[u8]) {
    random_stir(entropy);
}

/// Fills `buf` with random bytes; never blocks.
pub fn read_random(buf: &mut [u8]) {
    let mut rng = RNG.lock();
    rng.get_or_insert_with(|| ChaCha20Rng::from_seed([0; SEED_LEN])).fill_bytes(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_the_same_bytes_twice() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        read_random(&mut a);
        read_random(&mut b);
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0));
        random_stir(b"more entropy");
        let mut c = [0u8; 64];
        read_random(&mut c);
        assert_ne!(c, a);
        assert_ne!(c, b);
    }

    #[test]
    fn fold_depends_on_every_byte() {
        let k1 = fold([0; SEED_LEN], &[1u8; 40]);
        let mut e = [1u8; 40];
        e[35] = 2;
        assert_ne!(k1, fold([0; SEED_LEN], &e));
    }
}
