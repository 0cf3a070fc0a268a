//! User memory as types: [`UserAddr`] (a raw user virtual address), [`UserPtr<T>`] (a typed
//! pointer to one plain-old-data ABI struct) and [`UserSlice`] (a byte range), each checked
//! against the user range (`USER_VM_MIN..USER_VM_MAX`) when it is built, and the only ways to
//! move bytes across: [`UserPtr::read`]/[`UserPtr::write`] ([`copyin_val`]/[`copyout_val`]),
//! [`UserSlice::read_at`]/[`UserSlice::write_at`]. Every failure is a [`CopyFault`], which
//! `?` turns into `KERN_INVALID_ADDRESS` or, in BSD, `EFAULT`.
//!
//! ABI structs are `zerocopy` types (`FromBytes + IntoBytes + Immutable`): the derives prove at
//! compile time that the struct has no padding and that any bytes are a valid value, so a
//! struct is copied whole, not serialised field by field, and nothing here needs `unsafe`.
//!
//! The bytes move through a backend: on the target, the arm64 copy routines
//! (`arm64::copyio`: the current address space, through the MMU, faults resolved or fixed
//! up); on the host, [`host_user_memory`], a simulated user address space, so the code that
//! parses what user space hands the kernel runs under `cargo test`.

use core::marker::PhantomData;

use mach::CopyFault;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::arm64::pmap::{USER_VM_MAX, USER_VM_MIN};

/// A user virtual address, unchecked: what a register holds. Build a [`UserPtr`] or a
/// [`UserSlice`] from it to reach the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserAddr(pub u64);

impl UserAddr {
    /// `self + n`, or None on overflow.
    pub fn offset(self, n: u64) -> Option<UserAddr> {
        self.0.checked_add(n).map(UserAddr)
    }
}

/// Is `[addr, addr + len)` inside user space (and not wrapping)?
pub fn is_user_range(addr: u64, len: usize) -> bool {
    addr >= USER_VM_MIN && addr.checked_add(len as u64).is_some_and(|end| end <= USER_VM_MAX)
}

/// A plain-old-data value that may cross the user boundary whole.
pub trait Pod: FromBytes + IntoBytes + Immutable {}
impl<T: FromBytes + IntoBytes + Immutable> Pod for T {}

/// A pointer to one `T` in user memory; the whole `T` lies in user space.
pub struct UserPtr<T> {
    addr: u64,
    _value: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}

impl<T> core::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "UserPtr({:#x})", self.addr)
    }
}

impl<T: Pod> UserPtr<T> {
    /// The `T` at `addr`, or a fault if it does not lie wholly in user space.
    pub fn new(addr: u64) -> Result<UserPtr<T>, CopyFault> {
        if is_user_range(addr, size_of::<T>()) {
            Ok(UserPtr { addr, _value: PhantomData })
        } else {
            Err(CopyFault { copied: 0 })
        }
    }

    /// For arguments where NULL means "none": `None` for 0, else as [`UserPtr::new`].
    pub fn new_opt(addr: u64) -> Result<Option<UserPtr<T>>, CopyFault> {
        if addr == 0 { Ok(None) } else { UserPtr::new(addr).map(Some) }
    }

    /// The address it points at.
    pub fn addr(self) -> UserAddr {
        UserAddr(self.addr)
    }

    /// The `n`th `T` after this one (arrays in user memory).
    pub fn element(self, n: usize) -> Result<UserPtr<T>, CopyFault> {
        let bytes = n.checked_mul(size_of::<T>()).ok_or(CopyFault { copied: 0 })?;
        UserPtr::new(self.addr.checked_add(bytes as u64).ok_or(CopyFault { copied: 0 })?)
    }

    /// Copy the value in (copyin).
    pub fn read(self) -> Result<T, CopyFault> {
        let mut value = T::new_zeroed();
        backend::copyin(self.addr, value.as_mut_bytes())?;
        Ok(value)
    }

    /// Copy `value` out (copyout).
    pub fn write(self, value: &T) -> Result<(), CopyFault> {
        backend::copyout(value.as_bytes(), self.addr)
    }
}

/// `len` bytes of user memory at `addr`, all in user space. An empty slice is valid at any
/// address (as XNU's copyin of zero bytes succeeds whatever the pointer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice {
    addr: u64,
    len: usize,
}

