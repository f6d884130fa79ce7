//! Azure OpenAI: OpenAI's bodies and answers at deployment URLs
//! (`openai/deployments/{deployment}/chat/completions`), with an `api-version` query on every
//! call; the key travels in `api-key` (see the registry).

use super::adapter::{Adapter, Wire};
use super::path_escape;
use crate::error::Result;
use crate::providers::registry::Endpoint;

/// Azure OpenAI deployments.
#[derive(Debug)]
pub struct Azure;

impl Adapter for Azure {
    fn fixed_chat_path(&self) -> Option<&'static str> {
        None
    }

    fn path(&self, endpoint: Endpoint, wire: Wire<'_>) -> Result<String> {
        let action = match endpoint {
            Endpoint::Embeddings => "embeddings",
            _ => "chat/completions",
        };
        Ok(format!("openai/deployments/{}/{action}", path_escape(wire.model)?))
    }

    fn endpoint_path(&self, endpoint: Endpoint, path: &str, wire: Wire<'_>) -> Result<String> {
        Ok(match endpoint {
            // Images and audio are served per deployment; files and batches per resource.
            Endpoint::Images | Endpoint::Audio => {
                format!("openai/deployments/{}/{path}", path_escape(wire.model)?)
            }
            _ => format!("openai/{path}"),
        })
    }

    fn query(&self, wire: Wire<'_>) -> Option<(&'static str, String)> {
        Some(("api-version", wire.api_version.to_owned()))
    }
}
