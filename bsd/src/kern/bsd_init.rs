//! Bringing up the BSD half (XNU's `bsd_init`): the platform services BSD needs from the
//! kernel image, proc 0 for the kernel task, the root file system from the initrd, and
//! `/sbin/init` (or `init=` from the boot arguments) as pid 1.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use osfmk::kern::exception::register_bsd_hooks;
use osfmk::kern::task::TaskRef;
use sys::Errno;

use osfmk::kern::waitq::Wait;
use sys::fcntl::FIONBIO;
use sys::stat::S_IFCHR;

use crate::kern::kern_descrip::{
    DType, FNONBLOCK, FREAD, FWRITE, FileDesc, FileGlob, FileOps, FileProc, FileStat,
};
use crate::kern::kern_proc::{Proc, Ucred};
use crate::kern::uio::Uio;
use crate::vfs::vnode::VnodeRef;

/// What BSD needs from the machine: the console and a way to stop.
pub trait BsdPlatform: Sync {
    /// Write bytes to the console.
    fn console_write(&self, bytes: &[u8]);
    /// Take buffered input up to one line; None if no complete line is buffered yet.
    fn console_read_line(&self, buf: &mut [u8]) -> Option<usize>;
    /// The queue woken when a line arrives.
    fn console_input_waitq(&self) -> &'static osfmk::kern::waitq::WaitQueue;
    /// The wall clock at boot: seconds since the epoch (0 if there is no RTC) and the
    /// absolute time when it was read.
    fn boot_wall_clock(&self) -> (u64, u64);
    /// Power the machine off (after init has gone).
    fn halt(&self) -> !;
}

static PLATFORM: spin::Once<&'static dyn BsdPlatform> = spin::Once::new();
static ROOT: spin::Once<VnodeRef> = spin::Once::new();

/// The platform services (registered by `bsd_init`).
pub fn platform() -> &'static dyn BsdPlatform {
    *PLATFORM.get().expect("BSD used before bsd_init")
}

/// The root directory.
pub fn rootvnode() -> Option<VnodeRef> {
    ROOT.get().cloned()
}

/// The console as a file (the tty arrives with M2; this is its raw, line-buffered core):
/// a read returns one line (or as much of it as fits), waiting for one unless the
/// description is non-blocking; a write of any length goes out whole.
struct ConsoleFile;

/// Bytes a console read or write moves per step (bounds the kernel buffer).
const CONSOLE_CHUNK: usize = 4096;

impl ConsoleFile {
    /// Is a whole line buffered? (Taking at most nothing of it leaves it there.)
    fn line_ready() -> bool {
        platform().console_read_line(&mut []).is_some()
    }
}

impl FileOps for ConsoleFile {
    fn fo_type(&self) -> DType {
        DType::Vnode
    }

    fn fo_read(&self, fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        if uio.resid() == 0 {
            return Ok(());
        }
        let mut kbuf = [0u8; CONSOLE_CHUNK];
        let want = uio.resid().min(CONSOLE_CHUNK);
        let platform = platform();
        let n = if fg.flag() & FNONBLOCK != 0 {
            platform.console_read_line(&mut kbuf[..want]).ok_or(Errno::EAGAIN)?
        } else {
            // A signal (EINTR, or a restart under SA_RESTART) or termination ends the wait.
            crate::kern::kern_synch::msleep(
                &[platform.console_input_waitq()],
                crate::kern::kern_synch::PCATCH,
                None,
                || Ok(platform.console_read_line(&mut kbuf[..want])),
            )?
        };
        uio.uiomove(&mut kbuf[..n]).map(drop)
    }

    fn fo_write(&self, _fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        let mut kbuf = [0u8; CONSOLE_CHUNK];
        while uio.resid() > 0 {
            let want = uio.resid().min(CONSOLE_CHUNK);
            let before = uio.moved();
            let r = uio.uiomove(&mut kbuf[..want]);
            // What came in before a fault still goes out.
            platform().console_write(&kbuf[..uio.moved() - before]);
            r?;
        }
        Ok(())
    }

    fn fo_ioctl(&self, _fg: &FileGlob, cmd: u32, _data: &mut [u8]) -> Result<(), Errno> {
        match cmd {
            // Reads honour the description's FNONBLOCK; nothing else to set.
            FIONBIO => Ok(()),
            // Not a terminal yet: no termios, window size or line count to report.
            _ => Err(Errno::ENOTTY),
        }
    }

