//! An axum `Router` as an edgefn function, through `edgefn_tower`: the two routes
//! `edgefn new --template axum` generates (a path parameter, JSON in and out), plus what the
//! cross-platform tests compare with the SDK's own `echo` and `panic` guests: every other path is
//! echoed back, and `/panic` panics.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The routes, written without the function's name (`/axum/hello/edge` on the local host and on
/// Azure, `/hello/edge` on Lambda and Workers, both reach `/hello/{name}`).
pub fn app() -> Router {
    Router::new()
        .route("/hello/{name}", get(hello))
        .route("/greet", post(greet))
        .route("/panic", get(panics))
        .fallback(echo)
}

/// A greeting.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Greeting {
    /// What to say.
    pub message: String,
}

/// `GET /hello/{name}`: a path parameter in, JSON out.
async fn hello(
    Path(name): Path<String>,
    Extension(ctx): Extension<edgefn::Context>,
) -> Json<Greeting> {
    Json(Greeting {
        message: format!(
            "Hello, {name}, from {} on {}!",
            ctx.function_name(),
            ctx.platform()
        ),
    })
}

/// What `POST /greet` accepts.
#[derive(Deserialize)]
pub struct Greet {
    /// Who to greet.
    pub name: String,
    /// How many times (1 when left out, at most 100).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// `POST /greet`: JSON in, JSON out; a body that is not the expected JSON gets axum's status for
/// it (400 bad JSON, 422 wrong fields, 415 no JSON `content-type`) and the reason, as JSON.
async fn greet(
    body: Result<Json<Greet>, JsonRejection>,
) -> Result<Json<Greeting>, (StatusCode, Json<serde_json::Value>)> {
    let Json(greet) = body.map_err(|rejection| {
        let error = serde_json::json!({ "error": rejection.body_text() });
        (rejection.status(), Json(error))
    })?;
    let message = vec![format!("Hello, {}!", greet.name); greet.count.clamp(1, 100) as usize];
    Ok(Json(Greeting {
        message: message.join(" "),
    }))
}

/// `GET /panic`: the platform answers 500 and logs the message, as for any guest that panics.
async fn panics() -> &'static str {
    panic!("this route panics on purpose (secret detail that must not reach the client)")
}

/// Anything else: the body byte for byte, and the method, path, query and every request header
/// (repeats included, in order) as `x-echo-*` response headers, like the SDK's `echo` example.
async fn echo(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Extension(ctx): Extension<edgefn::Context>,
    body: Bytes,
) -> impl IntoResponse {
    let mut echoed = HeaderMap::new();
    let text = |s: &str| HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""));
    echoed.insert("x-echo-method", text(method.as_str()));
    echoed.insert("x-echo-path", text(uri.path()));
    if let Some(query) = uri.query() {
        echoed.insert("x-echo-query", text(query));
    }
    echoed.insert("x-echo-request-id", text(ctx.request_id()));
    for (name, value) in &headers {
        if let Ok(name) = HeaderName::from_bytes(format!("x-echo-h-{name}").as_bytes()) {
            echoed.append(name, value.clone());
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    echoed.insert(header::CONTENT_TYPE, content_type);
    (echoed, body)
}

// The router is built once at deploy (`preinit`); `app` reads no configuration, as that asks.
edgefn_tower::export!(app, preinit);

#[cfg(test)]
mod tests {
    use super::*;

    /// One request through the router, as the module serves it, for a function named `axum`.
    fn call(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> edgefn::Response {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(edgefn::Bytes::copy_from_slice(body)).unwrap();
        let ctx = edgefn::Context::builder().function_name("axum").build();
        edgefn_tower::call(&mut app(), req, &ctx)
    }

    fn json(response: &edgefn::Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn hello_reads_the_path_parameter_with_or_without_the_function_name() {
        for uri in ["/axum/hello/edge", "/hello/edge"] {
            let response = call("GET", uri, &[], b"");
            assert_eq!(response.status(), 200, "{uri}");
            assert_eq!(
                json(&response)["message"],
                "Hello, edge, from axum on local!"
            );
        }
        let encoded = call("GET", "/axum/hello/a%20b", &[], b"");
        assert_eq!(json(&encoded)["message"], "Hello, a b, from axum on local!");
    }

    #[test]
    fn greet_answers_json_and_rejects_what_is_not_the_expected_json() {
        let json_type = [("content-type", "application/json")];
        let ok = call(
            "POST",
            "/axum/greet",
            &json_type,
            br#"{"name":"Ada","count":2}"#,
        );
        assert_eq!(ok.status(), 200);
        assert_eq!(ok.headers()["content-type"], "application/json");
        assert_eq!(json(&ok)["message"], "Hello, Ada! Hello, Ada!");
        for (body, status) in [(&b"{nope"[..], 400), (b"{}", 422), (b"[1]", 422)] {
            let rejected = call("POST", "/axum/greet", &json_type, body);
            assert_eq!(rejected.status(), status);
            assert!(json(&rejected)["error"].is_string());
        }
        assert_eq!(call("POST", "/axum/greet", &[], b"{}").status(), 415);
        let wrong_method = call("GET", "/axum/greet", &[], b"");
        assert_eq!(wrong_method.status(), 405);
        assert_eq!(wrong_method.headers()["allow"], "POST");
    }

    #[test]
    fn everything_else_is_echoed_byte_for_byte() {
        let every_byte: Vec<u8> = (0..=255).collect();
        let response = call(
            "DELETE",
            "/axum/x/y?a=1&a=2",
            &[("x-k", "1"), ("x-k", "2")],
            &every_byte,
        );
        assert_eq!(response.status(), 200);
        assert_eq!(response.body().as_ref(), &every_byte[..]);
        assert_eq!(response.headers()["x-echo-method"], "DELETE");
        assert_eq!(response.headers()["x-echo-path"], "/x/y");
        assert_eq!(response.headers()["x-echo-query"], "a=1&a=2");
        let repeated: Vec<_> = response.headers().get_all("x-echo-h-x-k").iter().collect();
        assert_eq!(repeated, ["1", "2"]);
    }
}
