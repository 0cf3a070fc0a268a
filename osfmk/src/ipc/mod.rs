//! Mach IPC: port name spaces, entries, ports and rights.
