//! Generates the syscall table from `syscalls.master`, the single definition of the BSD calls.
//!
//! Output (`$OUT_DIR/syscalls.rs`, included by `sys::syscalls`):
//! * `SYS_<name>` number constants for every assigned call;
//! * `NSYSENT` and `SYSENT_INFO`, one descriptor per slot (name, argument count, return kind,
//!   status) for the kernel's dispatcher and for diagnostics;
//! * the `for_each_std_syscall!` macro, which hands the implemented calls to a caller's macro
//!   as `(number, name, RETURN, [args...])` tuples: the kernel builds `sysent` from it and
//!   `libsys` builds its user stubs from it.

use std::fmt::Write as _;

struct Entry {
    nr: usize,
    status: String,
    ret: String,
    name: String,
    args: Vec<String>,
}

fn parse(text: &str) -> (usize, Vec<Entry>) {
    let mut nsysent = None;
    let mut entries: Vec<Entry> = Vec::new();
    for (lineno, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fail = |what: &str| -> ! { panic!("syscalls.master:{}: {what}: {raw}", lineno + 1) };
        if let Some(n) = line.strip_prefix("NSYSENT") {
            nsysent = Some(n.trim().parse().unwrap_or_else(|_| fail("bad NSYSENT")));
            continue;
        }
        let mut it = line.split_whitespace();
        let nr: usize = it.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| fail("bad number"));
        let status = it.next().unwrap_or_else(|| fail("no status")).to_string();
        let rest = line.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
        let (ret, proto) = rest.split_once(' ').unwrap_or_else(|| fail("no return kind"));
        let (name, args) = proto.split_once('(').unwrap_or_else(|| fail("no argument list"));
        let args = args.strip_suffix(')').unwrap_or_else(|| fail("unclosed argument list"));
        let args: Vec<String> =
            args.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect();
        if !["STD", "UNIMPL", "NOSYS", "ENOSYS"].contains(&status.as_str()) {
            fail("unknown status");
        }
        if !["NONE", "INT", "UINT", "SSIZE", "OFF", "ADDR"].contains(&ret) {
            fail("unknown return kind");
        }
        if args.len() > 8 {
            fail("more than 8 arguments");
        }
        if entries.last().is_some_and(|e| e.nr >= nr) {
            fail("numbers must increase");
        }
        entries.push(Entry { nr, status, ret: ret.to_string(), name: name.trim().to_string(), args });
    }
    let nsysent = nsysent.expect("syscalls.master: NSYSENT missing");
    assert!(entries.iter().all(|e| e.nr < nsysent), "syscalls.master: number >= NSYSENT");
    (nsysent, entries)
}

fn camel(s: &str) -> &'static str {
    match s {
        "STD" => "Std",
        "UNIMPL" => "Unimpl",
        "NOSYS" => "NoSys",
        "ENOSYS" => "ENoSys",
        "NONE" => "None",
        "INT" => "Int",
        "UINT" => "UInt",
        "SSIZE" => "Ssize",
        "OFF" => "Off",
        "ADDR" => "Addr",
        _ => unreachable!(),
    }
}

fn main() {
    println!("cargo:rerun-if-changed=syscalls.master");
    let text = std::fs::read_to_string("syscalls.master").expect("read syscalls.master");
    let (nsysent, entries) = parse(&text);

    let mut out = String::new();
    writeln!(out, "/// Number of slots in the BSD system call table; larger numbers are invalid.").unwrap();
    writeln!(out, "pub const NSYSENT: usize = {nsysent};").unwrap();
    for e in entries.iter().filter(|e| e.status == "STD" || e.status == "UNIMPL") {
        writeln!(out, "/// `{}` ({} argument(s)).", e.name, e.args.len()).unwrap();
        writeln!(out, "pub const SYS_{}: u32 = {};", e.name, e.nr).unwrap();
    }
    writeln!(out, "/// One descriptor per slot, indexed by call number.").unwrap();
    writeln!(out, "pub static SYSENT_INFO: [SysentInfo; NSYSENT] = [").unwrap();
    let mut next = 0;
    for e in &entries {
        while next < e.nr {
            writeln!(out, "    SysentInfo::NOSYS,").unwrap();
            next += 1;
        }
        writeln!(
            out,
            "    SysentInfo {{ name: \"{}\", narg: {}, ret: RetKind::{}, status: SysStatus::{} }},",
            e.name,
            e.args.len(),
            camel(&e.ret),
            camel(&e.status)
        )
        .unwrap();
        next += 1;
    }
    while next < nsysent {
        writeln!(out, "    SysentInfo::NOSYS,").unwrap();
        next += 1;
    }
    writeln!(out, "];").unwrap();

    writeln!(out, "/// Calls `$m!` with every implemented (STD) call as `(number, name, RETKIND, [args])`.")
        .unwrap();
    writeln!(
        out,
        "#[macro_export]\nmacro_rules! for_each_std_syscall {{\n    ($m:ident) => {{\n        $m! {{"
    )
    .unwrap();
    for e in entries.iter().filter(|e| e.status == "STD") {
        writeln!(out, "            ({}, {}, {}, [{}]),", e.nr, e.name, e.ret, e.args.join(", ")).unwrap();
    }
    writeln!(out, "        }}\n    }};\n}}").unwrap();

    let dest = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("syscalls.rs");
    std::fs::write(dest, out).expect("write syscalls.rs");
}
