//! A small router: several routes inside one function, with path parameters and the 404 and 405
//! answers a client expects.

use crate::request::PathParams;
use crate::response::{IntoResponse, status_text};
use crate::{Context, Handler, Request, Response};
use http::{HeaderValue, Method, StatusCode, header};
use std::fmt;

/// Routes requests to handlers by method and path pattern. A router is itself a [`Handler`], so it
/// is exported like one.
///
/// Patterns are paths whose segments are literals, `:name` (one segment, captured) or a final
/// `*name` (the rest of the path, captured, possibly empty). Handlers have the usual shape and read
/// what was captured with [`RequestExt::param`](crate::RequestExt::param). Routes are tried in the
/// order they were added, and the first match wins, so add `/items/new` before `/items/:id`.
///
/// A path that matches no pattern answers `404 Not Found` (or the [`fallback`](Router::fallback));
/// a path that matches only with other methods answers `405 Method Not Allowed` with an `Allow`
/// header. `HEAD` is served by the `GET` route when there is no `HEAD` route. A trailing `/` is
/// ignored.
///
/// The same module sees different paths on different platforms: on the local host and on Azure a
/// function named `shop` is reached at `/shop/items/7`, on Lambda and Workers at `/items/7`. So when
/// no pattern matches the whole path, the router also tries it without a leading
/// `/<function name>` segment: `/items/:id` serves both.
///
/// ```
/// use edgefn::{Context, HttpError, Json, Request, RequestExt, Router};
///
/// fn app() -> Router {
///     Router::new()
///         .get("/items", |_req: Request, _ctx: &Context| "all items\n")
///         .get("/items/:id", show)
///         .post("/items", create)
/// }
///
/// fn show(req: Request, _ctx: &Context) -> String {
///     format!("item {}\n", req.param("id").unwrap_or_default())
/// }
///
/// #[derive(serde::Deserialize, serde::Serialize)]
/// struct Item { name: String }
///
/// fn create(req: Request, _ctx: &Context) -> Result<Json<Item>, HttpError> {
///     let item: Item = req.json()?; // 400 with the reason on bad JSON
///     Ok(Json(item))
/// }
///
/// edgefn::export!(app());
/// ```
///
/// # Panics
///
/// Adding a route panics when its pattern is malformed (not starting with `/`, an empty `:` or `*`
/// name, or `*` before the last segment), so the mistake shows in the first unit test.
pub struct Router {
    routes: Vec<Route>,
    fallback: Option<Box<dyn Handler>>,
}

struct Route {
    method: Method,
    pattern: Pattern,
    handler: Box<dyn Handler>,
}

struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

enum Segment {
    Literal(String),
    Param(String),
    Rest(String),
}

/// What matching a path against the routes found.
enum Found {
    Route(usize, PathParams),
    /// The path matches, but only for these methods.
    OtherMethods(Vec<Method>),
    Nothing,
}

impl Pattern {
    fn parse(source: &str) -> Pattern {
        assert!(
            source.starts_with('/'),
            "edgefn::Router: pattern {source:?} must start with '/'"
        );
        let parts: Vec<&str> = split_path(source).collect();
        let segments = parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                if let Some(name) = part.strip_prefix(':') {
                    assert!(
                        !name.is_empty(),
                        "edgefn::Router: pattern {source:?} has a ':' without a name"
                    );
                    Segment::Param(name.to_owned())
                } else if let Some(name) = part.strip_prefix('*') {
                    assert!(
                        !name.is_empty() && i + 1 == parts.len(),
                        "edgefn::Router: pattern {source:?}: '*name' must be named and be the last segment"
                    );
                    Segment::Rest(name.to_owned())
                } else {
                    Segment::Literal(part.to_string())
                }
            })
            .collect();
        Pattern {
            source: source.to_owned(),
            segments,
        }
    }

    /// The captured parameters when `path` matches.
    fn matches(&self, path: &str) -> Option<PathParams> {
        let mut params = PathParams::default();
        let mut parts = split_path(path);
        for segment in &self.segments {
            match segment {
                Segment::Literal(literal) => {
                    if decode(parts.next()?) != *literal {
                        return None;
                    }
                }
                Segment::Param(name) => params.push(name, decode(parts.next()?)),
                Segment::Rest(name) => {
                    let rest: Vec<String> = parts.by_ref().map(decode).collect();
                    params.push(name, rest.join("/"));
                }
            }
        }
        parts.next().is_none().then_some(params)
    }
}

