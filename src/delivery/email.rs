//! Placeholder replaced by the e-mail destination.
use super::{Destination, Outcome};
use crate::store::StoredEvent;
pub struct EmailDestination;
impl EmailDestination {
    pub fn new(_config: &crate::config::EmailDestination) -> Result<EmailDestination, String> {
        Err("email destinations are not supported by this build yet".into())
    }
}
#[async_trait::async_trait]
impl Destination for EmailDestination {
    fn name(&self) -> &str {
        "email"
    }
    async fn deliver(&self, _event: &StoredEvent) -> Outcome {
        Outcome::Dead {
            error: "unsupported".into(),
        }
    }
}