    fn fo_select<'q>(&'q self, _fg: &FileGlob, which: u32, wait: Option<&mut Wait<'q>>) -> bool {
        if which == FWRITE || (which == FREAD && ConsoleFile::line_ready()) {
            // Output never waits.
            return true;
        }
        if which != FREAD {
            // A terminal has no exceptional conditions.
            return false;
        }
        if let Some(wait) = wait {
            wait.on(platform().console_input_waitq());
            // A line that arrived before the thread joined the queue woke nobody.
            return ConsoleFile::line_ready();
        }
        false
    }

    fn fo_stat(&self) -> Result<FileStat, Errno> {
        // A character device, read and write for its owner, write for its group (a tty's).
        Ok(FileStat { st_mode: S_IFCHR | 0o620, st_size: 0, st_blksize: CONSOLE_CHUNK as u32 })
    }

    fn fo_close(&self) -> Result<(), Errno> {
        // The console stays; closing it releases nothing.
        Ok(())
    }

    fn fo_random_access(&self) -> Result<(), Errno> {
        // A terminal has no file offsets.
        Err(Errno::ENXIO)
    }
}

/// A new open description of the console with kernel flags `fflag` (what `/dev/console`
/// and, until terminals come, `/dev/tty` open).
pub(crate) fn console_glob(fflag: u32) -> Result<Arc<FileGlob>, Errno> {
    FileGlob::new(fflag, Arc::new(ConsoleFile))
}

/// Descriptors 0, 1 and 2 on the console.
fn console_fds() -> FileDesc {
    let mut fd = FileDesc::new();
    // The first description of all: the limit cannot be reached yet.
    let glob = console_glob(FREAD | FWRITE).expect("the console's description at boot");
    for _ in 0..3 {
        // A fresh table has room for three descriptors.
        let _ = fd.alloc(FileProc { fp_flags: 0, fp_glob: glob.clone() });
    }
    fd
}

/// The init program and its arguments from the boot arguments (`init=/path`).
pub fn init_path(bootargs: &str) -> String {
    bootargs
        .split_whitespace()
        .find_map(|w| w.strip_prefix("init="))
        .filter(|p| !p.is_empty())
        .map_or_else(|| String::from("/sbin/init"), String::from)
}

/// Who the kernel says it is (`sysctl` kern.ostype, kern.osrelease, kern.version) and the
/// memory size it reports (hw.memsize).
pub struct Identity<'a> {
    pub ostype: &'a str,
    pub release: &'a str,
    pub version: &'a str,
    pub memsize: u64,
    /// Seed bytes for the random device (the device tree's `/chosen` `rng-seed` and
    /// `kaslr-seed`, the counter at boot).
    pub entropy: &'a [u8],
}

/// Share of the file systems' heap allowance that `/tmp` (a ramfs of its own) may take; the
/// root file system keeps what `/tmp` and [`MOUNTS_ALLOWANCE_DIVISOR`] leave.
pub const TMPFS_ALLOWANCE_DIVISOR: usize = 2;

/// Share of the file systems' heap allowance that the ramfs file systems `mount(2)` makes
/// take between them: each gets an equal, fixed part (`RAMFS_MOUNT_MAX` of them at most).
pub const MOUNTS_ALLOWANCE_DIVISOR: usize = 4;

