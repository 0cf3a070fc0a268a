//! File systems that are not about storing files (XNU's `bsd/miscfs`): [`devfs`], the
//! device file system mounted on `/dev`, with its `fd/` directory (XNU's fdesc).
pub mod devfs;
