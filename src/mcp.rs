//! MCP servers' tools for agent loops, through the official Rust SDK (`rmcp`): a session with
//! one server (started as a child process and spoken to over its stdin/stdout, or reached at a
//! streamable-HTTP URL), its tools listed as Chat Completions tool definitions and called by
//! name. An HTTP session follows same-origin redirects only, so its token goes to no other host.
//!
//! What a server sends is untrusted: a tool's answer is cut at [`MAX_ANSWER_BYTES`], the tool
//! list at [`MAX_TOOLS`], and every request gives up after the session's timeout.

use std::time::Duration;

use rmcp::model::{CallToolRequestParams, ContentBlock};
use rmcp::service::{ClientInitializeError, RoleClient, RunningService, ServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::{json, Map, Value};

use crate::error::{Error, Kind, Result};

/// The most text of one tool answer handed to the model.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;
/// The most tools taken from one server.
pub const MAX_TOOLS: usize = 1_000;

/// One MCP server's session.
pub struct McpSession {
    service: RunningService<RoleClient, ()>,
    /// The server, for messages.
    shown: String,
    timeout: Duration,
}

impl std::fmt::Debug for McpSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpSession").field("server", &self.shown).finish()
    }
}

/// One tool of a server.
#[derive(Clone, Debug, PartialEq)]
pub struct McpTool {
    /// What the model calls it by.
    pub name: String,
    /// What it does, as the server says.
    pub description: String,
    /// Its arguments' JSON schema (an object schema).
    pub input_schema: Value,
}

/// What a tool call answered.
#[derive(Clone, Debug, PartialEq)]
pub struct McpAnswer {
    /// Its content as text (text blocks as they are, other blocks as JSON), cut at
    /// [`MAX_ANSWER_BYTES`].
    pub text: String,
    /// Whether the server says the call failed.
    pub is_error: bool,
}

impl McpSession {
    /// Starts `command` (the program and its arguments, with `env` added to its environment)
    /// and opens a session with it, within `timeout`.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty command; `Network` when it cannot be started or does not
    /// complete the handshake; `Timeout` past `timeout`.
    pub async fn stdio(command: &[String], env: &[(String, String)], timeout: Duration) -> Result<McpSession> {
        let Some((program, args)) = command.split_first() else {
            return Err(Error::new(Kind::InvalidArgument, "command must name a program"));
        };
        let shown = format!("MCP server {program:?}");
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(true);
        let transport = TokioChildProcess::new(cmd)
            .map_err(|e| Error::new(Kind::Network, format!("{shown} could not be started: {e}")))?;
        handshake(().serve(transport), shown, timeout).await
    }

    /// Opens a session with the streamable-HTTP server at `url` (`token`: sent as a bearer
    /// token), within `timeout`.
    ///
    /// # Errors
    /// `InvalidArgument` for a URL that is not http(s); `Network` when the server cannot be
    /// reached or refuses the handshake; `Timeout` past `timeout`.
    pub async fn http(url: &str, token: Option<&str>, timeout: Duration) -> Result<McpSession> {
        let shown = format!("MCP server {}", crate::redact::url(url));
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        if !matches!(scheme.as_deref(), Some("http" | "https")) {
            return Err(Error::new(
                Kind::InvalidArgument,
                format!("{shown}: the URL must be http:// or https://"),
            ));
        }
        // The HTTP client's TLS uses the process-wide provider: ring, as for providers.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
        if let Some(token) = token {
            config = config.auth_header(token.to_owned());
        }
        let transport = StreamableHttpClientTransport::from_config(config);
        handshake(().serve(transport), shown, timeout).await
    }

    /// The server's tools (all pages, at most [`MAX_TOOLS`]).
    ///
    /// # Errors
    /// `Network` when the server fails or closes; `Timeout` past the session's timeout.
    pub async fn tools(&self) -> Result<Vec<McpTool>> {
        let listed = tokio::time::timeout(self.timeout, self.service.list_all_tools())
            .await
            .map_err(|_| self.timed_out("listing its tools"))?
            .map_err(|e| Error::new(Kind::Network, format!("{}: listing its tools failed: {e}", self.shown)))?;
        Ok(listed
            .into_iter()
            .take(MAX_TOOLS)
            .map(|tool| McpTool {
                name: tool.name.into_owned(),
                description: tool.description.map(std::borrow::Cow::into_owned).unwrap_or_default(),
                input_schema: Value::Object((*tool.input_schema).clone()),
            })
            .collect())
    }

    /// Calls tool `name` with `arguments`.
    ///
    /// # Errors
    /// `Network` when the server fails or closes; `Timeout` past the session's timeout. A tool
    /// that reports an error is an answer with `is_error`, not an `Err`.
    pub async fn call(&self, name: &str, arguments: Map<String, Value>) -> Result<McpAnswer> {
        let params = CallToolRequestParams::new(name.to_owned()).with_arguments(arguments);
        let result = tokio::time::timeout(self.timeout, self.service.call_tool(params))
            .await
            .map_err(|_| self.timed_out(&format!("calling {name}")))?
            .map_err(|e| Error::new(Kind::Network, format!("{}: calling {name} failed: {e}", self.shown)))?;
        let mut text = String::new();
        for block in &result.content {
            if !text.is_empty() {
                text.push('\n');
            }
            match block {
                ContentBlock::Text(content) => text.push_str(&content.text),
                other => text.push_str(&serde_json::to_string(other).unwrap_or_default()),
            }
            if text.len() > MAX_ANSWER_BYTES {
                break;
            }
        }
        if result.content.is_empty() {
            if let Some(structured) = &result.structured_content {
                text = structured.to_string();
            }
        }
        Ok(McpAnswer {
            text: cut(text),
            is_error: result.is_error.unwrap_or(false),
        })
    }

    /// Ends the session (the server's process is stopped).
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.service.cancel()).await;
    }

    fn timed_out(&self, what: &str) -> Error {
        Error::new(
            Kind::Timeout,
            format!("{}: {what} took longer than {:?}", self.shown, self.timeout),
        )
    }
}

/// The session once `serving` (the client's side of the handshake) is done, within `timeout`.
async fn handshake(
    serving: impl std::future::Future<Output = std::result::Result<RunningService<RoleClient, ()>, ClientInitializeError>>,
    shown: String,
    timeout: Duration,
) -> Result<McpSession> {
    let service = tokio::time::timeout(timeout, serving)
        .await
        .map_err(|_| {
            Error::new(
                Kind::Timeout,
                format!("{shown} did not answer the handshake within {timeout:?}"),
            )
        })?
        .map_err(|e| Error::new(Kind::Network, format!("{shown}: the handshake failed: {e}")))?;
    Ok(McpSession {
        service,
        shown,
        timeout,
    })
}

impl McpTool {
    /// The tool as a Chat Completions tool definition.
    pub fn definition(&self) -> Value {
        json!({
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.input_schema},
        })
    }
}

/// `text` cut to [`MAX_ANSWER_BYTES`] at a character boundary, saying so.
fn cut(mut text: String) -> String {
    if text.len() <= MAX_ANSWER_BYTES {
        return text;
    }
    let mut end = MAX_ANSWER_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str("\n[cut: the answer was longer than 1 MiB]");
    text
}
