//! The adapter against a real axum `Router` (built without tokio, as a guest builds it) and
//! against hand-written services that fail, stall or take several polls.

use axum::extract::{Extension, Path};
use axum::http::{HeaderMap, Method};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use edgefn::Context;
use edgefn_tower::{Body, call};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use tower_service::Service;

#[derive(Deserialize)]
struct Item {
    name: String,
}

fn app() -> Router {
    Router::new()
        .route("/items/{id}", get(show).put(update))
        .route("/items", post(create))
        .route("/whoami", get(whoami))
        .route("/echo/{*rest}", any(echo))
        .route("/shop/only-whole", get(|| async { "whole path\n" }))
}

async fn show(Path(id): Path<u32>) -> Result<String, (axum::http::StatusCode, String)> {
    if id == 0 {
        return Err((axum::http::StatusCode::NOT_FOUND, "no item 0\n".to_owned()));
    }
    Ok(format!("item {id}\n"))
}

async fn update(Path(id): Path<u32>, Json(item): Json<Item>) -> String {
    format!("item {id} is now {}\n", item.name)
}

async fn create(Json(item): Json<Item>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "created": item.name }))
}

async fn whoami(Extension(ctx): Extension<Context>) -> String {
    format!("{} on {}\n", ctx.function_name(), ctx.platform())
}

async fn echo(method: Method, Path(rest): Path<String>, headers: HeaderMap, body: Bytes) -> Bytes {
    let multi: Vec<_> = headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["one", "two"], "repeated headers arrive one by one");
    assert_eq!(method, "PATCH");
    assert_eq!(rest, "a/b c");
    body
}

fn ctx(function: &str) -> Context {
    Context::builder().function_name(function).build()
}

fn request(method: &str, uri: &str, content_type: Option<&str>, body: &[u8]) -> edgefn::Request {
    let mut builder = http::Request::builder().method(method).uri(uri);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.body(Bytes::copy_from_slice(body)).unwrap()
}

