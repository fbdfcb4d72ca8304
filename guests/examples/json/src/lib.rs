//! JSON in, JSON out: reads `{"name": ..., "count": ...}` and answers a greeting object.
use edgefn::{Context, IntoResponse, Json, Request, StatusCode};
use serde::{Deserialize, Serialize};

/// What the function accepts.
#[derive(Deserialize)]
pub struct Greet {
    /// Who to greet.
    pub name: String,
    /// How many times.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

/// What the function answers.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
pub struct Greeting {
    /// The greeting.
    pub message: String,
    /// Characters in `message`.
    pub length: usize,
}

/// Parses the body; a body that is not the expected JSON gets a 400 that says what was wrong.
pub fn handle(req: Request, _ctx: &Context) -> edgefn::Response {
    match serde_json::from_slice::<Greet>(req.body()) {
        Ok(greet) => {
            let message =
                vec![format!("Hello, {}!", greet.name); greet.count.min(100) as usize].join(" ");
            let length = message.chars().count();
            Json(Greeting { message, length }).into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": format!("invalid JSON body: {error}") })),
        )
            .into_response(),
    }
}

edgefn::export!(handle);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_is_400() {
        let response = handle(Request::new("{nope".into()), &Context::builder().build());
        assert_eq!(response.status(), 400);
    }
}
