//! The reader of `syscalls.master` and the writer of the generated table; used by `build.rs`
//! (which includes this file) and by this crate's host tests.
//!
//! Each argument is written as XNU writes it, `TYPE NAME` (`int fd`, `user_addr_t cbuf`,
//! `struct rusage *rusage`, `const char *path`). The type must be one of a fixed list of
//! XNU's C types ([`arg_type`]); an unknown name fails the build. Every pointer becomes
//! `user_addr_t`, as it does in XNU's 64-bit argument structs; the scalar names are passed
//! on as they are, and `sys::types` says what Rust type each one is.

use std::fmt::Write as _;
use std::format;
use std::string::{String, ToString};
use std::vec::Vec;

/// One line of the table.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub nr: usize,
    pub status: String,
    pub ret: String,
    pub name: String,
    /// `(name, type)`: the type as the generated macro passes it (a `sys::types` name).
    pub args: Vec<(String, &'static str)>,
}

/// The scalar C types an argument may have, and the name each goes by in `sys::types`
/// (XNU spells some two ways: `u_int32_t` and `uint32_t`, `unsigned int` and `u_int`).
const SCALARS: &[(&str, &str)] = &[
    ("int", "int"),
    ("u_int", "u_int"),
    ("unsigned int", "u_int"),
    ("long", "long"),
    ("u_long", "u_long"),
    ("int32_t", "int32_t"),
    ("uint32_t", "uint32_t"),
    ("u_int32_t", "uint32_t"),
    ("int64_t", "int64_t"),
    ("uint64_t", "uint64_t"),
    ("size_t", "size_t"),
    ("user_size_t", "user_size_t"),
    ("off_t", "off_t"),
    ("pid_t", "pid_t"),
    ("uid_t", "uid_t"),
    ("gid_t", "gid_t"),
    ("id_t", "id_t"),
    ("sigset_t", "sigset_t"),
    ("socklen_t", "socklen_t"),
    ("mach_port_name_t", "mach_port_name_t"),
    ("user_addr_t", "user_addr_t"),
    // A user address in the kernel's view of a 64-bit process.
    ("caddr_t", "user_addr_t"),
];

/// The `sys::types` name of a C argument type: a scalar from [`SCALARS`], or a pointer (to a
/// scalar, `char`, `void` or a `struct`, possibly `const`), which is `user_addr_t`.
pub fn arg_type(c: &str) -> Result<&'static str, String> {
    let c = c.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(base) = c.strip_suffix('*') {
        let base = base.trim_end_matches(['*', ' ']);
        let base = base.strip_prefix("const ").unwrap_or(base);
        let known = base == "char"
            || base == "void"
            || SCALARS.iter().any(|(n, _)| *n == base)
            || base.strip_prefix("struct ").is_some_and(|s| !s.is_empty() && s.chars().all(is_ident_char));
        return if known { Ok("user_addr_t") } else { Err(format!("unknown pointer type `{c}`")) };
    }
    SCALARS.iter().find(|(n, _)| *n == c).map(|(_, t)| *t).ok_or_else(|| format!("unknown C type `{c}`"))
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// `TYPE NAME` → `(NAME, sys::types name)`. The name is the last identifier; a `*` may sit
/// against it (`char *path`, `char **argp`).
pub fn parse_arg(decl: &str) -> Result<(String, &'static str), String> {
    let decl = decl.trim();
    let split =
        decl.rfind(|c: char| !is_ident_char(c)).ok_or_else(|| format!("argument `{decl}` has no type"))?;
    let (ty, name) = decl.split_at(split + 1);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("argument `{decl}` has no name"));
    }
    Ok((name.to_string(), arg_type(ty)?))
}

