//! Loading a component and choosing the function to map: [`Component`] reads
//! and validates the wasm and lists its exports, [`Task`] is one exported
//! function with its WIT signature, which types every [`Input`] and [`Value`].
//!
//! The host never compiles a component: it decodes the WIT the component
//! carries. Compiling happens in the workers.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use wasm_wave::value::{FuncType, Type, resolve_wit_func_type};
use wasm_wave::wasm::{WasmFunc, WasmTypeKind};
use wit_component::{OutputToString, WitPrinter};
use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{FunctionKind, Resolve, WorldId, WorldItem, WorldKey};

use super::error::{Error, TaskError};
use super::json;
use super::quote::shorten;
use super::value::{Input, Value, is_bytes};
use crate::protocol::{self, Encoded, Failure, encoding, engine, provided};

/// The largest component wpool loads: a larger file is refused before it
/// is read, and so never reaches a worker's compiler.
pub const MAX_COMPONENT_SIZE: usize = 128 << 20;

/// A WebAssembly component, validated but for its functions' bodies: its
/// bytes and the WIT world it exports and imports.
#[derive(Clone)]
pub struct Component {
    inner: Arc<ComponentInner>,
}

struct ComponentInner {
    name: String,
    wasm: Bytes,
    resolve: Resolve,
    world: WorldId,
    funcs: Vec<Export>,
    /// The imports no worker provides, by name: a task of this component
    /// cannot run.
    unprovided: Vec<String>,
    /// Whether it uses component-model async, and so needs an engine with
    /// concurrency support (see [`engine::NEEDS_CONCURRENCY`]).
    concurrency: bool,
    /// The BLAKE3 hash of `wasm`, which names its compiled code in the
    /// compile cache.
    digest: blake3::Hash,
}

/// An exported function, and where it sits in the component's exports.
struct Export {
    /// `square`, or `wpool-examples:wordstats/text#analyze` inside an interface.
    name: String,
    /// The export name of the interface instance holding the function.
    instance: Option<String>,
    func: wit_parser::Function,
    /// Whose start-up hook this is, when a toolchain exports it beside
    /// the task.
    hook: Option<&'static str>,
}

/// The functions toolchains export beside a task for their own start-up,
/// and whose they are: never chosen as the function to map unless named.
/// (wizer's `wizer.initialize` is a core export, never seen here.)
const HOOKS: &[(&str, &str)] = &[
    ("exports#init", "componentize-py's start-up hook"),
    ("init", "a toolchain's start-up hook (jco's QuickJS builds)"),
];

/// Validates everything in `wasm` but its functions' bodies, with
/// `features`: its types,
/// imports, exports and the structure of its modules and components, all
/// that the host reads of it. The bodies, most of a large component's
/// bytes, are validated by the compiler in a locked-down worker, before
/// any task runs; a component whose code is invalid fails its compile
/// (see `pool::dispatch::compile`), with the validator's message.
fn validate_structure(
    wasm: &[u8],
    features: wasmparser::WasmFeatures,
) -> Result<(), wasmparser::BinaryReaderError> {
    let mut validator = wasmparser::Validator::new_with_features(features);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        // `ValidPayload::Func` is a body for the caller to validate: not here.
        validator.payload(&payload?)?;
    }
    Ok(())
}

