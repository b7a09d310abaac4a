//! Bytes and text in and out of a task whose component imports nothing.
//! A Rust guest with the standard library imports WASI's streams as soon
//! as anything in it can panic or fail to allocate (to print the message);
//! this one is `no_std`, with `dlmalloc` for its allocator and a panic
//! handler that traps, so that it imports nothing and wpool calls it
//! directly, as it calls `square`. Without the standard library, which
//! provides the canonical ABI's `cabi_realloc` on `wasm32-wasip2`, the
//! component defines its own.

#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

wit_bindgen::generate!({ path: "wit" });

#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    core::arch::wasm32::unreachable()
}

/// The canonical ABI's allocation function: the host calls it to place
/// the arguments (a list's or a string's bytes) in the guest's memory.
///
/// # Safety
/// As the canonical ABI calls it: `old` is null with `old_len` 0, or a
/// block of `old_len` bytes it allocated with alignment `align`, a power
/// of two; `new_len` is not 0.
#[unsafe(no_mangle)]
unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    use alloc::alloc::{Layout, alloc, realloc};
    // SAFETY: the caller passes a valid alignment and a non-zero size, and
    // a block this function allocated with them.
    let block = unsafe {
        match old_len {
            0 => alloc(Layout::from_size_align_unchecked(new_len, align)),
            _ => realloc(old, Layout::from_size_align_unchecked(old_len, align), new_len),
        }
    };
    if block.is_null() {
        core::arch::wasm32::unreachable()
    }
    block
}

struct BytesDirect;

impl Guest for BytesDirect {
    fn reverse(mut data: Vec<u8>) -> Vec<u8> {
        data.reverse();
        data
    }

    fn shout(mut text: String) -> String {
        text.make_ascii_uppercase();
        text
    }
}

export!(BytesDirect);
