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
        Code::Compiled => {
            let artifact = artifact.context("the compiled component did not come")?;
            Ok((load(engine, artifact)?, None))
        }
    }
}

/// The component compiled into `artifact`, a sealed `memfd` holding an
/// artifact the host verified: one from its compile cache, whose keyed tag
/// it checked, or one a worker of this pool serialized before running any
/// guest code. A sealed worker loads its later tasks this way: it may not
/// compile.
pub(crate) fn load(engine: &Engine, artifact: OwnedFd) -> wasmtime::Result<Component> {
    let len = rustix::fs::fstat(&artifact)?.st_size;
    let len = usize::try_from(len).context("an artifact of negative size")?;
    if len == 0 {
        wasmtime::bail!("an empty artifact");
    }
    // SAFETY: a fresh private read-only mapping of the whole file, which
    // nothing else in this process refers to; unmapped below, after
    // `deserialize` has copied what it keeps. The host sealed the `memfd`
    // against writes, growth and shrinking before sending it
    // (`protocol::artifact::Artifact::new`), so the mapped bytes cannot
    // change, nor the mapping fault past a shrunk end, while we read them.
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
    // hands a worker an artifact only after checking its HMAC-SHA256 tag,
    // keyed with a secret that only this user can read (see
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
