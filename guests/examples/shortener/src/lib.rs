//! A URL shortener that keeps its links in the key-value store `default`:
//!
//! - `POST /shortener` with a URL as the body → `201 Created` with the short code as the body
//!   (the same code for the same URL, on every platform);
//! - `GET /shortener/<code>` → `302 Found` to the URL, or `404 Not Found`;
//! - `GET /shortener` → `{"codes": [...]}`, every code in order.
//!
//! A function opens only the stores it is granted, so the manifest grants `default`:
//!
//! ```toml
//! [[function]]
//! name = "shortener"
//! wasm = "target/guests/shortener.wasm"
//! kv = { stores = ["default"] }
//! ```
//!
//! On AWS Lambda and Azure Functions that is the variable `EDGEFN_KV_STORES=default`; on
//! Cloudflare Workers a KV namespace bound as `EDGEFN_KV_DEFAULT` (`docs/kv.md`). Paths work
//! with or without the leading `/shortener` (Lambda and Workers leave out the function's name).
use edgefn::kv::{self, ErrorKind, Store};
use edgefn::{Bytes, Context, Method, Request, Response, StatusCode};

/// Where the links are: `links/<code>` → the URL.
const PREFIX: &str = "links/";
/// The shortest code; a longer one only when a shorter one is taken by another URL.
const CODE_LENGTH: usize = 7;
/// The longest URL kept (browsers and servers handle this much everywhere).
const MAX_URL_BYTES: usize = 2048;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The code for `url`: its FNV-1a hash in base 62, `length` characters, so a URL gets the same
/// code on every platform and a second `POST` of it changes nothing.
pub fn code(url: &str, length: usize) -> String {
    let mut hash: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for byte in url.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    (0..length)
        .map(|_| {
            let digit = (hash % 62) as usize;
            hash /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        "text/plain; charset=utf-8".parse().expect("a valid header"),
    );
    response
}

/// A store error as the client sees it: 503 when trying later may help, else 500; the detail
/// goes to the log.
fn store_failed(error: &kv::Error) -> Response {
    eprintln!("shortener: {error}");
    match error.kind() {
        ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the link store is busy: try again\n",
        ),
        _ => text(StatusCode::INTERNAL_SERVER_ERROR, "the link store failed\n"),
    }
}

fn shorten(store: &Store, body: &[u8]) -> kv::Result<Response> {
    let Some(url) = std::str::from_utf8(body).ok().map(str::trim) else {
        return Ok(text(StatusCode::BAD_REQUEST, "the body must be a URL\n"));
    };
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.len() > MAX_URL_BYTES
        || url.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            format!("the body must be an http or https URL of at most {MAX_URL_BYTES} bytes\n"),
        ));
    }
    for length in CODE_LENGTH..=CODE_LENGTH + 8 {
        let code = code(url, length);
        let key = format!("{PREFIX}{code}");
        match store.get(&key)? {
            // Taken by another URL (rare): a longer code.
            Some(existing) if existing != url.as_bytes() => continue,
            Some(_) => {}
            None => store.set(&key, url)?,
        }
        return Ok(text(StatusCode::CREATED, code));
    }
    Ok(text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "no free code for this URL\n",
    ))
}

fn follow(store: &Store, code: &str) -> kv::Result<Response> {
    if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(text(StatusCode::NOT_FOUND, "no such link\n"));
    }
    Ok(match store.get(&format!("{PREFIX}{code}"))? {
        Some(url) => {
            let mut response = text(StatusCode::FOUND, Bytes::new());
            match url.try_into() {
                Ok(location) => {
                    response.headers_mut().insert("location", location);
                }
                Err(_) => return Ok(text(StatusCode::INTERNAL_SERVER_ERROR, "a bad link\n")),
            }
            response
        }
        None => text(StatusCode::NOT_FOUND, "no such link\n"),
    })
}

fn codes(store: &Store) -> kv::Result<Response> {
    let codes = store
        .list(PREFIX)
        .map(|key| key.map(|key| key[PREFIX.len()..].to_owned()))
        .collect::<kv::Result<Vec<_>>>()?;
    let mut response = Response::new(serde_json::json!({ "codes": codes }).to_string().into());
    response.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("a valid header"),
    );
    Ok(response)
}

/// Serves the routes above.
pub fn handle(req: Request, ctx: &Context) -> Response {
    let path = req.uri().path().trim_matches('/');
    let path = match path.strip_prefix(ctx.function_name()) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.trim_start_matches('/'),
        _ => path,
    };
    let store = match Store::open("default") {
        Ok(store) => store,
        Err(error) => return store_failed(&error),
    };
    let answer = match (req.method(), path) {
        (&Method::POST, "") => shorten(&store, req.body()),
        (&Method::GET, "") => codes(&store),
        (&Method::GET, code) if !code.contains('/') => follow(&store, code),
        (&Method::GET | &Method::POST, _) => Ok(text(StatusCode::NOT_FOUND, "no such link\n")),
        _ => Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "use POST to shorten, GET to follow or list\n",
        )),
    };
    answer.unwrap_or_else(|error| store_failed(&error))
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;
    use edgefn::kv::testing::{self, Memory};

    fn serve(method: &str, path: &str, body: &'static str) -> Response {
        let req = edgefn::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Bytes::from_static(body.as_bytes()))
            .unwrap();
        handle(req, &Context::builder().function_name("shortener").build())
    }

    #[test]
    fn a_link_is_shortened_followed_and_listed() {
        let memory = Memory::new().grant("default");
        testing::with_memory(&memory, || {
            let created = serve("POST", "/shortener", "https://example.com/a?b=c\n");
            assert_eq!(created.status(), 201);
            let code = String::from_utf8(created.body().to_vec()).unwrap();
            assert_eq!(code, super::code("https://example.com/a?b=c", 7));
            let again = serve("POST", "/shortener", "https://example.com/a?b=c");
            assert_eq!(again.body(), code.as_str(), "the same URL, the same code");
            let follow = serve("GET", &format!("/shortener/{code}"), "");
            assert_eq!(follow.status(), 302);
            assert_eq!(follow.headers()["location"], "https://example.com/a?b=c");
            assert_eq!(serve("GET", &format!("/{code}"), "").status(), 302);
            let list = serve("GET", "/shortener", "");
            assert_eq!(list.body(), format!(r#"{{"codes":["{code}"]}}"#).as_str());
            assert_eq!(serve("GET", "/shortener/nope", "").status(), 404);
            assert_eq!(serve("POST", "/shortener", "not a url").status(), 400);
        });
    }

    #[test]
    fn a_code_taken_by_another_url_gives_a_longer_one() {
        let memory = Memory::new().grant("default");
        testing::with_memory(&memory, || {
            let url = "https://example.com/x";
            let taken = format!("{PREFIX}{}", code(url, 7));
            Store::open("default")
                .unwrap()
                .set(&taken, "https://other.example/")
                .unwrap();
            let created = serve("POST", "/shortener", url);
            assert_eq!(created.body(), code(url, 8).as_str());
        });
    }

    #[test]
    fn without_the_grant_the_client_gets_a_500_and_the_log_the_reason() {
        testing::with_memory(&Memory::new(), || {
            assert_eq!(serve("GET", "/shortener", "").status(), 500);
        });
    }
}
