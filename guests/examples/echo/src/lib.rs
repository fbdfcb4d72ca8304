//! Echoes the request back: the body byte for byte, and what arrived in `x-echo-*` response headers,
//! so tests can check that nothing was lost or altered on the way in.
use edgefn::http::{HeaderValue, header::HeaderName};
use edgefn::{Context, Request, Response};

/// Returns the request body unchanged, with the method, path, query and every request header
/// (repeats included, in order) reported as response headers.
pub fn handle(req: Request, ctx: &Context) -> Response {
    let mut response = Response::new(req.body().clone());
    let headers = response.headers_mut();
    headers.insert(
        "x-echo-method",
        HeaderValue::from_str(req.method().as_str()).unwrap(),
    );
    headers.insert(
        "x-echo-path",
        HeaderValue::from_str(req.uri().path()).unwrap(),
    );
    if let Some(query) = req.uri().query() {
        headers.insert("x-echo-query", HeaderValue::from_str(query).unwrap());
    }
    headers.insert(
        "x-echo-request-id",
        HeaderValue::from_str(ctx.request_id()).unwrap_or(HeaderValue::from_static("")),
    );
    for (name, value) in req.headers() {
        if let Ok(echoed) = HeaderName::from_bytes(format!("x-echo-h-{name}").as_bytes()) {
            headers.append(echoed, value.clone());
        }
    }
    let content_type = req
        .headers()
        .get("content-type")
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert("content-type", content_type);
    response
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_body_and_repeated_headers() {
        let req = edgefn::http::Request::builder()
            .method("POST")
            .uri("/echo/x?a=1")
            .header("x-k", "1")
            .header("x-k", "2")
            .body(edgefn::Bytes::from_static(b"\x00\x01"))
            .unwrap();
        let response = handle(req, &Context::builder().build());
        assert_eq!(response.body().as_ref(), b"\x00\x01");
        assert_eq!(response.headers()["x-echo-query"], "a=1");
        let repeated: Vec<_> = response.headers().get_all("x-echo-h-x-k").iter().collect();
        assert_eq!(repeated, ["1", "2"]);
    }
}