impl UserSlice {
    /// The range `[addr, addr + len)`, or a fault if it is not wholly user space.
    pub fn new(addr: u64, len: usize) -> Result<UserSlice, CopyFault> {
        if len == 0 || is_user_range(addr, len) {
            Ok(UserSlice { addr, len })
        } else {
            Err(CopyFault { copied: 0 })
        }
    }

    /// Where it starts.
    pub fn addr(self) -> UserAddr {
        UserAddr(self.addr)
    }

    /// Its length in bytes.
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The part `[offset, offset + len)` of it, or None if that runs past its end.
    pub fn sub(self, offset: usize, len: usize) -> Option<UserSlice> {
        let end = offset.checked_add(len)?;
        // The sum cannot wrap: a non-empty slice lies in user space, an empty one admits only
        // offset 0.
        (end <= self.len).then(|| UserSlice { addr: self.addr + offset as u64, len })
    }

    /// Copy `buf.len()` bytes in from `offset` in the slice. A request past the end of the
    /// slice is a fault with nothing copied.
    pub fn read_at(self, offset: usize, buf: &mut [u8]) -> Result<(), CopyFault> {
        let part = self.sub(offset, buf.len()).ok_or(CopyFault { copied: 0 })?;
        backend::copyin(part.addr, buf)
    }

    /// Copy `buf` out to `offset` in the slice. A request past the end of the slice is a
    /// fault with nothing copied.
    pub fn write_at(self, offset: usize, buf: &[u8]) -> Result<(), CopyFault> {
        let part = self.sub(offset, buf.len()).ok_or(CopyFault { copied: 0 })?;
        backend::copyout(buf, part.addr)
    }
}

/// Copy a `T` in from user `addr` (checked as [`UserPtr::new`]).
pub fn copyin_val<T: Pod>(addr: UserAddr) -> Result<T, CopyFault> {
    UserPtr::<T>::new(addr.0)?.read()
}

/// Copy `value` out to user `addr` (checked as [`UserPtr::new`]).
pub fn copyout_val<T: Pod>(value: &T, addr: UserAddr) -> Result<(), CopyFault> {
    UserPtr::<T>::new(addr.0)?.write(value)
}

#[cfg(target_os = "none")]
mod backend {
    use super::{CopyFault, UserAddr};
    use crate::arm64::copyio;

    pub(super) fn copyin(src: u64, buf: &mut [u8]) -> Result<(), CopyFault> {
        copyio::copyin(UserAddr(src), buf).map_err(|copied| CopyFault { copied })
    }

    pub(super) fn copyout(buf: &[u8], dst: u64) -> Result<(), CopyFault> {
        copyio::copyout(buf, UserAddr(dst)).map_err(|copied| CopyFault { copied })
    }
}

#[cfg(not(target_os = "none"))]
use host_user_memory as backend;

/// A simulated user address space for host tests: pages mapped readable or read-write, the
/// rest unmapped. A test takes the whole space with [`host_user_memory::session`] (one test at
/// a time; the space is empty again when the session ends). Copies stop at the first byte
/// they cannot move, as the real routines do.
///
/// Or, with [`Session::use_map`](host_user_memory::Session::use_map), the space is a task's
/// `VmMap`, reached as the target's software copy path reaches it: each page faulted in for
/// the access (`vm_map_kernel_page`, copy-on-write broken for a write) and its frame read or
/// written through the map's page pool. Then the memory a message names — its buffer, its
/// out-of-line regions, its port arrays — is one address space, as on the target.
#[cfg(not(target_os = "none"))]
pub mod host_user_memory {
    use alloc::boxed::Box;
    use alloc::collections::BTreeMap;
    use alloc::sync::Arc;

    use mach::vm::VmProt;

    use super::CopyFault;
    use crate::vm::vm_fault::vm_map_kernel_page;
    use crate::vm::vm_map_lock::VmMapLock;
    use crate::vm::vm_page::{PAGE_SIZE, trunc_page};

    struct Page {
        bytes: Box<[u8; PAGE_SIZE as usize]>,
        writable: bool,
    }

    static SPACE: spin::Mutex<BTreeMap<u64, Page>> = spin::Mutex::new(BTreeMap::new());
    /// The map copies go through instead of `SPACE`, if a test chose one.
    static MAP: spin::Mutex<Option<Arc<VmMapLock>>> = spin::Mutex::new(None);
    static SESSION: spin::Mutex<()> = spin::Mutex::new(());

