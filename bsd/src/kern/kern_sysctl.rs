//! `sysctl` (XNU's `kern_sysctl.c`): named kernel values for tools — the OS name, release
//! and version, the host name (settable by root), limits, the process table (`kern.proc`,
//! filled by `proc_info`), and the machine's CPUs, memory, page size and architecture.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::arm64::copyio::{UserAddr, copyin, copyout};
use osfmk::kern::locks::SpinLock;
use sys::Errno;
use sys::sysctl::*;

use crate::kern::kern_proc::Proc;

/// The OS name, release and version, as the kernel reports them (set once at boot).
static IDENTITY: spin::Once<(String, String, String)> = spin::Once::new();
static HOSTNAME: SpinLock<Vec<u8>> = SpinLock::new(Vec::new());
static MEMSIZE: spin::Once<u64> = spin::Once::new();

/// Record what `kern.ostype`, `kern.osrelease`, `kern.version` and `hw.memsize` say.
pub fn sysctl_init(ostype: &str, release: &str, version: &str, memsize: u64) {
    IDENTITY.call_once(|| (String::from(ostype), String::from(release), String::from(version)));
    MEMSIZE.call_once(|| memsize);
    *HOSTNAME.lock() = b"localhost".to_vec();
}

/// A value: a NUL-terminated string, a number of a fixed width, or a table of fixed-size
/// records (with the room to report to a caller that only asks for the size).
enum Value {
    Str(Vec<u8>),
    Int(i32),
    Quad(u64),
    Table { data: Vec<u8>, record: usize, estimate: usize },
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Str(s) => {
                let mut v = s.clone();
                v.push(0);
                v
            }
            Value::Int(i) => i.to_le_bytes().to_vec(),
            Value::Quad(q) => q.to_le_bytes().to_vec(),
            Value::Table { data, .. } => data.clone(),
        }
    }

    /// How much of a `room`-byte buffer the answer may fill: whole records for tables.
    fn fit(&self, len: usize, room: usize) -> usize {
        match self {
            Value::Table { record, .. } => len.min(room) / record * record,
            _ => len.min(room),
        }
    }

    /// The size reported when no buffer is given.
    fn size_hint(&self, len: usize) -> usize {
        match self {
            Value::Table { estimate, .. } => *estimate,
            _ => len,
        }
    }
}

fn lookup(name: &[i32]) -> Result<Value, Errno> {
    let (ostype, release, version) = IDENTITY.get().cloned().unwrap_or_default();
    Ok(match name {
        [CTL_KERN, KERN_OSTYPE] => Value::Str(ostype.into_bytes()),
        [CTL_KERN, KERN_OSRELEASE] => Value::Str(release.into_bytes()),
        [CTL_KERN, KERN_VERSION] => Value::Str(version.into_bytes()),
        [CTL_KERN, KERN_HOSTNAME] => Value::Str(HOSTNAME.lock().clone()),
        [CTL_KERN, KERN_ARGMAX] => Value::Int(crate::kern::exec_stack::ARG_MAX as i32),
        [CTL_KERN, KERN_MAXPROC] => Value::Int(crate::kern::kern_fork::MAXPROC as i32),
        [CTL_HW, HW_MACHINE] => Value::Str(b"arm64".to_vec()),
        [CTL_HW, HW_NCPU] => Value::Int(1),
        [CTL_HW, HW_PAGESIZE] => Value::Quad(osfmk::vm::vm_page::PAGE_SIZE),
        [CTL_HW, HW_MEMSIZE] => Value::Quad(MEMSIZE.get().copied().unwrap_or(0)),
        [CTL_VM, VM_PAGE_FREE_COUNT] => Value::Int(osfmk::vm::vm_page::vm_page_counts().0 as i32),
        [CTL_VM, VM_PAGE_COUNT] => Value::Int(osfmk::vm::vm_page::vm_page_counts().1 as i32),
        [CTL_KERN, KERN_PROC, rest @ ..] => {
            let (data, estimate) = crate::kern::proc_info::sysctl_kern_proc(rest)?;
            Value::Table { data, record: sys::proc_info::KINFO_PROC_SIZE, estimate }
        }
        _ => return Err(Errno::ENOENT),
    })
}

