//! The character device switch (XNU's `cdevsw` in `bsd/dev/arm64/conf.c`): one entry of
//! driver routines per major number, which the VCHR vnodes of devfs dispatch to through
//! [`SpecFile`] (XNU's `spec_vnops`), and the drivers in it: `mm` (null and zero), the
//! console, `/dev/tty`, random, and the fdesc descriptors of `/dev/fd`.

use alloc::sync::Arc;

use osfmk::kern::waitq::Wait;
use sys::Errno;
use sys::fcntl::{FIOASYNC, FIONBIO};

use crate::kern::kern_descrip::{DType, FREAD, FWRITE, FileGlob, FileOps, FileStat};
use crate::kern::uio::Uio;
use crate::vfs::vnode::{VnodeRef, VnodeUse};

use super::random;

/// A device number (XNU's `dev_t`): major in the top 8 bits, minor in the low 24.
pub type DevT = u32;

/// `makedev(major, minor)`.
pub const fn makedev(major: u32, minor: u32) -> DevT {
    (major << 24) | (minor & 0x00ff_ffff)
}

/// The major number of `dev`.
pub const fn major(dev: DevT) -> u32 {
    (dev >> 24) & 0xff
}

/// The minor number of `dev`.
pub const fn minor(dev: DevT) -> u32 {
    dev & 0x00ff_ffff
}

/// The console (`/dev/console`), as in XNU's table.
pub const CONSOLE_MAJOR: u32 = 0;
/// The controlling terminal (`/dev/tty`).
pub const CTTY_MAJOR: u32 = 2;
/// Memory devices: `/dev/null` is minor 2, `/dev/zero` minor 3.
pub const MM_MAJOR: u32 = 3;
/// `mm` minor of `/dev/null`.
pub const MM_NULL: u32 = 2;
/// `mm` minor of `/dev/zero`.
pub const MM_ZERO: u32 = 3;
/// Random: XNU takes the first free slot at boot, which is 14 on arm64 (`/dev/random` is
/// minor 0, `/dev/urandom` minor 1).
pub const RANDOM_MAJOR: u32 = 14;
/// `/dev/fd/N`: XNU's fdesc is a file system of its own that answers an open with
/// "duplicate N"; here its nodes are character devices with minor N whose open does that.
/// The slot is one XNU's arm64 table leaves empty.
pub const FDESC_MAJOR: u32 = 22;

/// Bytes a device read or write moves per step.
const DEV_CHUNK: usize = 4096;

/// A character driver (one `cdevsw` entry). Every routine has XNU's `enodev` default.
pub trait CdevSw: Sync {
    /// `d_open`: may refuse, or hand back the open file description itself (the console's
    /// own file, or — for fdesc — an existing description to share); `None` opens a
    /// [`SpecFile`] that sends reads and writes here.
    fn d_open(&self, _dev: DevT, _fflag: u32) -> Result<Option<Arc<FileGlob>>, Errno> {
        Ok(None)
    }
    /// `d_read`: fill `uio` from the device.
    fn d_read(&self, _dev: DevT, _uio: &mut Uio) -> Result<(), Errno> {
        Err(Errno::ENODEV)
    }
    /// `d_write`: take `uio` into the device.
    fn d_write(&self, _dev: DevT, _uio: &mut Uio) -> Result<(), Errno> {
        Err(Errno::ENODEV)
    }
    /// `d_ioctl`. The memory and random devices accept FIONBIO and FIOASYNC only.
    fn d_ioctl(&self, _dev: DevT, cmd: u32, _data: &mut [u8]) -> Result<(), Errno> {
        match cmd {
            FIONBIO | FIOASYNC => Ok(()),
            _ => Err(Errno::ENODEV),
        }
    }
}

/// Consumes all of `uio` (a write that is thrown away), copying it in chunk by chunk so a
/// bad buffer still says `EFAULT`.
fn swallow(uio: &mut Uio) -> Result<(), Errno> {
    let mut kbuf = [0u8; DEV_CHUNK];
    while uio.resid() > 0 {
        let want = uio.resid().min(DEV_CHUNK);
        uio.uiomove(&mut kbuf[..want])?;
    }
    Ok(())
}

