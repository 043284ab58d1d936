//! The HTTP edge: problem+json errors, and the W3C `traceparent` header read and written
//! ([`traceparent`]). The public routes live in [`crate::pipeline::stack`].

pub mod problem;
pub mod traceparent;