/// The non-empty segments of a path, so `/a/b/` and `/a/b` match alike.
fn split_path(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

impl Router {
    /// A router with no routes: everything answers 404 until routes are added.
    pub fn new() -> Router {
        Router {
            routes: Vec::new(),
            fallback: None,
        }
    }

    /// Routes `method` requests whose path matches `pattern` to `handler`.
    pub fn route(mut self, method: Method, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.routes.push(Route {
            method,
            pattern: Pattern::parse(pattern),
            handler: Box::new(handler),
        });
        self
    }

    /// Routes `GET` (and `HEAD`, unless it has its own route) requests matching `pattern`.
    pub fn get(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.route(Method::GET, pattern, handler)
    }

    /// Routes `POST` requests matching `pattern`.
    pub fn post(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.route(Method::POST, pattern, handler)
    }

    /// Routes `PUT` requests matching `pattern`.
    pub fn put(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.route(Method::PUT, pattern, handler)
    }

    /// Routes `PATCH` requests matching `pattern`.
    pub fn patch(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.route(Method::PATCH, pattern, handler)
    }

    /// Routes `DELETE` requests matching `pattern`.
    pub fn delete(self, pattern: &str, handler: impl Handler + 'static) -> Self {
        self.route(Method::DELETE, pattern, handler)
    }

    /// Serves requests whose path matches no route (instead of the default `404 Not Found`).
    pub fn fallback(mut self, handler: impl Handler + 'static) -> Self {
        self.fallback = Some(Box::new(handler));
        self
    }

    fn find(&self, method: &Method, path: &str) -> Found {
        let mut allowed: Vec<Method> = Vec::new();
        let mut get_route = None;
        for (index, route) in self.routes.iter().enumerate() {
            let Some(params) = route.pattern.matches(path) else {
                continue;
            };
            if route.method == *method {
                return Found::Route(index, params);
            }
            if *method == Method::HEAD && route.method == Method::GET && get_route.is_none() {
                get_route = Some((index, params));
            }
            if !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
        }
        match get_route {
            Some((index, params)) => Found::Route(index, params),
            None if allowed.is_empty() => Found::Nothing,
            None => Found::OtherMethods(allowed),
        }
    }

    /// The path without a leading `/<function name>` segment, if it has one.
    fn below_function<'p>(path: &'p str, function: &str) -> Option<&'p str> {
        if function.is_empty() {
            return None;
        }
        let rest = path.strip_prefix('/')?.strip_prefix(function)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }
}

impl Default for Router {
    fn default() -> Self {
        Router::new()
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.routes
                    .iter()
                    .map(|r| format!("{} {}", r.method, r.pattern.source)),
            )
            .finish()
    }
}