impl Component {
    /// Reads and validates the component in `path`.
    ///
    /// # Errors
    /// [`Error::Read`] if the file cannot be read, [`Error::TooLarge`] if it
    /// is larger than [`MAX_COMPONENT_SIZE`] (it is not read then),
    /// [`Error::NotComponent`] if it is not a valid WebAssembly component (a
    /// core module is refused too).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Component, Error> {
        let path = path.as_ref();
        let read_error = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        let too_large = |size| Error::TooLarge {
            name: path.display().to_string(),
            size,
            limit: MAX_COMPONENT_SIZE as u64,
        };
        if size > MAX_COMPONENT_SIZE as u64 {
            return Err(too_large(size));
        }
        // The file may grow while it is read: read one byte past the cap.
        let mut wasm = Vec::with_capacity(size as usize);
        file.take(MAX_COMPONENT_SIZE as u64 + 1)
            .read_to_end(&mut wasm)
            .map_err(read_error)?;
        Component::from_bytes(path.display().to_string(), wasm)
    }

    /// Validates `wasm` as a component, all but its functions' bodies (the
    /// compiler validates those, in a worker); `name` names it in error
    /// messages.
    ///
    /// # Errors
    /// [`Error::NotComponent`] if the bytes are not a valid component,
    /// [`Error::TooLarge`] if they are more than [`MAX_COMPONENT_SIZE`].
    pub fn from_bytes(name: impl Into<String>, wasm: impl Into<Bytes>) -> Result<Component, Error> {
        let name = name.into();
        let wasm = wasm.into();
        if wasm.len() > MAX_COMPONENT_SIZE {
            return Err(Error::TooLarge {
                name,
                size: wasm.len() as u64,
                limit: MAX_COMPONENT_SIZE as u64,
            });
        }
        let not_component = |reason: String| Error::NotComponent {
            name: name.clone(),
            reason,
        };
        if !wasm.starts_with(b"\0asm") {
            return Err(not_component(
                "it does not start with the wasm magic bytes".into(),
            ));
        }
        if wasmparser::Parser::is_core_wasm(&wasm) {
            return Err(not_component(
                "it is a core wasm module; wrap it into a component (for example by building for wasm32-wasip2)"
                    .into(),
            ));
        }
        // Valid without component-model async, or else valid with it (the
        // validator's default features): a QuickJS build's exports are
        // async-lifted. Validated, and hashed for the compile cache, beside
        // the decoding of its WIT, which takes longer on a large component.
        let validate_and_hash = || {
            let without_async =
                wasmparser::WasmFeatures::default().difference(engine::NEEDS_CONCURRENCY);
            let concurrency = match validate_structure(&wasm, without_async) {
                Ok(()) => Ok(false),
                Err(_) => {
                    validate_structure(&wasm, wasmparser::WasmFeatures::default()).map(|()| true)
                }
            };
            (concurrency, blake3::hash(&wasm))
        };
        let ((concurrency, digest), decoded) = std::thread::scope(|scope| {
            let validation = scope.spawn(validate_and_hash);
            let decoded = decode(&wasm);
            let validated = validation
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (validated, decoded)
        });
        let concurrency = concurrency.map_err(|e| not_component(e.to_string()))?;
        let (resolve, world) = match decoded.map_err(|e| not_component(format!("{e:#}")))? {
            DecodedWasm::Component(resolve, world) => (resolve, world),
            DecodedWasm::WitPackage(..) => {
                return Err(not_component("it is a WIT package, not a component".into()));
            }
        };
        let funcs = exported_funcs(&resolve, world);
        let unprovided = unprovided_imports(&resolve, world);
        Ok(Component {
            inner: Arc::new(ComponentInner {
                name,
                wasm,
                resolve,
                world,
                funcs,
                unprovided,
                concurrency,
                digest,
            }),
        })
    }

    /// The name given when loading, usually the file's path.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The names of the exported functions, as [`Component::task`] takes them.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.inner.funcs.iter().map(|f| f.name.as_str())
    }

    /// Whose start-up hook the exported function `func` (named as
    /// [`Component::functions`] names it) is, when it is a toolchain's own,
    /// such as componentize-py's `exports#init`: `wpool run` never chooses
    /// one unless it is named.
    pub fn hook(&self, func: &str) -> Option<&'static str> {
        let export = self.inner.funcs.iter().find(|f| f.name == func)?;
        export.hook
    }

    /// Checks that every import of the component is one a worker provides:
    /// WASI 0.2 (`wasi:io`, `wasi:clocks`, `wasi:random`, `wasi:cli`,
    /// `wasi:filesystem`, `wasi:sockets`, and `wasi:http`, whose requests
    /// are all refused) and `wpool:task` 0.1. [`Component::task`] checks
    /// it too, so that no worker starts for a component that cannot run.
    ///
    /// # Errors
    /// [`Error::UnprovidedImports`] naming every import that is not.
    pub fn check_imports(&self) -> Result<(), Error> {
        match self.inner.unprovided.is_empty() {
            true => Ok(()),
            false => Err(Error::UnprovidedImports {
                name: self.inner.name.clone(),
                imports: self.inner.unprovided.join(", "),
                provided: provided::summary(),
            }),
        }
    }

    /// The component's world in WIT: what it imports and exports, followed by
    /// the interfaces it exports.
    pub fn wit(&self) -> String {
        let ComponentInner { resolve, world, .. } = &*self.inner;
        let world = &resolve.worlds[*world];
        let exported_pkgs = world.exports.keys().filter_map(|key| match key {
            WorldKey::Interface(id) => resolve.interfaces[*id].package,
            WorldKey::Name(_) => None,
        });
        let mut nested: Vec<_> = exported_pkgs
            .filter(|p| Some(*p) != world.package)
            .collect();
        nested.sort();
        nested.dedup();
        let mut printer = WitPrinter::new(OutputToString::default());
        match world.package {
            Some(pkg) => match printer.print(resolve, pkg, &nested) {
                Ok(()) => printer.output.to_string(),
                Err(e) => format!("// cannot print this component's WIT: {e:#}\n"),
            },
            None => "// this component has no world\n".to_string(),
        }
    }

    /// Chooses the function to map: `func` by name (either its full name or,
    /// when that is unambiguous, its bare name), or else the only exported
    /// function that is not a toolchain's start-up [hook](Component::hook).
    ///
    /// # Errors
    /// [`Error::UnprovidedImports`] when the component imports what no
    /// worker provides (see [`Component::check_imports`]);
    /// [`Error::UnknownFunc`], [`Error::AmbiguousFunc`],
    /// [`Error::AmbiguousName`] or [`Error::NoFunc`] when no single function
    /// matches; [`Error::UnsupportedSignature`] when
    /// its parameters or result have no value form (resources, streams).
    pub fn task(&self, func: Option<&str>) -> Result<Task, Error> {
        self.check_imports()?;
        let funcs = &self.inner.funcs;
        let list = || {
            let names: Vec<&str> = self.functions().collect();
            names.join(", ")
        };
        let chosen: Vec<usize> = match func {
            None => {
                let tasks: Vec<usize> = (0..funcs.len())
                    .filter(|&i| funcs[i].hook.is_none())
                    .collect();
                match tasks.is_empty() {
                    true => (0..funcs.len()).collect(),
                    false => tasks,
                }
            }
            Some(want) => {
                let exact: Vec<usize> = (0..funcs.len())
                    .filter(|&i| funcs[i].name == want)
                    .collect();
                if exact.is_empty() {
                    (0..funcs.len())
                        .filter(|&i| funcs[i].func.name == want)
                        .collect()
                } else {
                    exact
                }
            }
        };
        let index = match (chosen.as_slice(), func) {
            ([one], _) => *one,
            ([], _) if funcs.is_empty() => {
                return Err(Error::NoFunc {
                    name: self.inner.name.clone(),
                });
            }
            ([], Some(want)) => {
                return Err(Error::UnknownFunc {
                    name: self.inner.name.clone(),
                    func: want.to_string(),
                    exports: list(),
                });
            }
            (several, Some(want)) => {
                let matches: Vec<&str> = several.iter().map(|&i| funcs[i].name.as_str()).collect();
                return Err(Error::AmbiguousName {
                    name: self.inner.name.clone(),
                    func: want.to_string(),
                    matches: matches.join(", "),
                });
            }
            // The functions to choose from: a start-up hook is not one.
            (several, None) => {
                let names: Vec<&str> = several.iter().map(|&i| funcs[i].name.as_str()).collect();
                return Err(Error::AmbiguousFunc {
                    name: self.inner.name.clone(),
                    exports: names.join(", "),
                });
            }
        };
        Task::new(self.clone(), index)
    }
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.inner.name)
            .field("functions", &self.functions().collect::<Vec<_>>())
            .finish()
    }
}

