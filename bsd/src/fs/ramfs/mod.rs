//! The in-memory root file system.