/// Fills all of `uio` with what `fill` makes.
fn produce(uio: &mut Uio, mut fill: impl FnMut(&mut [u8])) -> Result<(), Errno> {
    let mut kbuf = [0u8; DEV_CHUNK];
    while uio.resid() > 0 {
        let want = uio.resid().min(DEV_CHUNK);
        fill(&mut kbuf[..want]);
        uio.uiomove(&mut kbuf[..want])?;
    }
    Ok(())
}

/// `mm` (XNU's `bsd/dev/mem.c`): `/dev/null` reads end-of-file and swallows writes;
/// `/dev/zero` reads zeros and swallows writes. `/dev/mem` and `/dev/kmem` do not exist.
struct MmDev;

impl CdevSw for MmDev {
    fn d_open(&self, dev: DevT, _fflag: u32) -> Result<Option<Arc<FileGlob>>, Errno> {
        match minor(dev) {
            MM_NULL | MM_ZERO => Ok(None),
            _ => Err(Errno::ENODEV),
        }
    }
    fn d_read(&self, dev: DevT, uio: &mut Uio) -> Result<(), Errno> {
        match minor(dev) {
            MM_NULL => Ok(()),
            _ => produce(uio, |b| b.fill(0)),
        }
    }
    fn d_write(&self, _dev: DevT, uio: &mut Uio) -> Result<(), Errno> {
        swallow(uio)
    }
}

/// Random (XNU's `randomdev.c`): reads never block; writes to `/dev/random` are stirred
/// into the generator, writes to `/dev/urandom` are refused (`EPERM`), as in XNU.
struct RandomDev;

impl CdevSw for RandomDev {
    fn d_read(&self, _dev: DevT, uio: &mut Uio) -> Result<(), Errno> {
        produce(uio, random::read_random)
    }
    fn d_write(&self, dev: DevT, uio: &mut Uio) -> Result<(), Errno> {
        if minor(dev) != 0 {
            return Err(Errno::EPERM);
        }
        let mut kbuf = [0u8; DEV_CHUNK];
        while uio.resid() > 0 {
            let want = uio.resid().min(DEV_CHUNK);
            let n = uio.uiomove(&mut kbuf[..want])?;
            random::random_stir(&kbuf[..n]);
        }
        Ok(())
    }
}

/// The console and `/dev/tty`: for now both open the console file descriptors 0, 1 and 2
/// of init have (`bsd_init`). `/dev/tty` becomes the caller's controlling terminal (ENXIO
/// without one) when sessions get terminals (issue B5).
struct ConsoleDev;

impl CdevSw for ConsoleDev {
    fn d_open(&self, _dev: DevT, fflag: u32) -> Result<Option<Arc<FileGlob>>, Errno> {
        #[cfg(target_os = "none")]
        return crate::kern::bsd_init::console_glob(fflag).map(Some);
        // Host tests have no console.
        #[cfg(not(target_os = "none"))]
        {
            let _ = fflag;
            Err(Errno::ENXIO)
        }
    }
}

/// fdesc (XNU's `devfs_fdesc_support.c`): opening `/dev/fd/N` shares descriptor N's open
/// file description, as `dup` does. N not open: `EBADF`; asking for access N was not
/// opened with: `EACCES`.
struct FdescDev;

impl CdevSw for FdescDev {
    fn d_open(&self, dev: DevT, fflag: u32) -> Result<Option<Arc<FileGlob>>, Errno> {
        let fd = i32::try_from(minor(dev)).map_err(|_| Errno::EBADF)?;
        #[cfg(target_os = "none")]
        {
            let p = crate::kern::kern_proc::current_proc().ok_or(Errno::EBADF)?;
            let fg = p.p_fd.lock().get(fd)?;
            dupfdopen(&fg, fflag).map(Some)
        }
        // Host tests have no processes.
        #[cfg(not(target_os = "none"))]
        {
            let _ = (fd, fflag);
            Err(Errno::EBADF)
        }
    }
}

/// The description `fg` reopened with kernel flags `fflag`: itself, if it allows every
/// access `fflag` asks for (XNU's `dupfdopen`), `EACCES` otherwise.
pub fn dupfdopen(fg: &Arc<FileGlob>, fflag: u32) -> Result<Arc<FileGlob>, Errno> {
    let want = fflag & (FREAD | FWRITE);
    if want & !fg.flag() != 0 {
        return Err(Errno::EACCES);
    }
    Ok(fg.clone())
}