fn exported_funcs(resolve: &Resolve, world: WorldId) -> Vec<Export> {
    let mut funcs = Vec::new();
    for (key, item) in &resolve.worlds[world].exports {
        match item {
            WorldItem::Function(func) => funcs.push(Export {
                name: func.name.clone(),
                instance: None,
                func: func.clone(),
                hook: None,
            }),
            WorldItem::Interface { id, .. } => {
                let instance = resolve.name_world_key(key);
                for func in resolve.interfaces[*id].functions.values() {
                    if matches!(func.kind, FunctionKind::Freestanding) {
                        funcs.push(Export {
                            name: format!("{instance}#{}", func.name),
                            instance: Some(instance.clone()),
                            func: func.clone(),
                            hook: None,
                        });
                    }
                }
            }
            WorldItem::Type { .. } => {}
        }
    }
    for export in &mut funcs {
        export.hook = HOOKS
            .iter()
            .find(|(name, _)| *name == export.name)
            .map(|(_, whose)| *whose);
    }
    funcs
}

/// The imports of `world` that no worker provides, each by its full name
/// (`wasi:http/types@0.3.0`, or the bare name of a function or of an
/// interface defined in the world itself).
fn unprovided_imports(resolve: &Resolve, world: WorldId) -> Vec<String> {
    let mut unprovided = Vec::new();
    for (key, item) in &resolve.worlds[world].imports {
        let provided = match (key, item) {
            (_, WorldItem::Type { .. }) => true,
            (WorldKey::Interface(id), WorldItem::Interface { .. }) => {
                let interface = &resolve.interfaces[*id];
                match (interface.package, &interface.name) {
                    (Some(package), Some(name)) => {
                        let package = &resolve.packages[package].name;
                        let version = package
                            .version
                            .as_ref()
                            .map(|v| (v.major, v.minor, v.patch));
                        let full = format!("{}:{}", package.namespace, package.name);
                        provided::provides(&full, version, name)
                    }
                    _ => false,
                }
            }
            _ => false,
        };
        if !provided {
            let name = resolve.name_world_key(key);
            match item {
                WorldItem::Function(_) => unprovided.push(format!("{name} (a function)")),
                _ => unprovided.push(name),
            }
        }
    }
    unprovided
}