/// Mounts `root` as the root file system (from the initrd), devfs on `/dev` and a ramfs of
/// its own (budget `allowance`, mode `01777`) on `/tmp`, making either directory in `root` if
/// the initrd has none.
pub fn mount_boot_filesystems(root: &VnodeRef, allowance: usize) -> Result<(), Errno> {
    use crate::fs::ramfs::{RAMFS_NODE_GROWTH_MAX, RamQuota, ramfs_mount_args, ramfs_new_root_with};
    use crate::vfs::vfs_mount::{vfs_mount, vfs_mountroot};
    use sys::mount::{MNT_LOCAL, MNT_ROOTFS};
    vfs_mountroot(root.clone(), ramfs_mount_args(root, MNT_ROOTFS | MNT_LOCAL, "initrd", "/")?)?;
    let dir = |name: &[u8], perm: u16| match root.lookup(name) {
        Ok(vp) => Ok(vp),
        Err(Errno::ENOENT) => root.mkdir(name, perm),
        Err(e) => Err(e),
    };
    let dev = dir(b"dev", 0o555)?;
    let devfs = crate::miscfs::devfs::devfs_new_root()?;
    vfs_mount(&dev, devfs, crate::miscfs::devfs::devfs_mount_args())?;
    let tmp = dir(b"tmp", 0o1777)?;
    let quota = RamQuota::unlimited();
    let tmproot = ramfs_new_root_with(quota.clone())?;
    quota.cap_growth(allowance);
    quota.cap_node_growth(RAMFS_NODE_GROWTH_MAX);
    tmproot.chmod(0o1777);
    let args = ramfs_mount_args(&tmproot, MNT_LOCAL, "tmpfs", "/tmp")?;
    vfs_mount(&tmp, tmproot, args)?;
    Ok(())
}

/// Start BSD: proc 0 around the kernel task, the root ramfs from `initrd`, and pid 1.
pub fn bsd_init(
    platform: &'static dyn BsdPlatform,
    kernel_task: TaskRef,
    initrd: Option<&[u8]>,
    bootargs: &str,
    identity: Identity<'_>,
) {
    PLATFORM.call_once(|| platform);
    crate::kern::kern_sysctl::sysctl_init(
        identity.ostype,
        identity.release,
        identity.version,
        identity.memsize,
    );
    register_bsd_hooks(&crate::kern::bsd_hooks::BSD_HOOKS);
    Proc::create(0, 0, "kernel_task", kernel_task, Ucred::default(), FileDesc::new());

    // File data lives in VM pages (the unified buffer cache), metadata on the kernel heap:
    // beyond the initrd both together may take the file systems' allowance
    // (osfmk::kern::budget), so no program can starve the kernel of either.
    crate::kern::ubc_subr::ubc_init(osfmk::vm::vm_page::kernel_page_pool());
    crate::vfs::vnode::VNODES
        .set_limit(crate::vfs::vnode::desiredvnodes(identity.memsize))
        .expect("kern.maxvnodes is never 0");
    crate::miscfs::devfs::random::random_init(identity.entropy);
    crate::vfs::vnode::set_vfs_clock(crate::kern::kern_time::nanotime);
    let allowance = osfmk::kern::budget::heap_share(osfmk::kern::budget::FILE_SYSTEM_HEAP_SHARE);
    // /tmp gets its own part of it, the file systems mount(2) makes theirs, the root file
    // system the rest.
    let tmp_allowance = allowance / TMPFS_ALLOWANCE_DIVISOR;
    let mounts_allowance = allowance / MOUNTS_ALLOWANCE_DIVISOR;
    crate::fs::ramfs::ramfs_set_mount_share(mounts_allowance / crate::fs::ramfs::RAMFS_MOUNT_MAX);
    let allowance = allowance - tmp_allowance - mounts_allowance;
    let root = match initrd.map(|a| crate::fs::ramfs::ramfs_from_cpio(a, allowance)) {
        Some(Ok(root)) => root,
        Some(Err(e)) => panic!("bsd_init: the initrd is not a valid cpio archive ({})", e.name()),
        None => panic!("bsd_init: no initrd: nothing to run as init (see README, `make run`)"),
    };
    if let Err(e) = mount_boot_filesystems(&root, tmp_allowance) {
        panic!("bsd_init: cannot mount /, /dev and /tmp ({})", e.name());
    }
    ROOT.call_once(|| root);

    let path = init_path(bootargs);
    let argv: Vec<Vec<u8>> = alloc::vec![path.as_bytes().to_vec()];
    if let Err(e) = crate::kern::kern_exec::exec_new_process(
        1,
        0,
        path.as_bytes(),
        &argv,
        Ucred::default(),
        console_fds(),
    ) {
        // Not a kernel bug: the machine was given a program that cannot run (a bad
        // `init=`, a damaged image). Say why and power off, as when init dies.
        let msg = alloc::format!("bsd: cannot run {path} as init: {}; powering off\n", e.name());
        platform.console_write(msg.as_bytes());
        platform.halt();
    }
}