    /// The simulated space, held for one test; emptied when dropped.
    pub struct Session(#[allow(dead_code)] spin::MutexGuard<'static, ()>);

    impl Drop for Session {
        fn drop(&mut self) {
            SPACE.lock().clear();
            *MAP.lock() = None;
        }
    }

    /// Take the simulated space (waits for another test to finish with it).
    pub fn session() -> Session {
        let guard = SESSION.lock();
        SPACE.lock().clear();
        *MAP.lock() = None;
        Session(guard)
    }

    impl Session {
        /// Map zeroed pages over `[addr, addr + len)`, page-rounded.
        pub fn map(&self, addr: u64, len: u64, writable: bool) {
            let mut space = SPACE.lock();
            let first = addr & !(PAGE_SIZE - 1);
            let mut page = first;
            while page < addr + len {
                space.insert(page, Page { bytes: Box::new([0; PAGE_SIZE as usize]), writable });
                page += PAGE_SIZE;
            }
        }

        /// Unmap the pages over `[addr, addr + len)`.
        pub fn unmap(&self, addr: u64, len: u64) {
            let mut space = SPACE.lock();
            let mut page = addr & !(PAGE_SIZE - 1);
            while page < addr + len {
                space.remove(&page);
                page += PAGE_SIZE;
            }
        }

        /// From now on, copies reach user memory through `map` (the current task's map, as
        /// far as the copy routines know) instead of the simulated pages.
        pub fn use_map(&self, map: Arc<VmMapLock>) {
            *MAP.lock() = Some(map);
        }
    }

    /// Move bytes between `buf` and the space at `addr`, page by page, stopping at the first
    /// page that is missing (or read-only, for a write). `f` gets the page's bytes and how far
    /// the copy has got.
    fn each_page(
        addr: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut [u8], usize),
    ) -> Result<(), CopyFault> {
        let map = MAP.lock().clone();
        if let Some(map) = map {
            return each_map_page(&map, addr, len, write, f);
        }
        let mut space = SPACE.lock();
        let mut done = 0;
        while done < len {
            let at = addr + done as u64;
            let base = at & !(PAGE_SIZE - 1);
            let Some(page) = space.get_mut(&base).filter(|p| p.writable || !write) else {
                return Err(CopyFault { copied: done });
            };
            let off = (at - base) as usize;
            let n = (PAGE_SIZE as usize - off).min(len - done);
            f(&mut page.bytes[off..off + n], done);
            done += n;
        }
        Ok(())
    }