fn get_text(uri: &str, function: &str) -> (u16, String) {
    let response = call(&mut app(), request("GET", uri, None, b""), &ctx(function));
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

#[test]
fn routes_serve_with_and_without_the_function_name_in_front() {
    // Lambda and Workers: the path as the route has it.
    assert_eq!(get_text("/items/7", "shop"), (200, "item 7\n".to_owned()));
    // Local host and Azure: behind `/<function name>`.
    assert_eq!(
        get_text("/shop/items/7", "shop"),
        (200, "item 7\n".to_owned())
    );
    // A route that itself starts with the name is found by the whole path.
    assert_eq!(
        get_text("/shop/only-whole", "shop"),
        (200, "whole path\n".to_owned())
    );
    // A handler's own 404 is what the client gets, not the router's empty one.
    assert_eq!(
        get_text("/shop/items/0", "shop"),
        (404, "no item 0\n".to_owned())
    );
    assert_eq!(get_text("/shop/nothing", "shop"), (404, String::new()));
    // Only a whole leading segment is the function's name.
    assert_eq!(get_text("/shopitems/7", "shop").0, 404);
}

#[test]
fn path_parameters_and_extractor_rejections_are_answered_by_axum() {
    assert_eq!(get_text("/items/seven", "shop").0, 400);
    let mut router = app();
    let create = |router: &mut Router, content_type, body: &[u8]| {
        call(
            router,
            request("POST", "/shop/items", content_type, body),
            &ctx("shop"),
        )
    };
    let created = create(&mut router, Some("application/json"), br#"{"name":"lamp"}"#);
    assert_eq!(created.status(), 200);
    assert_eq!(created.headers()["content-type"], "application/json");
    assert_eq!(created.body(), r#"{"created":"lamp"}"#);
    // The same service value serves request after request.
    assert_eq!(
        create(&mut router, Some("application/json"), b"{nope").status(),
        400
    );
    assert_eq!(
        create(&mut router, Some("application/json"), b"{}").status(),
        422
    );
    assert_eq!(
        create(&mut router, None, br#"{"name":"lamp"}"#).status(),
        415
    );
}

#[test]
fn methods_reach_their_routes_and_others_are_405() {
    let put = call(
        &mut app(),
        request(
            "PUT",
            "/items/3",
            Some("application/json"),
            br#"{"name":"desk"}"#,
        ),
        &ctx("shop"),
    );
    assert_eq!(put.body(), "item 3 is now desk\n");
    let delete = call(
        &mut app(),
        request("DELETE", "/shop/items/3", None, b""),
        &ctx("shop"),
    );
    assert_eq!(delete.status(), 405);
    assert_eq!(delete.headers()["allow"], "GET,HEAD,PUT");
    let head = call(
        &mut app(),
        request("HEAD", "/shop/items/3", None, b""),
        &ctx("shop"),
    );
    assert_eq!(head.status(), 200);
    assert!(head.body().is_empty(), "HEAD has no body");
}

#[test]
fn the_context_is_an_extension_and_bodies_and_headers_arrive_exactly() {
    let ctx = Context::builder()
        .function_name("shop")
        .platform(edgefn::Platform::AwsLambda)
        .build();
    let who = call(&mut app(), request("GET", "/whoami", None, b""), &ctx);
    assert_eq!(who.body(), "shop on aws-lambda\n");

    let every_byte: Vec<u8> = (0..=255u8).collect();
    let req = http::Request::builder()
        .method("PATCH")
        .uri("/shop/echo/a/b%20c?x=1")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body(Bytes::from(every_byte.clone()))
        .unwrap();
    let echoed = call(&mut app(), req, &ctx);
    assert_eq!(echoed.status(), 200, "{:?}", echoed.body());
    assert_eq!(echoed.body().as_ref(), &every_byte[..]);
}

/// A service answering with what `make` returns, after `ready_after` pending polls of
/// `poll_ready` (each waking itself).
struct Scripted<F> {
    ready_after: u32,
    make: F,
}

impl<F, Fut, B> Service<http::Request<Body>> for Scripted<F>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<http::Response<B>, String>>,
{
    type Response = http::Response<B>;
    type Error = String;
    type Future = Fut;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), String>> {
        if self.ready_after == 0 {
            return Poll::Ready(Ok(()));
        }
        self.ready_after -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn call(&mut self, _req: http::Request<Body>) -> Fut {
        (self.make)()
    }
}

fn ok(text: &'static str) -> Result<http::Response<Body>, String> {
    Ok(http::Response::new(Body::new(Bytes::from_static(
        text.as_bytes(),
    ))))
}

#[test]
fn a_service_that_takes_several_polls_is_driven_to_the_end() {
    let mut service = Scripted {
        ready_after: 3,
        make: || async {
            // A cooperative yield inside the handler.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if std::mem::replace(&mut yielded, true) {
                    Poll::Ready(())
                } else {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            ok("done\n")
        },
    };
    let response = call(&mut service, request("GET", "/", None, b""), &ctx("f"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.body(), "done\n");
}

#[test]
fn service_errors_and_stalled_futures_are_a_bare_500() {
    let mut failing = Scripted {
        ready_after: 0,
        make: || async {
            Err::<http::Response<Body>, _>("database password is hunter2".to_owned())
        },
    };
    let response = call(&mut failing, request("GET", "/", None, b""), &ctx("f"));
    assert_eq!(response.status(), 500);
    assert_eq!(response.body(), "500 Internal Server Error\n");

    let mut stalled = Scripted {
        ready_after: 0,
        make: || async {
            std::future::pending::<()>().await;
            ok("never\n")
        },
    };
    let response = call(&mut stalled, request("GET", "/", None, b""), &ctx("f"));
    assert_eq!(
        response.status(),
        500,
        "answered at once, not at the deadline"
    );
}

/// A response body that fails after its first frame.
struct BrokenBody(bool);

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, &'static str>>> {
        if std::mem::replace(&mut self.0, true) {
            Poll::Ready(Some(Err("connection reset")))
        } else {
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(
                b"partial",
            )))))
        }
    }
}

#[test]
fn a_response_body_that_fails_is_a_500_without_the_partial_body() {
    let mut service = Scripted {
        ready_after: 0,
        make: || async { Ok::<_, String>(http::Response::new(BrokenBody(false))) },
    };
    let response = call(&mut service, request("GET", "/", None, b""), &ctx("f"));
    assert_eq!(response.status(), 500);
    assert!(!response.body().starts_with(b"partial"));
}