/// One exported function of a component, ready to be mapped over inputs.
///
/// Cheap to clone: clones share the component.
#[derive(Clone)]
pub struct Task {
    inner: Arc<TaskInner>,
}

struct TaskInner {
    component: Component,
    export: usize,
    params: Arc<[Type]>,
    /// Each parameter's name and WIT type, as JSON inputs name them.
    param_names: Vec<(String, String)>,
    /// The parameters as one WIT type: the type of a single parameter, or a
    /// tuple of several; `None` when there are no parameters.
    input_type: Option<Type>,
    input_wit: String,
    result: Option<Arc<Type>>,
}

impl Task {
    fn new(component: Component, export: usize) -> Result<Task, Error> {
        let ComponentInner { resolve, funcs, .. } = &*component.inner;
        let Export { name, func, .. } = &funcs[export];
        let unsupported = |reason: String| Error::UnsupportedSignature {
            func: name.clone(),
            reason,
        };
        let ty: FuncType =
            resolve_wit_func_type(resolve, func).map_err(|e| unsupported(e.to_string()))?;
        let params: Arc<[Type]> = ty.params().collect();
        let result = ty.results().next().map(Arc::new);
        for ty in params.iter().chain(result.as_deref()) {
            encoding::check_type(ty).map_err(|e| unsupported(e.to_string()))?;
        }
        let wit_names: Vec<String> = func
            .params
            .iter()
            .map(|p| wit_type_name(resolve, &p.ty))
            .collect();
        let param_names = func
            .params
            .iter()
            .zip(&wit_names)
            .map(|(param, wit)| (param.name.clone(), wit.clone()))
            .collect();
        let (input_type, input_wit) = match &*params {
            [] => (None, "()".to_string()),
            [one] => (Some(one.clone()), wit_names[0].clone()),
            _ => (
                Type::tuple(params.to_vec()),
                format!("tuple<{}>", wit_names.join(", ")),
            ),
        };
        Ok(Task {
            inner: Arc::new(TaskInner {
                component: component.clone(),
                export,
                params,
                param_names,
                input_type,
                input_wit,
                result,
            }),
        })
    }

    /// The component this task belongs to.
    pub fn component(&self) -> &Component {
        &self.inner.component
    }

    /// The function's full name: `square`, or `pkg:name/iface#func`.
    pub fn name(&self) -> &str {
        &self.export().name
    }

    /// What an input must be, in WIT: the parameter's type, or a tuple of the
    /// parameters' types.
    pub fn input_type(&self) -> &str {
        &self.inner.input_wit
    }

    /// Whether the function takes exactly one integer parameter, so that
    /// ranges of integers can feed it.
    pub fn takes_one_integer(&self) -> bool {
        use WasmTypeKind::*;
        matches!(&*self.inner.params, [p] if matches!(
            wasm_wave::wasm::WasmType::kind(p), S8 | S16 | S32 | S64 | U8 | U16 | U32 | U64
        ))
    }

    /// The input `n` for a function of one integer parameter (as a range
    /// such as `0..10` feeds it), made without going through text.
    ///
    /// # Errors
    /// [`Error::BadInput`] when the function does not take one integer, or
    /// `n` does not fit its type.
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// assert_eq!(task.integer_input(-7)?, task.parse_input("-7")?);
    /// assert!(task.integer_input(1 << 64).is_err()); // past s64
    /// # Ok::<(), wpool::Error>(())
    /// ```
    pub fn integer_input(&self, n: i128) -> Result<Input, Error> {
        let bad = |reason: &str| Error::BadInput {
            input: n.to_string(),
            expected: self.inner.input_wit.clone(),
            reason: reason.to_owned(),
        };
        let Some(kind) = self.integer_kind() else {
            return Err(bad("the function does not take one integer"));
        };
        let mut args = Vec::new();
        if !encoding::put_integer(&mut args, kind, n) {
            return Err(bad(&format!("out of range for {}", self.inner.input_wit)));
        }
        Ok(Input::new(args.into(), self.inner.params.clone()))
    }

