//! Dies when its stack runs into the guard below it (unbounded recursion).
#![no_std]
#![no_main]

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let pad = core::hint::black_box([depth as u8; 512]);
    recurse(depth + 1) + pad[0] as u64
}

fn main(_: &libsys::Args) -> i32 {
    libsys::println!("crash-stack: recursing without end");
    let n = recurse(0);
    libsys::println!("crash-stack: survived?! {n}");
    0
}

libsys::entry!(main);