impl Handler for Router {
    fn call(&self, mut req: Request, ctx: &Context) -> Response {
        let path = req.uri().path().to_owned();
        let mut found = self.find(req.method(), &path);
        if !matches!(found, Found::Route(..))
            && let Some(rest) = Router::below_function(&path, ctx.function_name())
        {
            match (self.find(req.method(), rest), found) {
                (Found::Nothing, earlier) => found = earlier,
                (Found::OtherMethods(mut more), Found::OtherMethods(mut allowed)) => {
                    more.retain(|m| !allowed.contains(m));
                    allowed.extend(more);
                    found = Found::OtherMethods(allowed);
                }
                (better, _) => found = better,
            }
        }
        match found {
            Found::Route(index, params) => {
                req.extensions_mut().insert(params);
                self.routes[index].handler.call(req, ctx)
            }
            Found::OtherMethods(allowed) => {
                let mut response = status_text(StatusCode::METHOD_NOT_ALLOWED);
                let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                if let Ok(value) = HeaderValue::from_str(&allow.join(", ")) {
                    response.headers_mut().insert(header::ALLOW, value);
                }
                response
            }
            Found::Nothing => match &self.fallback {
                Some(fallback) => fallback.call(req, ctx),
                None => StatusCode::NOT_FOUND.into_response(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HttpError, Json, RequestExt};
    use bytes::Bytes;

    fn call(router: &Router, method: &str, uri: &str, body: &'static str) -> Response {
        let req = http::Request::builder()
            .method(method)
            .uri(uri)
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap();
        let ctx = Context::builder().function_name("shop").build();
        router.call(req, &ctx)
    }

    fn text(response: &Response) -> String {
        String::from_utf8(response.body().to_vec()).unwrap()
    }

    fn show(req: Request, _: &Context) -> String {
        format!("item {}", req.param("id").unwrap())
    }

    #[derive(serde::Deserialize, serde::Serialize)]
    struct Item {
        name: String,
    }

    fn create(req: Request, _: &Context) -> Result<(StatusCode, Json<Item>), HttpError> {
        Ok((StatusCode::CREATED, Json(req.json::<Item>()?)))
    }

    fn app() -> Router {
        Router::new()
            .get("/items", |_: Request, _: &Context| "all")
            .get("/items/new", |_: Request, _: &Context| "form")
            .get("/items/:id", show)
            .post("/items", create)
            .delete("/items/:id", |req: Request, _: &Context| {
                format!("deleted {}", req.param("id").unwrap())
            })
            .get("/files/*path", |req: Request, _: &Context| {
                format!("file [{}]", req.param("path").unwrap())
            })
            .get("/", |_: Request, _: &Context| "root")
    }

    #[test]
    fn routes_by_method_and_path_with_params() {
        let app = app();
        assert_eq!(text(&call(&app, "GET", "/items", "")), "all");
        assert_eq!(text(&call(&app, "GET", "/items/", "")), "all");
        assert_eq!(
            text(&call(&app, "GET", "/items/new", "")),
            "form",
            "first match wins"
        );
        assert_eq!(text(&call(&app, "GET", "/items/42?x=1", "")), "item 42");
        assert_eq!(text(&call(&app, "GET", "/items/a%20b", "")), "item a b");
        assert_eq!(text(&call(&app, "DELETE", "/items/9", "")), "deleted 9");
        assert_eq!(
            text(&call(&app, "GET", "/files/a/b/c.txt", "")),
            "file [a/b/c.txt]"
        );
        assert_eq!(text(&call(&app, "GET", "/files", "")), "file []");
        assert_eq!(text(&call(&app, "GET", "/", "")), "root");
        assert_eq!(text(&call(&app, "HEAD", "/items/3", "")), "item 3");
    }

    #[test]
    fn the_function_name_prefix_is_optional() {
        let app = app();
        assert_eq!(text(&call(&app, "GET", "/shop/items/42", "")), "item 42");
        assert_eq!(text(&call(&app, "GET", "/shop", "")), "root");
        assert_eq!(text(&call(&app, "GET", "/shop/", "")), "root");
        assert_eq!(call(&app, "GET", "/shopping", "").status(), 404);
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        let app = app();
        let missing = call(&app, "GET", "/nothing/here", "");
        assert_eq!(missing.status(), 404);
        assert_eq!(text(&missing), "404 Not Found\n");
        let wrong = call(&app, "PUT", "/items/7", "");
        assert_eq!(wrong.status(), 405);
        assert_eq!(wrong.headers()["allow"], "GET, DELETE");
        let wrong_below = call(&app, "PUT", "/shop/items", "");
        assert_eq!(wrong_below.status(), 405);
        assert_eq!(wrong_below.headers()["allow"], "GET, POST");
    }

    #[test]
    fn json_bodies_parse_or_answer_400() {
        let app = app();
        let created = call(&app, "POST", "/items", r#"{"name":"lamp"}"#);
        assert_eq!(created.status(), 201);
        assert_eq!(text(&created), r#"{"name":"lamp"}"#);
        let bad = call(&app, "POST", "/items", "{");
        assert_eq!(bad.status(), 400);
        assert!(text(&bad).starts_with("400 Bad Request: invalid JSON body"));
    }

    #[test]
    fn fallback_replaces_the_404() {
        let app = Router::new()
            .get("/a", |_: Request, _: &Context| "a")
            .fallback(|req: Request, _: &Context| format!("fallback {}", req.uri().path()));
        assert_eq!(text(&call(&app, "GET", "/b", "")), "fallback /b");
        assert_eq!(
            call(&app, "POST", "/a", "").status(),
            405,
            "405 wins over the fallback"
        );
    }

    #[test]
    fn debug_lists_the_routes() {
        let app = Router::new().get("/a/:id", |_: Request, _: &Context| "");
        assert_eq!(format!("{app:?}"), r#"["GET /a/:id"]"#);
    }

    #[test]
    #[should_panic(expected = "must be named and be the last segment")]
    fn rest_must_be_last() {
        let _ = Router::new().get("/a/*rest/b", |_: Request, _: &Context| "");
    }

    #[test]
    #[should_panic(expected = "must start with '/'")]
    fn patterns_start_with_a_slash() {
        let _ = Router::new().get("items", |_: Request, _: &Context| "");
    }
}