    /// [`each_page`] through a map: each page faulted in for the access, then its frame
    /// copied through the pool (the map held exclusively meanwhile, as the software path of
    /// copyio holds it).
    fn each_map_page(
        map: &VmMapLock,
        addr: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut [u8], usize),
    ) -> Result<(), CopyFault> {
        let access = if write { VmProt::WRITE } else { VmProt::READ };
        let mut done = 0;
        let mut page = [0u8; PAGE_SIZE as usize];
        while done < len {
            let at = addr + done as u64;
            let mut map = map.write();
            let Ok(pa) = vm_map_kernel_page(&mut map, at, access) else {
                return Err(CopyFault { copied: done });
            };
            let (frame, off) = (trunc_page(pa), (at - trunc_page(at)) as usize);
            let n = (PAGE_SIZE as usize - off).min(len - done);
            let bytes = &mut page[..n];
            if write {
                f(bytes, done);
                map.pool().write(frame, off, bytes);
            } else {
                map.pool().read(frame, off, bytes);
                f(bytes, done);
            }
            done += n;
        }
        Ok(())
    }

    pub(super) fn copyin(src: u64, buf: &mut [u8]) -> Result<(), CopyFault> {
        let len = buf.len();
        each_page(src, len, false, |page, done| buf[done..done + page.len()].copy_from_slice(page))
    }

    pub(super) fn copyout(buf: &[u8], dst: u64) -> Result<(), CopyFault> {
        each_page(dst, buf.len(), true, |page, done| page.copy_from_slice(&buf[done..done + page.len()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::{FromBytes, Immutable, IntoBytes};

    #[derive(FromBytes, IntoBytes, Immutable, Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(C)]
    struct Pair {
        a: u64,
        b: u32,
        c: u32,
    }

    const BASE: u64 = USER_VM_MIN + 0x10_0000;

    #[test]
    fn pointers_are_checked_when_built() {
        assert!(UserPtr::<Pair>::new(0).is_err());
        assert!(UserPtr::<Pair>::new(USER_VM_MIN - 8).is_err());
        assert!(UserPtr::<Pair>::new(USER_VM_MAX - 8).is_err(), "runs past the top of user space");
        assert!(UserPtr::<Pair>::new(USER_VM_MAX - 16).is_ok());
        assert!(UserPtr::<Pair>::new(u64::MAX - 4).is_err(), "wraps around");
        assert_eq!(UserPtr::<Pair>::new_opt(0).map(|p| p.is_none()), Ok(true));
        assert!(UserSlice::new(0, 0).is_ok(), "an empty slice is valid anywhere");
        assert!(UserSlice::new(USER_VM_MAX - 1, 2).is_err());
        assert!(UserPtr::<Pair>::new(BASE).unwrap().element(usize::MAX / 8).is_err());
    }

    #[test]
    fn values_round_trip_and_faults_say_how_far() {
        let mem = host_user_memory::session();
        mem.map(BASE, PAGE, true);
        let p = UserPtr::<Pair>::new(BASE + 8).unwrap();
        let v = Pair { a: 0x1122_3344_5566_7788, b: 7, c: 9 };
        p.write(&v).unwrap();
        assert_eq!(p.read(), Ok(v));
        assert_eq!(copyin_val::<u32>(UserAddr(BASE + 16)), Ok(7));
        // A struct straddling the end of the mapping copies up to it, then faults.
        let edge = UserPtr::<Pair>::new(BASE + PAGE - 8).unwrap();
        assert_eq!(edge.read(), Err(CopyFault { copied: 8 }));
        // Read-only pages take no writes.
        mem.map(BASE + 4 * PAGE, PAGE, false);
        assert_eq!(copyout_val(&1u64, UserAddr(BASE + 4 * PAGE)), Err(CopyFault { copied: 0 }));
        assert_eq!(copyin_val::<u64>(UserAddr(BASE + 4 * PAGE)), Ok(0));
    }

    #[test]
    fn slices_stay_inside_themselves() {
        let mem = host_user_memory::session();
        mem.map(BASE, 2 * PAGE, true);
        let s = UserSlice::new(BASE + PAGE - 4, 8).unwrap();
        s.write_at(0, b"abcdefgh").unwrap();
        let mut got = [0u8; 4];
        s.read_at(4, &mut got).unwrap();
        assert_eq!(&got, b"efgh");
        assert!(s.read_at(5, &mut got).is_err(), "past the slice's end");
        assert!(s.sub(8, 0).is_some() && s.sub(8, 1).is_none() && s.sub(usize::MAX, 2).is_none());
        mem.unmap(BASE + PAGE, PAGE);
        assert_eq!(s.read_at(0, &mut [0u8; 8]), Err(CopyFault { copied: 4 }));
    }

    #[test]
    fn copies_through_a_map_fault_its_pages_in() {
        use alloc::sync::Arc;

        use crate::vm::test_support::{FakePmap, FakePool};
        use crate::vm::vm_map::VmMap;
        use crate::vm::vm_map_lock::VmMapLock;
        use crate::vm::vm_user::{mach_vm_allocate, mach_vm_protect};

        let mem = host_user_memory::session();
        let (pool, pool_ref) = FakePool::new();
        let map = Arc::new(VmMapLock::new(VmMap::create(FakePmap::create().0, pool_ref)));
        assert_eq!(mach_vm_allocate(&mut map.write(), BASE, 2 * PAGE, 0), Ok(BASE));
        mem.use_map(map.clone());
        // Across the page boundary: both pages are faulted in for the write.
        let p = UserPtr::<Pair>::new(BASE + PAGE - 8).unwrap();
        assert_eq!(p.read().map(|v| v.a), Ok(0), "demand zero");
        let v = Pair { a: 0x0102_0304_0506_0708, b: 1, c: 2 };
        p.write(&v).unwrap();
        assert_eq!(p.read(), Ok(v));
        assert_eq!(pool.outstanding(), 2);
        // Past the end of the mapping, and into memory that may only be read.
        assert_eq!(UserPtr::<Pair>::new(BASE + 2 * PAGE - 8).unwrap().read(), Err(CopyFault { copied: 8 }));
        let read_only = mach::vm::VmProt::READ.0;
        assert_eq!(mach_vm_protect(&mut map.write(), BASE, PAGE, false, read_only), Ok(()));
        assert_eq!(p.write(&v), Err(CopyFault { copied: 0 }));
        assert_eq!(p.read(), Ok(v));
    }

    const PAGE: u64 = crate::vm::vm_page::PAGE_SIZE;
}