/// `sysctl(name, namelen, oldp, oldlenp, newp, newlen)`. With `oldp` NULL only the size is
/// reported; a buffer too small gets what fits and ENOMEM. Only `kern.hostname` may be set,
/// and only by root.
pub fn sysctl(
    p: &Arc<Proc>,
    name: u64,
    namelen: u64,
    oldp: u64,
    oldlenp: u64,
    newp: u64,
    newlen: u64,
) -> Result<(), Errno> {
    let namelen =
        usize::try_from(namelen).ok().filter(|n| (2..=CTL_MAXNAME).contains(n)).ok_or(Errno::EINVAL)?;
    let map = p.task.map.as_ref().ok_or(Errno::EFAULT)?;
    let mut raw = [0u8; CTL_MAXNAME * 4];
    copyin(&mut map.lock(), UserAddr(name), &mut raw[..namelen * 4]).map_err(|_| Errno::EFAULT)?;
    let mib: Vec<i32> =
        raw[..namelen * 4].chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    sysctl_mib(p, &mib, oldp, oldlenp, newp, newlen)
}

/// `sysctlbyname(name, namelen, oldp, oldlenp, newp, newlen)`: the same, by dotted name
/// (`namelen` bytes, no NUL needed); ENOENT for names it does not know.
pub fn sysctlbyname(
    p: &Arc<Proc>,
    name: u64,
    namelen: u64,
    oldp: u64,
    oldlenp: u64,
    newp: u64,
    newlen: u64,
) -> Result<(), Errno> {
    let namelen = usize::try_from(namelen).map_err(|_| Errno::ENAMETOOLONG)?;
    if namelen > SYSCTL_NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let map = p.task.map.as_ref().ok_or(Errno::EFAULT)?;
    let mut raw = alloc::vec![0u8; namelen];
    copyin(&mut map.lock(), UserAddr(name), &mut raw).map_err(|_| Errno::EFAULT)?;
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    let mib = name_to_mib(&raw[..end]).ok_or(Errno::ENOENT)?;
    sysctl_mib(p, &mib, oldp, oldlenp, newp, newlen)
}

/// Read and perhaps set the value named by `mib`.
fn sysctl_mib(
    p: &Arc<Proc>,
    mib: &[i32],
    oldp: u64,
    oldlenp: u64,
    newp: u64,
    newlen: u64,
) -> Result<(), Errno> {
    let map = p.task.map.as_ref().ok_or(Errno::EFAULT)?;
    let found = lookup(mib)?;
    let value = found.bytes();
    if oldlenp != 0 {
        let mut lenb = [0u8; 8];
        copyin(&mut map.lock(), UserAddr(oldlenp), &mut lenb).map_err(|_| Errno::EFAULT)?;
        let room = u64::from_le_bytes(lenb);
        let mut result = Ok(());
        let mut reported = found.size_hint(value.len()) as u64;
        if oldp != 0 {
            reported = value.len() as u64;
            let n = found.fit(value.len(), usize::try_from(room).unwrap_or(usize::MAX));
            copyout(&mut map.lock(), &value[..n], UserAddr(oldp)).map_err(|_| Errno::EFAULT)?;
            if n < value.len() {
                result = Err(Errno::ENOMEM);
                reported = n as u64;
            }
        }
        copyout(&mut map.lock(), &reported.to_le_bytes(), UserAddr(oldlenp)).map_err(|_| Errno::EFAULT)?;
        result?;
    }
    if newp != 0 {
        if mib != [CTL_KERN, KERN_HOSTNAME] {
            return Err(Errno::EPERM);
        }
        if p.p_ucred.lock().uid != 0 {
            return Err(Errno::EPERM);
        }
        let len = usize::try_from(newlen).ok().filter(|&n| n < MAXHOSTNAMELEN).ok_or(Errno::EINVAL)?;
        let mut new = alloc::vec![0u8; len];
        copyin(&mut map.lock(), UserAddr(newp), &mut new).map_err(|_| Errno::EFAULT)?;
        let end = new.iter().position(|&b| b == 0).unwrap_or(new.len());
        new.truncate(end);
        *HOSTNAME.lock() = new;
    }
    Ok(())
}
