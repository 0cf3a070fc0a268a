//! `sysctl` (XNU's `kern_sysctl.c`): named kernel values for tools — the OS name, release
//! and version, the host name (settable by root), limits, the process table (`kern.proc`,
//! filled by `proc_info`), and the machine's CPUs, memory, page size and architecture.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::kern::locks::SimpleLock;
use osfmk::kern::processor;
use osfmk::vm::user_ptr::{UserAddr, UserPtr, UserSlice};
use sys::Errno;
use sys::sysctl::*;
use zerocopy::IntoBytes;

use crate::kern::kern_proc::Proc;
use crate::vfs::vnode::VNODES;

/// The OS name, release and version, as the kernel reports them (set once at boot).
static IDENTITY: spin::Once<(String, String, String)> = spin::Once::new();
static HOSTNAME: SimpleLock<Vec<u8>> = SimpleLock::new(&osfmk::kern::lock_order::HOSTNAME, Vec::new());
static MEMSIZE: spin::Once<u64> = spin::Once::new();

/// Record what `kern.ostype`, `kern.osrelease`, `kern.version` and `hw.memsize` say.
pub fn sysctl_init(ostype: &str, release: &str, version: &str, memsize: u64) {
    IDENTITY.call_once(|| (String::from(ostype), String::from(release), String::from(version)));
    MEMSIZE.call_once(|| memsize);
    *HOSTNAME.lock() = b"localhost".to_vec();
}

/// A value as user space receives it: its bytes, the unit a short buffer may cut it at
/// (whole records for tables, any byte otherwise), and the size to report to a caller that
/// only asks how much room it needs.
struct Value {
    data: Vec<u8>,
    unit: usize,
    size_hint: usize,
}

impl Value {
    /// A NUL-terminated string.
    fn string(mut s: Vec<u8>) -> Value {
        s.push(0);
        Value::raw(s)
    }

    fn int(i: i32) -> Value {
        Value::raw(i.to_le_bytes().to_vec())
    }

    fn quad(q: u64) -> Value {
        Value::raw(q.to_le_bytes().to_vec())
    }

    fn raw(data: Vec<u8>) -> Value {
        let size_hint = data.len();
        Value { data, unit: 1, size_hint }
    }

    /// Fixed-size records, with room for a few more when asked for the size.
    fn table(data: Vec<u8>, record: usize, estimate: usize) -> Value {
        Value { data, unit: record.max(1), size_hint: estimate }
    }

    /// How much of a `room`-byte buffer the answer may fill.
    fn fit(&self, room: usize) -> usize {
        self.data.len().min(room) / self.unit * self.unit
    }
}

fn lookup(name: &[i32]) -> Result<Value, Errno> {
    let (ostype, release, version) = IDENTITY.get().cloned().unwrap_or_default();
    Ok(match name {
        [CTL_KERN, KERN_OSTYPE] => Value::string(ostype.into_bytes()),
        [CTL_KERN, KERN_OSRELEASE] => Value::string(release.into_bytes()),
        [CTL_KERN, KERN_VERSION] => Value::string(version.into_bytes()),
        [CTL_KERN, KERN_HOSTNAME] => Value::string(HOSTNAME.lock().clone()),
        [CTL_KERN, KERN_ARGMAX] => Value::int(crate::kern::exec_stack::ARG_MAX as i32),
        [CTL_KERN, KERN_MAXPROC] => Value::int(crate::kern::kern_fork::MAXPROC as i32),
        [CTL_KERN, KERN_MAXFILES] => Value::int(crate::kern::kern_descrip::nfiles().0 as i32),
        [CTL_KERN, KERN_NUM_FILES] => Value::int(crate::kern::kern_descrip::nfiles().1 as i32),
        [CTL_KERN, KERN_MAXVNODES] => Value::int(VNODES.counts().0 as i32),
        [CTL_KERN, KERN_NUM_VNODES] => Value::int(VNODES.counts().1 as i32),
        [CTL_HW, HW_MACHINE] => Value::string(b"arm64".to_vec()),
        // Every CPU is one core with one hardware thread: physical and logical counts are
        // the CPUs that are up, their maxima the CPUs the machine has (as XNU's
        // `machine_info` has them on arm64).
        [CTL_HW, HW_NCPU | HW_PHYSICALCPU_MAX | HW_LOGICALCPU_MAX] => {
            Value::int(processor::max_cpus() as i32)
        }
        [CTL_HW, HW_AVAILCPU | HW_PHYSICALCPU | HW_LOGICALCPU] => Value::int(processor::avail_cpus() as i32),
        [CTL_HW, HW_PAGESIZE] => Value::quad(osfmk::vm::vm_page::PAGE_SIZE),
        [CTL_HW, HW_MEMSIZE] => Value::quad(MEMSIZE.get().copied().unwrap_or(0)),
        [CTL_VM, VM_PAGE_FREE_COUNT] => Value::int(osfmk::vm::vm_page::vm_page_counts().0 as i32),
        [CTL_VM, VM_PAGE_COUNT] => Value::int(osfmk::vm::vm_page::vm_page_counts().1 as i32),
        [CTL_VM, VM_KERNEL_HEAP_USED] => Value::quad(osfmk::vm::vm_page::kernel_heap_used()),
        [CTL_KERN, KERN_PROC, rest @ ..] => {
            let (data, estimate) = crate::kern::proc_info::sysctl_kern_proc(rest)?;
            Value::table(data, sys::proc_info::KINFO_PROC_SIZE, estimate)
        }
        _ => return Err(Errno::ENOENT),
    })
}