/// The table: `NSYSENT` and the entries in number order.
pub fn parse(text: &str) -> Result<(usize, Vec<Entry>), String> {
    let mut nsysent = None;
    let mut entries: Vec<Entry> = Vec::new();
    for (lineno, raw) in text.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let fail = |what: &str| format!("syscalls.master:{}: {what}: {raw}", lineno + 1);
        if let Some(n) = line.strip_prefix("NSYSENT") {
            nsysent = Some(n.trim().parse().map_err(|_| fail("bad NSYSENT"))?);
            continue;
        }
        let mut it = line.split_whitespace();
        let nr: usize = it.next().and_then(|s| s.parse().ok()).ok_or_else(|| fail("bad number"))?;
        let status = it.next().ok_or_else(|| fail("no status"))?.to_string();
        let rest = line.split_whitespace().skip(2).collect::<Vec<_>>().join(" ");
        let (ret, proto) = rest.split_once(' ').ok_or_else(|| fail("no return kind"))?;
        let (name, args) = proto.split_once('(').ok_or_else(|| fail("no argument list"))?;
        let args = args.strip_suffix(')').ok_or_else(|| fail("unclosed argument list"))?;
        let args = args
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "void")
            .map(|a| parse_arg(a).map_err(|e| fail(&e)))
            .collect::<Result<Vec<_>, String>>()?;
        if !["STD", "UNIMPL", "NOSYS", "ENOSYS"].contains(&status.as_str()) {
            return Err(fail("unknown status"));
        }
        if !["NONE", "INT", "UINT", "SSIZE", "OFF", "ADDR"].contains(&ret) {
            return Err(fail("unknown return kind"));
        }
        if args.len() > 8 {
            return Err(fail("more than 8 arguments"));
        }
        if entries.last().is_some_and(|e| e.nr >= nr) {
            return Err(fail("numbers must increase"));
        }
        entries.push(Entry { nr, status, ret: ret.to_string(), name: name.trim().to_string(), args });
    }
    let nsysent = nsysent.ok_or("syscalls.master: NSYSENT missing")?;
    if entries.iter().any(|e| e.nr >= nsysent) {
        return Err("syscalls.master: number >= NSYSENT".to_string());
    }
    Ok((nsysent, entries))
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
        _ => "?",
    }
}