    /// The inputs `range` for a function of one integer parameter, as
    /// `wpool run TASK 0..10` feeds them: the same as
    /// [`Task::integer_input`] of each, made as they are read.
    ///
    /// # Errors
    /// [`Error::BadInput`] when the function does not take one integer, or
    /// an end of a range that is not empty does not fit its type.
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// let inputs: Vec<_> = task.integer_inputs(-2..3)?.collect();
    /// assert_eq!(inputs.len(), 5);
    /// assert_eq!(inputs[0], task.integer_input(-2)?);
    /// assert!(task.integer_inputs(0..(1 << 64) + 1).is_err()); // past s64
    /// # Ok::<(), wpool::Error>(())
    /// ```
    pub fn integer_inputs(
        &self,
        range: std::ops::Range<i128>,
    ) -> Result<impl Iterator<Item = Input> + use<>, Error> {
        if !range.is_empty() {
            self.integer_input(range.start)?;
            self.integer_input(range.end - 1)?;
        }
        let kind = self.integer_kind().ok_or_else(|| Error::BadInput {
            input: format!("{}..{}", range.start, range.end),
            expected: self.inner.input_wit.clone(),
            reason: "the function does not take one integer".to_owned(),
        })?;
        let params = self.inner.params.clone();
        let mut args = Vec::new();
        Ok(range.map(move |n| {
            args.clear();
            // Both ends fit, so every integer between them does.
            encoding::put_integer(&mut args, kind, n);
            Input::new(args.as_slice().into(), params.clone())
        }))
    }

    /// The type of the function's one integer parameter, if that is what
    /// it takes.
    fn integer_kind(&self) -> Option<WasmTypeKind> {
        let [ty] = &*self.inner.params else {
            return None;
        };
        let kind = wasm_wave::wasm::WasmType::kind(ty);
        self.takes_one_integer().then_some(kind)
    }

    /// Parses an input in WAVE syntax: a value of the parameter's type, a
    /// tuple `(a, b, …)` when the function takes several parameters, or `()`
    /// when it takes none.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the input and the expected type.
    ///
    /// # Example
    /// ```
    /// # let square = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/square"))?;
    /// let task = wpool::Component::from_file(square)?.task(None)?;
    /// assert_eq!(task.parse_input("-7")?.to_string(), "-7");
    /// assert!(task.parse_input("\"seven\"").is_err());
    /// # Ok::<(), wpool::Error>(())
    /// ```
    pub fn parse_input(&self, text: &str) -> Result<Input, Error> {
        let TaskInner {
            params, input_type, ..
        } = &*self.inner;
        let bad = |reason: String| Error::BadInput {
            input: shorten(text),
            expected: self.inner.input_wit.clone(),
            reason,
        };
        let Some(input_type) = input_type else {
            return match text.trim() {
                "()" => Ok(Input::new(Encoded::default(), params.clone())),
                _ => Err(bad("the function takes no parameters: give ()".into())),
            };
        };
        let parsed =
            wasm_wave::untyped::UntypedValue::parse(text.trim()).map_err(|e| bad(e.to_string()))?;
        if let Some(unknown) = unknown_field(parsed.node(), input_type, parsed.source()) {
            return Err(bad(unknown));
        }
        let value: wasm_wave::value::Value = parsed
            .to_wasm_value(input_type)
            .map_err(|e| bad(e.to_string()))?;
        // The arguments' encoding is the tuple's: each parameter in turn.
        let mut args = Vec::new();
        encoding::encode(&value, input_type, &mut args).map_err(|e| bad(e.to_string()))?;
        Ok(Input::new(args.into(), params.clone()))
    }

