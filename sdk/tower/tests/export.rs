//! What `export!` generates, natively: the handler behind `edgefn_v1_handle` (the Wasm exports
//! themselves exist only in a Wasm build) and, with `preinit`, the init behind `edgefn_v1_init`.

use axum::Router;
use axum::routing::get;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How often each module's factory ran.
static LAZY_BUILDS: AtomicUsize = AtomicUsize::new(0);
static PREINIT_BUILDS: AtomicUsize = AtomicUsize::new(0);
static SETUPS: AtomicUsize = AtomicUsize::new(0);

fn routes() -> Router {
    Router::new()
        .route("/ok", get(|| async { "ok\n" }))
        // Never completes: a future waiting for a runtime the guest does not have.
        .route("/stall", get(std::future::pending::<&'static str>))
}

fn request(path: &str) -> edgefn::Request {
    http::Request::get(path).body(Default::default()).unwrap()
}

fn ctx() -> edgefn::Context {
    edgefn::Context::builder().function_name("f").build()
}

mod lazy {
    use super::*;

    fn app() -> Router {
        LAZY_BUILDS.fetch_add(1, Ordering::SeqCst);
        routes()
    }

    edgefn_tower::export!(app);

    #[test]
    fn the_service_is_built_at_the_first_request_and_again_after_a_failure() {
        assert_eq!(LAZY_BUILDS.load(Ordering::SeqCst), 0);
        for _ in 0..3 {
            let response = __edgefn_tower_handle(request("/f/ok"), &ctx());
            assert_eq!(response.body(), "ok\n");
        }
        assert_eq!(
            LAZY_BUILDS.load(Ordering::SeqCst),
            1,
            "one service per instance"
        );
        let stalled = __edgefn_tower_handle(request("/stall"), &ctx());
        assert_eq!(stalled.status(), 500);
        assert_eq!(__edgefn_tower_handle(request("/ok"), &ctx()).status(), 200);
        assert_eq!(
            LAZY_BUILDS.load(Ordering::SeqCst),
            2,
            "a service that failed is replaced"
        );
    }
}

mod preinit {
    use super::*;

    fn setup() {
        assert_eq!(
            PREINIT_BUILDS.load(Ordering::SeqCst),
            0,
            "the guest's init runs before the service is built"
        );
        SETUPS.fetch_add(1, Ordering::SeqCst);
    }

    fn app() -> Router {
        PREINIT_BUILDS.fetch_add(1, Ordering::SeqCst);
        routes()
    }

    edgefn_tower::export!(app, preinit, init = setup);

    #[test]
    fn the_service_is_built_by_the_init_and_served_from_then_on() {
        __edgefn_tower_init();
        assert_eq!(SETUPS.load(Ordering::SeqCst), 1);
        assert_eq!(PREINIT_BUILDS.load(Ordering::SeqCst), 1);
        for _ in 0..3 {
            assert_eq!(__edgefn_tower_handle(request("/ok"), &ctx()).status(), 200);
        }
        assert_eq!(PREINIT_BUILDS.load(Ordering::SeqCst), 1);
    }
}