/// The generated Rust: `SYS_*` numbers, `NSYSENT`, `SYSENT_INFO` and `for_each_std_syscall!`.
pub fn emit(nsysent: usize, entries: &[Entry]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "/// Number of slots in the BSD system call table; larger numbers are invalid.");
    let _ = writeln!(out, "pub const NSYSENT: usize = {nsysent};");
    for e in entries.iter().filter(|e| e.status == "STD" || e.status == "UNIMPL") {
        let _ = writeln!(out, "/// `{}` ({} argument(s)).", e.name, e.args.len());
        let _ = writeln!(out, "pub const SYS_{}: u32 = {};", e.name, e.nr);
    }
    let _ = writeln!(out, "/// One descriptor per slot, indexed by call number.");
    let _ = writeln!(out, "pub static SYSENT_INFO: [SysentInfo; NSYSENT] = [");
    let mut next = 0;
    for e in entries {
        while next < e.nr {
            let _ = writeln!(out, "    SysentInfo::NOSYS,");
            next += 1;
        }
        let _ = writeln!(
            out,
            "    SysentInfo {{ name: \"{}\", narg: {}, ret: RetKind::{}, status: SysStatus::{} }},",
            e.name,
            e.args.len(),
            camel(&e.ret),
            camel(&e.status)
        );
        next += 1;
    }
    while next < nsysent {
        let _ = writeln!(out, "    SysentInfo::NOSYS,");
        next += 1;
    }
    let _ = writeln!(out, "];");
    let _ = writeln!(
        out,
        "/// Calls `$m!` with every implemented (STD) call as `(number, name, RETKIND, [arg: type, ...])`,"
    );
    let _ = writeln!(out, "/// each type a `sys::types` name.");
    let _ = writeln!(
        out,
        "#[macro_export]\nmacro_rules! for_each_std_syscall {{\n    ($m:ident) => {{\n        $m! {{"
    );
    for e in entries.iter().filter(|e| e.status == "STD") {
        let args = e.args.iter().map(|(n, t)| format!("{n}: {t}")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "            ({}, {}, {}, [{}]),", e.nr, e.name, e.ret, args);
    }
    let _ = writeln!(out, "        }}\n    }};\n}}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_names_and_pointers_become_user_addresses() {
        assert_eq!(parse_arg("int fd"), Ok(("fd".to_string(), "int")));
        assert_eq!(parse_arg("unsigned int flags"), Ok(("flags".to_string(), "u_int")));
        assert_eq!(parse_arg("u_int32_t *in"), Ok(("in".to_string(), "user_addr_t")));
        assert_eq!(parse_arg("struct rusage *rusage"), Ok(("rusage".to_string(), "user_addr_t")));
        assert_eq!(parse_arg("const char *path"), Ok(("path".to_string(), "user_addr_t")));
        assert_eq!(parse_arg("char **argp"), Ok(("argp".to_string(), "user_addr_t")));
        assert_eq!(parse_arg("caddr_t addr"), Ok(("addr".to_string(), "user_addr_t")));
        assert_eq!(parse_arg("user_size_t  nbyte"), Ok(("nbyte".to_string(), "user_size_t")));
        assert_eq!(parse_arg("off_t pos"), Ok(("pos".to_string(), "off_t")));
    }

    #[test]
    fn unknown_types_and_missing_names_are_rejected() {
        assert!(parse_arg("float x").is_err());
        assert!(parse_arg("fd").is_err(), "no type");
        assert!(parse_arg("int").is_err(), "a type alone reads as a name with no type");
        assert!(parse_arg("int *").is_err(), "no name");
        assert!(parse_arg("wchar_t *s").is_err(), "pointer to an unknown scalar");
        assert!(parse_arg("struct *p").is_err(), "struct without a tag");
        let bad = "NSYSENT 4\n1 STD INT f(int a, bogus_t b)\n";
        assert!(parse(bad).unwrap_err().contains("bogus_t"));
    }

    #[test]
    fn lines_become_entries_and_the_macro_carries_types() {
        let text = "; comment\nNSYSENT 8\n0 NOSYS INT nosys()\n3 STD SSIZE read(int fd, user_addr_t cbuf, user_size_t nbyte)\n5 UNIMPL INT f(void)\n";
        let (n, entries) = parse(text).unwrap();
        assert_eq!(n, 8);
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[1].name, "read");
        assert_eq!(entries[2].args, Vec::new());
        let out = emit(n, &entries);
        assert!(out.contains("(3, read, SSIZE, [fd: int, cbuf: user_addr_t, nbyte: user_size_t]),"));
        assert!(!out.contains("(5, f"), "only STD calls reach the macro");
        assert!(out.contains("pub const SYS_f: u32 = 5;"));
        assert!(parse("NSYSENT 2\n3 STD INT g()\n").is_err(), "number past NSYSENT");
        assert!(parse("NSYSENT 9\n3 STD INT g()\n2 STD INT h()\n").is_err(), "out of order");
        assert!(parse("NSYSENT 9\n3 STD WORD g()\n").is_err(), "return kind");
    }

    #[test]
    fn the_real_table_parses() {
        let text = include_str!("../syscalls.master");
        let (_, entries) = parse(text).unwrap();
        let read = entries.iter().find(|e| e.name == "read").unwrap();
        assert_eq!(read.args[0], ("fd".to_string(), "int"));
        let proc_info = entries.iter().find(|e| e.name == "proc_info").unwrap();
        let types: Vec<&str> = proc_info.args.iter().map(|a| a.1).collect();
        assert_eq!(types, ["int32_t", "int32_t", "uint32_t", "uint64_t", "user_addr_t", "int32_t"]);
    }
}