    /// An input that is the contents of the file `path`, for a function of
    /// one `list<u8>` or `string` parameter. The file is read when its task
    /// is dispatched, not now: a run over many files holds only those its
    /// workers are running. A file that cannot be read (or is not UTF-8,
    /// for a `string`) fails its task with [`TaskError::Input`](crate::TaskError::Input),
    /// one whose contents are larger than
    /// [`Limits::max_value`](crate::Limits::max_value) with
    /// [`TaskError::TooLarge`](crate::TaskError::TooLarge), without being
    /// read whole; the other tasks go on.
    ///
    /// # Errors
    /// [`Error::UnsupportedSignature`] when the function does not take one
    /// `list<u8>` or `string`.
    ///
    /// # Example
    /// ```
    /// # let payload = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/payload"))?;
    /// # let worker = concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release/wpool");
    /// // payload.wasm exports `len: func(data: list<u8>) -> u64`.
    /// let task = wpool::Component::from_file(payload)?.task(Some("len"))?;
    /// let pool = wpool::Pool::builder().worker_program(worker).build();
    /// let input = task.file_input("Cargo.toml")?;
    /// let output = pool.map(&task, [input])?.remove(0);
    /// assert_eq!(output.input.file_path(), Some(std::path::Path::new("Cargo.toml")));
    /// let size = std::fs::metadata("Cargo.toml")?.len();
    /// assert_eq!(output.result?.to_string(), size.to_string());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file_input(&self, path: impl AsRef<Path>) -> Result<Input, Error> {
        if !self.takes_bytes() {
            return Err(Error::UnsupportedSignature {
                func: self.name().to_string(),
                reason: format!(
                    "it takes {}, and a file is passed as one list<u8> or string parameter",
                    self.input_type()
                ),
            });
        }
        Ok(Input::file(path.as_ref().into(), self.inner.params.clone()))
    }

    /// An input that fails its task with [`TaskError::Input`](crate::TaskError::Input)
    /// and `reason`, without reaching a worker: for a stream of inputs where
    /// one that does not parse should fail alone, and the others go on.
    /// The input displays as `text`, shortened when long.
    pub fn invalid_input(&self, text: &str, reason: impl fmt::Display) -> Input {
        Input::invalid(text, reason.to_string(), self.inner.params.clone())
    }

    /// Whether the function takes one `list<u8>` or `string`, as
    /// [`Task::file_input`] needs.
    pub fn takes_bytes(&self) -> bool {
        matches!(&*self.inner.params, [p] if is_bytes(p))
    }

    /// Whether the function returns a `list<u8>` or a `string`, or a
    /// `result` whose `ok` is one: a result [`Value::as_bytes`] gives the
    /// bytes of.
    pub fn returns_bytes(&self) -> bool {
        use wasm_wave::wasm::WasmType as _;
        self.inner.result.as_deref().is_some_and(|ty| {
            is_bytes(ty)
                || ty
                    .result_types()
                    .is_some_and(|(ok, _)| ok.as_ref().is_some_and(is_bytes))
        })
    }

    /// Parses an input in JSON, by the rules of typed JSON (see the
    /// README's table): a function of one parameter takes its value, one of
    /// several an array of them or an object of them by parameter name, one
    /// of none `[]`, `{}` or `null`.
    ///
    /// # Errors
    /// [`Error::BadInput`] naming the parameter, its WIT type, and where in
    /// the JSON value it does not match.
    ///
    /// # Example
    /// ```
    /// # let wordstats = wpool::build_guest(concat!(env!("CARGO_MANIFEST_DIR"), "/../guest-examples/wordstats"))?;
    /// // `analyze: func(text: string, case: case, top: u32) -> stats`
    /// let task = wpool::Component::from_file(wordstats)?.task(None)?;
    /// let by_name = task.parse_input_json(r#"{"text": "a b a", "case": "sensitive", "top": 2}"#)?;
    /// let in_order = task.parse_input_json(r#"["a b a", "sensitive", 2]"#)?;
    /// assert_eq!(by_name, in_order);
    /// let error = task.parse_input_json(r#"["a b a", "sensitive", -2]"#).unwrap_err();
    /// assert!(error.to_string().contains("parameter top (u32)"), "{error}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse_input_json(&self, text: &str) -> Result<Input, Error> {
        let TaskInner {
            params,
            param_names,
            input_wit,
            ..
        } = &*self.inner;
        let bad = |reason: String| Error::BadInput {
            input: shorten(text),
            expected: input_wit.clone(),
            reason,
        };
        let json = json::parse(text).map_err(|e| match e.classify() {
            // JSON, with a key given twice.
            serde_json::error::Category::Data => bad(e.to_string()),
            _ => bad(format!("not JSON: {e}")),
        })?;
        use serde_json::Value as Json;
        let names = || {
            let names: Vec<&str> = param_names.iter().map(|(name, _)| name.as_str()).collect();
            names.join(", ")
        };
        let values: Vec<&Json> = match (&json, params.len()) {
            (json, 1) => vec![json],
            (Json::Null, 0) => Vec::new(),
            (Json::Array(items), 0) if items.is_empty() => Vec::new(),
            (Json::Object(object), 0) if object.is_empty() => Vec::new(),
            (_, 0) => {
                return Err(bad(
                    "the function takes no parameters: give [], {} or null".into()
                ));
            }
            (Json::Array(items), n) if items.len() == n => items.iter().collect(),
            (Json::Object(object), _) => {
                let known = |key: &String| param_names.iter().any(|(name, _)| name == key);
                if let Some(unknown) = object.keys().find(|key| !known(key)) {
                    return Err(bad(format!(
                        "unknown parameter {unknown:?}; the parameters are {}",
                        names()
                    )));
                }
                param_names
                    .iter()
                    .map(|(name, _)| {
                        object
                            .get(name)
                            .ok_or_else(|| bad(format!("missing parameter {name:?}")))
                    })
                    .collect::<Result<_, _>>()?
            }
            _ => {
                return Err(bad(format!(
                    "give an array of {} values, or an object of the parameters {}",
                    params.len(),
                    names()
                )));
            }
        };
        let mut args = Vec::new();
        for ((value, ty), (name, wit)) in values.into_iter().zip(params.iter()).zip(param_names) {
            let value: wasm_wave::value::Value = json::from_json(value, ty)
                .map_err(|e| bad(format!("parameter {name} ({wit}): {e}")))?;
            encoding::encode(&value, ty, &mut args).map_err(|e| bad(e.to_string()))?;
        }
        Ok(Input::new(args.into(), params.clone()))
    }

    fn export(&self) -> &Export {
        &self.inner.component.inner.funcs[self.inner.export]
    }

    /// The function as the worker that hosts it under `id` knows it.
    pub(crate) fn worker_export(&self, id: u32) -> protocol::Export {
        let export = self.export();
        protocol::Export {
            task: id,
            instance: export.instance.clone(),
            func: export.func.name.clone(),
            concurrency: self.concurrency(),
        }
    }

    /// Whether its component uses component-model async, and so needs an
    /// engine with concurrency support (see [`engine::NEEDS_CONCURRENCY`]).
    pub(crate) fn concurrency(&self) -> bool {
        self.inner.component.inner.concurrency
    }

    pub(crate) fn wasm(&self) -> Bytes {
        self.inner.component.inner.wasm.clone()
    }

    /// The BLAKE3 hash of its component's bytes.
    pub(crate) fn digest(&self) -> &blake3::Hash {
        &self.inner.component.inner.digest
    }

    /// Whether `other` is this very task (a clone of it).
    pub(crate) fn same_function(&self, other: &Task) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Checks a result that a worker sent back encoded.
    ///
    /// # Errors
    /// When the bytes are not a value of the function's result type (or,
    /// for a function without one, not empty): the worker is not to be
    /// trusted.
    pub(crate) fn check_value(&self, bytes: &[u8]) -> Result<(), encoding::Error> {
        match self.inner.result.as_deref() {
            Some(ty) => encoding::validate(ty, bytes),
            None => encoding::Reader::new(bytes).finish(),
        }
    }

    /// Types a result that a worker sent back encoded, checking it first
    /// ([`Task::check_value`]).
    ///
    /// # Errors
    /// As [`Task::check_value`].
    pub(crate) fn value(&self, bytes: impl Into<Encoded>) -> Result<Value, encoding::Error> {
        let bytes = bytes.into();
        self.check_value(bytes.as_slice())?;
        Ok(self.checked_value(bytes))
    }

    /// Types a result that [`Task::check_value`] passed.
    pub(crate) fn checked_value(&self, bytes: Encoded) -> Value {
        Value::new(bytes, self.inner.result.clone())
    }

    /// What a worker's failure of a call means to the caller.
    ///
    /// # Errors
    /// When the `err` value it returned does not decode as the function's
    /// result.
    pub(crate) fn failure(&self, failure: Failure) -> Result<TaskError, encoding::Error> {
        if let Failure::Returned(bytes) = &failure {
            self.check_value(bytes)?;
        }
        Ok(self.checked_failure(failure))
    }

    /// What a worker's failure of a call means to the caller, its `err`
    /// value (if any) passed by [`Task::check_value`].
    pub(crate) fn checked_failure(&self, failure: Failure) -> TaskError {
        match failure {
            Failure::Returned(bytes) => TaskError::Returned(self.checked_value(bytes.into())),
            Failure::Trap(message) => TaskError::Trap(message),
            Failure::Exception(exception) => TaskError::Exception(exception),
            Failure::Exit(code) => TaskError::Exit(code),
            Failure::StackOverflow => TaskError::StackOverflow,
            Failure::Timeout(after) => TaskError::Timeout(after),
            Failure::OutOfFuel(fuel) => TaskError::OutOfFuel(fuel),
            Failure::MemoryLimit(bytes) => TaskError::MemoryLimit(bytes),
            Failure::ResultTooLarge { size, limit } => TaskError::TooLarge {
                what: "result",
                size,
                limit,
            },
        }
    }

    /// Types arguments that arrived encoded, as a cluster's agent receives
    /// them.
    ///
    /// # Errors
    /// When the bytes are not values of the function's parameter types.
    pub(crate) fn input(&self, args: Bytes) -> Result<Input, encoding::Error> {
        match &self.inner.input_type {
            Some(ty) => encoding::validate(ty, &args)?,
            None => encoding::Reader::new(&args).finish()?,
        }
        Ok(Input::new(args.into(), self.inner.params.clone()))
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("component", &self.component().name())
            .field("func", &self.name())
            .field("input_type", &self.input_type())
            .finish()
    }
}

