//! The unified buffer cache's one piece of global state (XNU's `ubc_subr.c`): the page pool
//! file data comes from. A file system keeps each regular file's bytes in a VM object
//! (`osfmk::vm::vm_object`) whose pages `read`, `write` and `mmap` all share; this module
//! says where those pages are taken from, so file systems need no hardware of their own.

use osfmk::vm::vm_page::PoolRef;

static UBC_POOL: spin::Once<PoolRef> = spin::Once::new();

/// Says where file pages come from (the kernel's frame pool); once, early in `bsd_init`,
/// before the root file system is loaded.
pub fn ubc_init(pool: PoolRef) {
    UBC_POOL.call_once(|| pool);
}

/// The pool file pages come from. On the host (tests) a heap-backed fake, made on first use.
pub fn ubc_pool() -> PoolRef {
    #[cfg(test)]
    {
        UBC_POOL.call_once(|| osfmk::vm::test_support::FakePool::new().1).clone()
    }
    #[cfg(not(test))]
    {
        UBC_POOL.get().expect("ubc_pool: file pages wanted before ubc_init").clone()
    }
}
