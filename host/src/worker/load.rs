//! The worker's half of the compile cache, and the crate's one use of
//! `unsafe` for loading code: a compiled artifact that the host has
//! verified, mapped from the sealed descriptor it sent.

#![allow(unsafe_code)]

use std::os::fd::OwnedFd;

use bytes::Bytes;
use rustix::mm::{MapFlags, ProtFlags};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::error::Context as _;

use crate::protocol::Code;

/// The first task's component, from its setup's `code`: compiled from the
/// wasm (and then also serialized, for the host to cache and the other
/// workers to load), or loaded from `artifact`.
pub(crate) fn compile_or_load(
    engine: &Engine,
    code: Code,
    artifact: Option<OwnedFd>,
) -> wasmtime::Result<(Component, Option<Bytes>)> {
    match code {
        Code::Compile(wasm) => {
            let component =
                Component::new(engine, &wasm).context("cannot compile the component")?;
            let artifact = component.serialize()?;
            Ok((component, Some(Bytes::from(artifact))))
        }
        Code::Compiled(len) => {
            let artifact = artifact.context("the compiled component did not come")?;
            Ok((load(engine, artifact, len)?, None))
        }
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