/// `sysctl(name, namelen, oldp, oldlenp, newp, newlen)`. With `oldp` NULL only the size is
/// reported; a buffer too small gets what fits and ENOMEM. Only `kern.hostname`,
/// `kern.maxfiles` and `kern.maxvnodes` may be set, and only by root.
pub fn sysctl(
    p: &Arc<Proc>,
    name: UserAddr,
    namelen: u32,
    oldp: UserAddr,
    oldlenp: UserAddr,
    newp: UserAddr,
    newlen: usize,
) -> Result<(), Errno> {
    let namelen =
        usize::try_from(namelen).ok().filter(|n| (2..=CTL_MAXNAME).contains(n)).ok_or(Errno::EINVAL)?;
    let mut mib = [0i32; CTL_MAXNAME];
    let mib = &mut mib[..namelen];
    UserSlice::new(name.0, namelen * 4)?.read_at(0, mib.as_mut_bytes())?;
    sysctl_mib(p, mib, oldp, oldlenp, newp, newlen)
}

/// `sysctlbyname(name, namelen, oldp, oldlenp, newp, newlen)`: the same, by dotted name
/// (`namelen` bytes, no NUL needed); ENOENT for names it does not know.
pub fn sysctlbyname(
    p: &Arc<Proc>,
    name: UserAddr,
    namelen: usize,
    oldp: UserAddr,
    oldlenp: UserAddr,
    newp: UserAddr,
    newlen: usize,
) -> Result<(), Errno> {
    if namelen > SYSCTL_NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let mut raw = alloc::vec![0u8; namelen];
    UserSlice::new(name.0, namelen)?.read_at(0, &mut raw)?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let mib = name_to_mib(&raw[..end]).ok_or(Errno::ENOENT)?;
    sysctl_mib(p, &mib, oldp, oldlenp, newp, newlen)
}

/// Read and perhaps set the value named by `mib`.
fn sysctl_mib(
    p: &Arc<Proc>,
    mib: &[i32],
    oldp: UserAddr,
    oldlenp: UserAddr,
    newp: UserAddr,
    newlen: usize,
) -> Result<(), Errno> {
    let found = lookup(mib)?;
    let value = &found.data;
    if let Some(oldlenp) = UserPtr::<usize>::new_opt(oldlenp.0)? {
        let room = oldlenp.read()?;
        let mut result = Ok(());
        let mut reported = found.size_hint;
        if oldp.0 != 0 {
            reported = value.len();
            let n = found.fit(room);
            UserSlice::new(oldp.0, n)?.write_at(0, &value[..n])?;
            if n < value.len() {
                result = Err(Errno::ENOMEM);
                reported = n;
            }
        }
        oldlenp.write(&reported)?;
        result?;
    }
    if newp.0 != 0 {
        let limit_mib = mib == [CTL_KERN, KERN_MAXFILES] || mib == [CTL_KERN, KERN_MAXVNODES];
        if mib != [CTL_KERN, KERN_HOSTNAME] && !limit_mib {
            return Err(Errno::EPERM);
        }
        if p.p_ucred.lock().uid != 0 {
            return Err(Errno::EPERM);
        }
        if limit_mib {
            // An int, as XNU's sysctl_handle_int takes it.
            if newlen != 4 {
                return Err(Errno::EINVAL);
            }
            let limit = osfmk::vm::user_ptr::copyin_val::<i32>(newp)?;
            let limit = usize::try_from(limit).map_err(|_| Errno::EINVAL)?;
            return if mib == [CTL_KERN, KERN_MAXFILES] {
                crate::kern::kern_descrip::set_maxfiles(limit)
            } else {
                VNODES.set_limit(limit)
            };
        }
        if newlen >= MAXHOSTNAMELEN {
            return Err(Errno::EINVAL);
        }
        let mut new = alloc::vec![0u8; newlen];
        UserSlice::new(newp.0, newlen)?.read_at(0, &mut new)?;
        let end = new.iter().position(|&b| b == 0).unwrap_or(new.len());
        new.truncate(end);
        *HOSTNAME.lock() = new;
    }
    Ok(())
}
