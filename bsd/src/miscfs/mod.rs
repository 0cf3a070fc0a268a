//! File systems that are not about storing files (XNU's `bsd/miscfs`): [`devfs`], the
//! device file system mounted on `/dev`, with its `fd/` directory (XNU's fdesc), and
//! [`fifofs`], the named pipes of every file system.
pub mod devfs;
#[cfg(target_os = "none")]
pub mod fifofs;
