//! An edgefn function written with axum: a `Router`, compiled to `wasm32-wasip1`. The same module
//! runs on the edgefn host, AWS Lambda, Azure Functions and Cloudflare Workers; no tokio, no
//! server: `edgefn_tower` runs the router inside each invocation.
//!
//! `cargo test` calls the router natively; `edgefn build` makes the module;
//! `edgefn serve --watch .` serves it and reloads it whenever a file changes.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Path};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

/// The function's routes. Write them without the function's name: on the local host and on Azure
/// the function is reached at `/NAME/hello/edge`, on Lambda and Workers at `/hello/edge`, and
/// both reach `/hello/{name}`.
pub fn app() -> Router {
    Router::new()
        .route("/hello/{name}", get(hello))
        .route("/greet", post(greet))
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
    // A log line, tagged with the function and request id; never part of the response.
    println!("greeting {name}");
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

/// `POST /greet`: JSON in, JSON out. A body that is not the expected JSON is answered with
/// axum's status for it (400 for bad JSON, 422 for the wrong fields, 415 without a JSON
/// `content-type`) and the reason, as JSON.
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

// `preinit` builds the router once, at deploy, and starts every instance with it built, which
// takes about a quarter off each fresh request. `app` runs with no configuration then, so read
// variables in the handlers (`ctx.var("NAME")`), or export with `edgefn_tower::export!(app)` to
// build the router in each instance instead. Other shared setup (tables, parsed data) can go in
// `edgefn_tower::export!(app, preinit, init = setup)`.
edgefn_tower::export!(app, preinit);

#[cfg(test)]
mod tests {
    use super::*;

    /// One request through the router, as the module serves it.
    fn call(method: &str, uri: &str, content_type: Option<&str>, body: &str) -> edgefn::Response {
        let mut req = axum::http::Request::builder().method(method).uri(uri);
        if let Some(content_type) = content_type {
            req = req.header("content-type", content_type);
        }
        let req = req.body(edgefn::Bytes::from(body.to_owned())).unwrap();
        let ctx = edgefn::Context::builder().function_name("greet").build();
        edgefn_tower::call(&mut app(), req, &ctx)
    }

    fn json(response: &edgefn::Response) -> serde_json::Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn hello_takes_the_name_from_the_path() {
        let response = call("GET", "/greet/hello/edge", None, "");
        assert_eq!(response.status(), 200);
        assert_eq!(
            json(&response)["message"],
            "Hello, edge, from greet on local!"
        );
    }

    #[test]
    fn greet_answers_json_and_bad_json_is_a_400() {
        let ok = call(
            "POST",
            "/greet",
            Some("application/json"),
            r#"{"name":"Ada","count":2}"#,
        );
        assert_eq!(ok.status(), 200);
        assert_eq!(json(&ok)["message"], "Hello, Ada! Hello, Ada!");
        let bad = call("POST", "/greet", Some("application/json"), "{nope");
        assert_eq!(bad.status(), 400);
        assert!(json(&bad)["error"].as_str().unwrap().contains("JSON"));
        assert_eq!(call("POST", "/greet", None, "{}").status(), 415);
    }
}
