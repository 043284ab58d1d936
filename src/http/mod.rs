//! The HTTP edge: problem+json errors. The public routes live in [`crate::pipeline::stack`].

pub mod problem;
