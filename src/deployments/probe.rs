//! On-demand checks of deployments (the proxy's `/health`): one tiny real request each.

use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::Deployment;
use crate::error::{Error, Kind, Result};
use crate::Request;

/// The longest a check waits for its deployment.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

impl Deployment {
    /// Sends the deployment one minimal request on its own client (no routing, no retries
    /// elsewhere): an embedding of "ping" for embedding models, else a one-token chat.
    ///
    /// # Errors
    /// What the deployment answered, or a timeout.
    pub async fn probe(&self) -> Result<()> {
        let embeds = self.model.contains("embed");
        let body = if embeds {
            json!({"model": self.model, "input": "ping"})
        } else {
            json!({"model": self.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1})
        };
        let request = Request {
            body: Bytes::from(body.to_string()),
            model: self.model.clone(),
            headers: self.headers.clone(),
            total_timeout: Some(PROBE_TIMEOUT),
            ..Request::default()
        };
        let answered = if embeds {
            self.client.embeddings(request).await.map(drop)
        } else {
            self.client.chat(request).await.map(drop)
        };
        answered.map_err(|e| match e.kind() {
            Kind::Timeout => Error::new(Kind::Timeout, format!("no answer within {PROBE_TIMEOUT:?}")),
            _ => e,
        })
    }
}