/// The WIT text of a type, as in `list<string>` or `stats`.
fn wit_type_name(resolve: &Resolve, ty: &wit_parser::Type) -> String {
    let mut printer = WitPrinter::new(OutputToString::default());
    match printer.print_type_name(resolve, ty) {
        Ok(()) => printer.output.to_string(),
        Err(_) => "?".to_string(),
    }
}

/// A record field in WAVE text `src` (parsed as `node`) that the record's
/// type `ty` does not have, looked for through the value as its type says:
/// wasm-wave drops such a field, so that a misspelt `option` field would
/// quietly be `none`. Says which, and what the fields are. A node that does
/// not fit its type is left for the typed parse to report.
fn unknown_field(node: &wasm_wave::ast::Node, ty: &Type, src: &str) -> Option<String> {
    use wasm_wave::wasm::WasmType as _;
    let inner =
        |node: Option<&wasm_wave::ast::Node>, ty: Option<Type>| unknown_field(node?, &ty?, src);
    match ty.kind() {
        WasmTypeKind::Record => {
            let fields: Vec<_> = ty.record_fields().collect();
            node.as_record(src).ok()?.find_map(|(label, value)| {
                match fields.iter().find(|(name, _)| name == label) {
                    Some((_, ty)) => unknown_field(value, ty, src),
                    None => {
                        let names: Vec<_> = fields.iter().map(|(name, _)| name.as_ref()).collect();
                        Some(format!(
                            "unknown field {label:?}; the fields are {}",
                            names.join(", ")
                        ))
                    }
                }
            })
        }
        WasmTypeKind::List => {
            let element = ty.list_element_type()?;
            node.as_list()
                .ok()?
                .find_map(|value| unknown_field(value, &element, src))
        }
        WasmTypeKind::Tuple => node
            .as_tuple()
            .ok()?
            .zip(ty.tuple_element_types())
            .find_map(|(value, ty)| unknown_field(value, &ty, src)),
        WasmTypeKind::Option => inner(node.as_option().ok()?, ty.option_some_type()),
        WasmTypeKind::Result => {
            let (ok, err) = ty.result_types()?;
            match node.as_result().ok()? {
                Ok(value) => inner(value, ok),
                Err(value) => inner(value, err),
            }
        }
        WasmTypeKind::Variant => {
            let (label, payload) = node.as_variant(src).ok()?;
            let case = ty.variant_cases().find(|(name, _)| name == label)?;
            inner(payload, case.1)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use wasm_wave::untyped::UntypedValue;
    use wasm_wave::value::Type;

    use super::unknown_field;

    /// A record `{a: u8, o: option<string>}`.
    fn point() -> Type {
        Type::record([("a", Type::U8), ("o", Type::option(Type::STRING))]).expect("a record")
    }

    fn unknown(ty: &Type, text: &str) -> Option<String> {
        let parsed = UntypedValue::parse(text).expect("WAVE");
        unknown_field(parsed.node(), ty, parsed.source())
    }

    #[test]
    fn a_field_the_record_lacks_is_found_however_deep() {
        let nested = Type::tuple(vec![
            Type::list(Type::option(point())),
            Type::result(Some(point()), None),
            Type::variant([("p", Some(point())), ("q", None)]).expect("a variant"),
        ])
        .expect("a tuple");
        for (text, field) in [
            (
                r#"([some({a: 1, oo: some("typo")})], ok({a: 1}), q)"#,
                Some("oo"),
            ),
            (r#"([], ok({a: 1, b: 2}), q)"#, Some("b")),
            (r#"([none], ok({a: 1}), p({a: 1, z: 0}))"#, Some("z")),
            (
                r#"([some({a: 1, o: some("x")}), none], err, p({a: 2}))"#,
                None,
            ),
        ] {
            let found = unknown(&nested, text);
            assert_eq!(
                found.is_some(),
                field.is_some(),
                "{text}: {found:?}, expected {field:?}"
            );
            if let (Some(found), Some(field)) = (found, field) {
                assert!(
                    found.starts_with(&format!("unknown field {field:?}; the fields are a, o")),
                    "{found}"
                );
            }
        }
    }

    #[test]
    fn a_value_that_does_not_fit_its_type_is_left_to_the_typed_parse() {
        assert_eq!(unknown(&point(), "[1, 2]"), None);
        assert_eq!(unknown(&Type::list(point()), "{a: 1}"), None);
    }
}