/// How many majors the table has.
pub const NCHRDEV: usize = 32;

/// The switch itself, indexed by major.
static CDEVSW: [Option<&'static dyn CdevSw>; NCHRDEV] = {
    let mut t: [Option<&'static dyn CdevSw>; NCHRDEV] = [None; NCHRDEV];
    t[CONSOLE_MAJOR as usize] = Some(&ConsoleDev);
    t[CTTY_MAJOR as usize] = Some(&ConsoleDev);
    t[MM_MAJOR as usize] = Some(&MmDev);
    t[RANDOM_MAJOR as usize] = Some(&RandomDev);
    t[FDESC_MAJOR as usize] = Some(&FdescDev);
    t
};

/// The driver for `dev`; no driver at that major: `ENXIO`.
pub fn cdevsw(dev: DevT) -> Result<&'static dyn CdevSw, Errno> {
    CDEVSW.get(major(dev) as usize).copied().flatten().ok_or(Errno::ENXIO)
}

/// An open character device (XNU's `spec_open` and the `spec_*` vnode operations): every
/// read, write and ioctl goes to the device's [`CdevSw`] entry.
pub struct SpecFile {
    vp: VnodeUse,
    dev: DevT,
}

/// Opens the character device of vnode `vp` with kernel flags `fflag`; `ENXIO` for a node
/// on a file system mounted `MNT_NODEV`, as XNU's `spec_open` gives.
pub fn spec_open(vp: &VnodeRef, fflag: u32) -> Result<Arc<FileGlob>, Errno> {
    // A device node on a file system mounted `MNT_NODEV` is not a way to its driver.
    if crate::vfs::vfs_mount::vfs_flags(vp) & sys::mount::MNT_NODEV != 0 {
        return Err(Errno::ENXIO);
    }
    let dev = vp.rdev();
    match cdevsw(dev)?.d_open(dev, fflag)? {
        Some(fg) => Ok(fg),
        None => FileGlob::new(fflag, Arc::new(SpecFile { vp: VnodeUse::new(vp.clone()), dev })),
    }
}

impl FileOps for SpecFile {
    fn fo_type(&self) -> DType {
        DType::Vnode
    }
    fn fo_read(&self, _fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        cdevsw(self.dev)?.d_read(self.dev, uio)
    }
    fn fo_write(&self, _fg: &FileGlob, uio: &mut Uio, _flags: u32) -> Result<(), Errno> {
        cdevsw(self.dev)?.d_write(self.dev, uio)
    }
    fn fo_ioctl(&self, _fg: &FileGlob, cmd: u32, data: &mut [u8]) -> Result<(), Errno> {
        cdevsw(self.dev)?.d_ioctl(self.dev, cmd, data)
    }
    fn fo_select<'q>(&'q self, _fg: &FileGlob, _which: u32, _wait: Option<&mut Wait<'q>>) -> bool {
        // null, zero and random are always ready.
        true
    }
    fn fo_stat(&self) -> Result<FileStat, Errno> {
        Ok(FileStat { st_mode: self.vp.mode(), st_size: 0, st_blksize: DEV_CHUNK as u32 })
    }
    fn fo_close(&self) -> Result<(), Errno> {
        Ok(())
    }
    fn vnode(&self) -> Option<VnodeRef> {
        Some(self.vp.vnode().clone())
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// A file that does nothing, for description tests.
    pub struct Nothing;
    impl FileOps for Nothing {
        fn fo_type(&self) -> DType {
            DType::Vnode
        }
        fn fo_read(&self, _: &FileGlob, _: &mut Uio, _: u32) -> Result<(), Errno> {
            Ok(())
        }
        fn fo_write(&self, _: &FileGlob, _: &mut Uio, _: u32) -> Result<(), Errno> {
            Ok(())
        }
        fn fo_ioctl(&self, _: &FileGlob, _: u32, _: &mut [u8]) -> Result<(), Errno> {
            Ok(())
        }
        fn fo_select<'q>(&'q self, _: &FileGlob, _: u32, _: Option<&mut Wait<'q>>) -> bool {
            true
        }
        fn fo_stat(&self) -> Result<FileStat, Errno> {
            Ok(FileStat { st_mode: 0, st_size: 0, st_blksize: 0 })
        }
        fn fo_close(&self) -> Result<(), Errno> {
            Ok(())
        }
    }
}
