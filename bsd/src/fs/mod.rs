//! File systems.
pub mod ramfs;
