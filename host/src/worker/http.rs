//! `wasi:http` for tasks: linked, so that components built with it (a
//! default componentize-js build imports it) load, with every outgoing
//! request refused as `HTTP-request-denied`, an error the guest handles.
//! The worker has no network to send one on anyway.

use std::future::Future;

use wasmtime::component::ResourceTable;
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
};

/// A task's `wasi:http` state: the context wasmtime keeps, and the hooks
/// that refuse to send anything.
#[derive(Default)]
pub(super) struct Http {
    ctx: WasiHttpCtx,
    hooks: RefuseRequests,
}

#[derive(Default)]
struct RefuseRequests;

/// What `send_request` returns: the response and a future that reports how
/// its body ended, or the error that stopped the request.
type Sent = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

impl WasiHttpHooks for RefuseRequests {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _sent: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Sent {
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

impl Http {
    /// What wasmtime's `wasi:http` host functions work on, with the task's
    /// resource `table`.
    pub(super) fn view<'a>(&'a mut self, table: &'a mut ResourceTable) -> WasiHttpCtxView<'a> {
        WasiHttpCtxView {
            ctx: &mut self.ctx,
            table,
            hooks: &mut self.hooks,
        }
    }
}
