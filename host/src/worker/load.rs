//! The worker's half of the compile cache, and the crate's one use of
//! `unsafe`: loading a compiled artifact that the host has verified.

#![allow(unsafe_code)]

use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime::error::Context as _;

/// The component: deserialized from `compiled` when that is given and this
/// engine accepts it, else compiled from `wasm`. When it was compiled and
/// `serialize` is set, also its artifact, for the host to cache.
pub(crate) fn compile_or_load(
    engine: &Engine,
    wasm: &[u8],
    compiled: Option<&[u8]>,
    serialize: bool,
) -> wasmtime::Result<(Component, Option<Vec<u8>>)> {
    if let Some(bytes) = compiled
        && let Ok(component) = load(engine, bytes)
    {
        return Ok((component, None));
    }
    let component = Component::new(engine, wasm).context("cannot compile the component")?;
    let artifact = match serialize {
        true => Some(component.serialize()?),
        false => None,
    };
    Ok((component, artifact))
}

/// The component compiled into `compiled`, an artifact the host verified:
/// one from its compile cache, whose keyed tag it checked, or one a worker
/// of this pool serialized before running any guest code. A sealed worker
/// loads its later tasks this way: it may not compile.
pub(crate) fn load(engine: &Engine, compiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` requires bytes made by
    // `Component::serialize` of this wasmtime build, unmodified. The host
    // hands a worker an artifact only after checking its HMAC-SHA256 tag,
    // keyed with a secret that only this user can read (see
    // `cache::CompileCache::get`), or straight from a worker that compiled
    // it before it ran any guest code: so the bytes are exactly what a
    // worker of ours serialized for this component. An artifact of another
    // wasmtime version or other engine settings is refused by wasmtime
    // itself (its header and compatibility checks).
    unsafe { Component::deserialize(engine, compiled) }
}
