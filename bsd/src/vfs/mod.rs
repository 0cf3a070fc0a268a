//! The virtual file system layer: vnodes and path lookup.
