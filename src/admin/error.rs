//! The admin API's error answer: a problem+json body whose detail an operator reads (operators
//! are trusted, so the detail is shown; it never holds a secret).

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::http::problem::operator_problem;
use crate::store::StoreError;

/// An admin answer that is not a success. Operators are trusted: the detail is shown.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    detail: String,
}

impl AdminError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> AdminError {
        AdminError {
            status,
            detail: detail.into(),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> AdminError {
        AdminError::new(StatusCode::NOT_FOUND, detail)
    }

    /// The status and the operator's detail (the console shows them as a page).
    pub fn parts(&self) -> (StatusCode, &str) {
        (self.status, &self.detail)
    }
}

impl From<StoreError> for AdminError {
    fn from(error: StoreError) -> AdminError {
        tracing::error!(error = %error, "admin request: store failed");
        AdminError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("error");
        operator_problem(self.status, title, &self.detail, None)
    }
}
