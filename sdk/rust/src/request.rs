//! Reading a request: query parameters, path parameters set by the [`Router`](crate::Router), and
//! JSON or text bodies, with errors that answer the client with a 4xx.

use crate::Request;
use crate::response::{IntoResponse, with_type};
use http::StatusCode;
use serde::de::DeserializeOwned;

/// An error meant for the client: its status and message are the response (`400 Bad Request:
/// invalid JSON body: ...`). Return it in `Err` from a handler, or get one from the
/// [`RequestExt`] helpers.
///
/// Other errors a handler returns are internal: they are logged and the client gets a bare 500.
///
/// ```
/// use edgefn::{Context, HttpError, Request, RequestExt};
///
/// fn handle(req: Request, _ctx: &Context) -> Result<String, HttpError> {
///     let id: u32 = req
///         .query("id")
///         .ok_or_else(|| HttpError::bad_request("give ?id=N"))?
///         .parse()
///         .map_err(|_| HttpError::bad_request("id must be a number"))?;
///     Ok(format!("item {id}\n"))
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    /// An error with this status and a message the client will read.
    pub fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    /// `400 Bad Request` with a message.
    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    /// `404 Not Found` with a message.
    pub fn not_found(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::NOT_FOUND, message)
    }

    /// The response status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message the client reads.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> crate::Response {
        let reason = self.status.canonical_reason().unwrap_or("");
        let mut response = with_type(
            format!("{} {reason}: {}\n", self.status.as_u16(), self.message),
            "text/plain; charset=utf-8",
        );
        *response.status_mut() = self.status;
        response
    }
}

/// Path parameters captured by the [`Router`](crate::Router) (`:id` in `/items/:id`), stored in the
/// request's extensions and read with [`RequestExt::param`]. Values are percent-decoded.
///
/// To unit-test a handler that reads parameters without going through a router, add them yourself:
///
/// ```
/// use edgefn::{PathParams, Request, RequestExt};
///
/// let req: Request = edgefn::http::Request::builder()
///     .uri("/items/7")
///     .extension(PathParams::from_iter([("id", "7")]))
///     .body(Default::default())
///     .unwrap();
/// assert_eq!(req.param("id"), Some("7"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams(Vec<(String, String)>);

impl PathParams {
    /// The value captured for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// All captured parameters, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn push(&mut self, name: &str, value: String) {
        self.0.push((name.to_owned(), value));
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for PathParams {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        PathParams(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// Helpers on [`Request`]: `use edgefn::RequestExt;` to call them.
pub trait RequestExt {
    /// Every query parameter in order, decoded (`%20` and `+` become spaces); repeats included.
    fn query_pairs(&self) -> Vec<(String, String)>;

    /// The first value of query parameter `name`, decoded; `None` when absent. `?flag` gives
    /// `Some("")`.
    fn query(&self, name: &str) -> Option<String>;

    /// Every value of query parameter `name`, decoded, in order (`?tag=a&tag=b`).
    fn query_all(&self, name: &str) -> Vec<String>;

    /// The path parameter `name` captured by the [`Router`](crate::Router) (`:name` or `*name` in
    /// the route's pattern); `None` outside a router or for a name the pattern does not have.
    fn param(&self, name: &str) -> Option<&str>;

    /// Parses the body as JSON into `T`. A body that is empty or not the expected JSON is an
    /// [`HttpError`] that answers 400 and says what was wrong (`?` returns it from a handler that
    /// returns `Result<_, HttpError>`).
    fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError>;

    /// The body as UTF-8 text; a 400 [`HttpError`] when it is not UTF-8.
    fn text(&self) -> Result<&str, HttpError>;
}

impl RequestExt for Request {
    fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.uri().query().unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn query(&self, name: &str) -> Option<String> {
        let query = self.uri().query()?;
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn query_all(&self, name: &str) -> Vec<String> {
        let query = self.uri().query().unwrap_or("");
        form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .collect()
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.extensions().get::<PathParams>()?.get(name)
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, HttpError> {
        if self.body().is_empty() {
            return Err(HttpError::bad_request("expected a JSON body, got none"));
        }
        serde_json::from_slice(self.body())
            .map_err(|error| HttpError::bad_request(format!("invalid JSON body: {error}")))
    }

    fn text(&self) -> Result<&str, HttpError> {
        std::str::from_utf8(self.body())
            .map_err(|_| HttpError::bad_request("the body is not UTF-8 text"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn request(uri: &str, body: &'static [u8]) -> Request {
        http::Request::builder()
            .uri(uri)
            .body(Bytes::from_static(body))
            .unwrap()
    }

    #[test]
    fn query_helpers_decode_and_keep_order() {
        let req = request("/p?name=J%C3%BCrgen+S&tag=a&tag=b&flag&empty=", b"");
        assert_eq!(req.query("name").as_deref(), Some("Jürgen S"));
        assert_eq!(req.query_all("tag"), ["a", "b"]);
        assert_eq!(req.query("flag").as_deref(), Some(""));
        assert_eq!(req.query("empty").as_deref(), Some(""));
        assert_eq!(req.query("missing"), None);
        assert_eq!(
            req.query_pairs(),
            [
                ("name", "Jürgen S"),
                ("tag", "a"),
                ("tag", "b"),
                ("flag", ""),
                ("empty", "")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        let bare = request("/p", b"");
        assert_eq!(bare.query("name"), None);
        assert!(bare.query_pairs().is_empty());
        assert!(bare.query_all("tag").is_empty());
    }

    #[test]
    fn json_parses_or_answers_400_saying_why() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Item {
            name: String,
        }
        let ok: Item = request("/", br#"{"name":"x"}"#).json().unwrap();
        assert_eq!(ok, Item { name: "x".into() });

        let bad = request("/", b"{nope").json::<Item>().unwrap_err();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert!(bad.message().starts_with("invalid JSON body: "), "{bad:?}");
        let response = bad.into_response();
        assert_eq!(response.status(), 400);
        let body = String::from_utf8(response.body().to_vec()).unwrap();
        assert!(
            body.starts_with("400 Bad Request: invalid JSON body: "),
            "{body}"
        );

        let wrong_shape = request("/", br#"{"nom":"x"}"#).json::<Item>().unwrap_err();
        assert!(wrong_shape.message().contains("missing field `name`"));
        let empty = request("/", b"").json::<Item>().unwrap_err();
        assert_eq!(empty.message(), "expected a JSON body, got none");
    }

    #[test]
    fn text_requires_utf8() {
        assert_eq!(request("/", "héllo".as_bytes()).text().unwrap(), "héllo");
        assert_eq!(
            request("/", b"\xff").text().unwrap_err().status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn params_come_from_the_extension() {
        let mut req = request("/items/7", b"");
        assert_eq!(req.param("id"), None);
        req.extensions_mut()
            .insert(PathParams::from_iter([("id", "7")]));
        assert_eq!(req.param("id"), Some("7"));
        assert_eq!(req.param("other"), None);
    }
}
