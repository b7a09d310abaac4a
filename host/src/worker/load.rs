//! The worker's half of the compile cache, and the crate's one use of
//! `unsafe` for loading code: a compiled artifact that the host has
//! verified, from the descriptor it sent.

#![allow(unsafe_code)]

use std::os::fd::{AsRawFd as _, OwnedFd};

use bytes::Bytes;
use rustix::mm::{MapFlags, ProtFlags};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::error::Context as _;

/// The component `wasm` compiles to, and its code serialized, for the
/// host to cache and the other workers to load.
pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<(Component, Bytes)> {
    let component = Component::new(engine, wasm).context("cannot compile the component")?;
    let artifact = component.serialize()?;
    Ok((component, Bytes::from(artifact)))
}

/// The first task's component, compiled into the first `len` bytes of
/// `artifact`, loaded before the worker's file access is shut
/// (`sandbox::shut_files`): wasmtime maps the file itself, opened again
/// through the descriptor's name in `/proc/self/fd`. So its code is not
/// copied, and its instances' memory images map straight from the file,
/// with no copy into a `memfd` either (a Python task's: 35 MB and 12 MB).
/// A file that cannot be mapped so (its code executable, from a `noexec`
/// mount) is loaded as a later task's is ([`load`]).
pub(crate) fn load_first(
    engine: &Engine,
    artifact: OwnedFd,
    len: u64,
) -> wasmtime::Result<Component> {
    let path = format!("/proc/self/fd/{}", artifact.as_raw_fd());
    // SAFETY: as in `load`, for as long as the component lives: the file
    // holds, unmodified, what a worker of ours serialized, and never
    // changes (a sealed `memfd`, or a cache file, never written in place).
    // The file goes on past `len` with the cache's tag, which wasmtime,
    // reading the code as an ELF image by its headers, never reads.
    match unsafe { Component::deserialize_file(engine, &path) } {
        Ok(component) => Ok(component),
        Err(_) => load(engine, artifact, len),
    }
}

/// The component compiled into the first `len` bytes of `artifact`, a file
/// the host sent whose bytes it verified (see `protocol::artifact`): a
/// sealed `memfd` holding what a worker of this pool serialized before
/// running any guest code, or a file of its compile cache, whose keyed tag
/// it checked. A sealed worker loads its later tasks this way: it may not
/// compile.
pub(crate) fn load(engine: &Engine, artifact: OwnedFd, len: u64) -> wasmtime::Result<Component> {
    let len = usize::try_from(len).context("an artifact larger than memory")?;
    if len == 0 {
        wasmtime::bail!("an empty artifact");
    }
    // SAFETY: a fresh private read-only mapping of `len` bytes of the file,
    // which nothing else in this process refers to; unmapped below, after
    // `deserialize` has copied what it keeps. The file does not change
    // while we read it: a `memfd` is sealed against writes, growth and
    // shrinking, and the compile cache never writes a file in place (it
    // renames new files over old ones), so only someone with this user's
    // rights could, who could replace the wpool binary as well.
    let map = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ,
            MapFlags::PRIVATE,
            &artifact,
            0,
        )?
    };
    // SAFETY: `map` is `len` readable bytes that stay mapped and unchanged
    // until the `munmap` below.
    let bytes = unsafe { std::slice::from_raw_parts(map.cast::<u8>(), len) };
    // SAFETY: `Component::deserialize` requires bytes made by
    // `Component::serialize` of this wasmtime build, unmodified. The host
    // hands a worker an artifact only after checking its tag, a BLAKE3
    // hash keyed with a secret that only this user can read (see
    // `cache::CompileCache::get`), or straight from a worker that compiled
    // it before it ran any guest code: so the bytes are exactly what a
    // worker of ours serialized for this component. An artifact of another
    // wasmtime version or other engine settings is refused by wasmtime
    // itself (its header and compatibility checks). It copies the bytes.
    let component = unsafe { Component::deserialize(engine, bytes) };
    // SAFETY: `bytes`, the one reference into the mapping, is dead.
    unsafe { rustix::mm::munmap(map, len)? };
    component
}
