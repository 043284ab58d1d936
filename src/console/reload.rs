//! `POST /ui/reload` (admin): reloads the configuration file, as SIGHUP and
//! `POST /admin/reload` do, through [`crate::live::Live::reload_audited`] (audited either way).
//! It lets a person who fixed a secret in the file retest a kept refusal without a shell: the
//! form may name the refusal to come back to.

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Form};
use http::StatusCode;
use maud::html;
use serde::Deserialize;
use uuid::Uuid;

use super::session::Session;
use super::state::Console;
use super::{guard, layout};

#[derive(Debug, Default, Deserialize)]
pub(super) struct ReloadForm {
    /// A refusal id to come back to; anything else comes back to the overview.
    #[serde(default)]
    back: String,
}

/// `POST /ui/reload`
pub(super) async fn reload(
    State(console): State<Arc<Console>>,
    Extension(session): Extension<Session>,
    Form(form): Form<ReloadForm>,
) -> Response {
    if let Some(refused) = guard::refused_unless_admin(&session) {
        return refused;
    }
    let actor = &session.actor;
    match console
        .live
        .reload_audited(&actor.name, actor.client_ip)
        .await
    {
        Ok(reloaded) => {
            let back = match Uuid::from_str(form.back.trim()) {
                Ok(refusal) => format!("/ui/refusals/{refusal}?reloaded=1"),
                Err(_) => "/ui/?reloaded=1".to_owned(),
            };
            if reloaded.warnings.is_empty() && reloaded.restart_needed.is_empty() {
                return layout::see_other_to(back);
            }
            // Warnings and restart-only keys are worth reading before going on.
            let content = html! {
                h1 { "Configuration reloaded" }
                @if !reloaded.warnings.is_empty() {
                    h2 { "Warnings" }
                    ul { @for warning in &reloaded.warnings { li { (warning) } } }
                }
                @if !reloaded.restart_needed.is_empty() {
                    h2 { "Changed, but only a restart applies them" }
                    ul { @for key in &reloaded.restart_needed { li.mono { (key) } } }
                }
                p { a href=(back) { "Go on" } }
            };
            layout::page(&session, "Reloaded", "/ui/", content)
        }
        Err(errors) => {
            let content = html! {
                h1 { "Configuration refused" }
                p.notice.bad role="alert" { "The file is invalid; the running configuration stays." }
                ul id="reload-errors" { @for error in &errors { li { (error) } } }
            };
            let mut response = layout::page(&session, "Reload refused", "/ui/", content);
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            response
        }
    }
}
