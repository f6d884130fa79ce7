//! What a provider batch job remembers: its manifest, the JSON file that lets a later process
//! wait for it and collect it with no request sent twice.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Kind, Result};

/// The manifest format this build writes and reads.
pub const FORMAT: u32 = 1;

/// Most requests one job may hold (a hundred of the largest provider batches).
pub const MAX_REQUESTS: usize = 10_000_000;

/// The provider API a job goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// OpenAI's Files + Batches (any OpenAI-compatible provider that serves them).
    OpenAi,
    /// Anthropic's Message Batches.
    Anthropic,
}

impl Api {
    /// The provider's limits per batch: requests, and bytes of the input (OpenAI: 50,000
    /// requests or a 200 MB file; Anthropic: 100,000 requests or a 256 MB request body).
    pub fn limits(self) -> (usize, u64) {
        match self {
            Api::OpenAi => (50_000, 200_000_000),
            Api::Anthropic => (100_000, 256_000_000),
        }
    }
}

/// Where one provider batch of the job stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartState {
    /// Not created at the provider yet.
    Unsubmitted,
    /// Created; the provider has not finished it.
    Running,
    /// A cancellation was asked for; the provider has not confirmed it.
    Cancelling,
    /// Ended with results (some items may have failed).
    Completed,
    /// The provider rejected the whole batch (e.g. its input did not validate).
    Failed,
    /// The completion window ended first; finished items still have results.
    Expired,
    /// Cancelled; finished items still have results.
    Cancelled,
}

impl PartState {
    /// Whether the provider is done with the batch.
    pub fn ended(self) -> bool {
        matches!(
            self,
            PartState::Completed | PartState::Failed | PartState::Expired | PartState::Cancelled
        )
    }
}

/// One provider batch: a run of consecutive requests of the job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    /// Index of its first request in the job.
    pub first: usize,
    /// How many requests it holds.
    pub count: usize,
    /// Size of its input in bytes.
    pub bytes: u64,
    /// BLAKE3 of its input, to check requests given again when resuming.
    pub digest: String,
    /// The uploaded input file (OpenAI).
    pub input_file_id: Option<String>,
    /// The provider's batch id, once created.
    pub batch_id: Option<String>,
    /// Unix time the creation was sent; set before sending, so a process that died before
    /// hearing the answer looks the batch up instead of creating it again.
    pub submitted_at: Option<u64>,
    /// Where it stands.
    pub state: PartState,
    /// Requests that succeeded, as the provider counts them.
    pub succeeded: u64,
    /// Requests that failed, expired or were cancelled, as the provider counts them.
    pub failed: u64,
    /// The results file (OpenAI).
    pub output_file_id: Option<String>,
    /// The errors file (OpenAI).
    pub error_file_id: Option<String>,
    /// Why the provider rejected the batch, when it did.
    pub errors: Option<String>,
}

impl Part {
    /// A part not submitted yet.
    pub(super) fn new(first: usize, count: usize, bytes: u64, digest: String) -> Self {
        Part {
            first,
            count,
            bytes,
            digest,
            input_file_id: None,
            batch_id: None,
            submitted_at: None,
            state: PartState::Unsubmitted,
            succeeded: 0,
            failed: 0,
            output_file_id: None,
            error_file_id: None,
            errors: None,
        }
    }
}

/// Everything needed to wait for a job and collect it; never holds a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The job's id (`bjob_...`).
    pub id: String,
    /// The provider API.
    pub api: Api,
    /// The provider's name, as the client routes to it.
    pub provider: String,
    /// The provider's base URL (credentials in it redacted).
    pub base_url: String,
    /// The model of the first request: the client routes by it to reach the provider again.
    pub model: String,
    /// Whether every request names that model (usage is then recorded under it; else under
    /// the model each answer names).
    pub one_model: bool,
    /// The completion window asked for.
    pub completion_window: String,
    /// Most requests per provider batch.
    pub max_requests: usize,
    /// Most input bytes per provider batch.
    pub max_bytes: u64,
    /// Requests in the job.
    pub total: usize,
    /// Unix time the job was prepared.
    pub created_at: u64,
    /// Whether the job was cancelled (parts not submitted yet never will be).
    pub cancelled: bool,
    /// The provider batches, in request order.
    pub parts: Vec<Part>,
}

impl Manifest {
    /// Whether every provider batch has ended.
    pub fn ended(&self) -> bool {
        self.parts.iter().all(|p| p.state.ended())
    }

    /// Writes the manifest to `path` atomically (a temporary file beside it, then a rename).
    ///
    /// # Errors
    /// `InvalidArgument` when the file cannot be written.
    pub fn write(&self, path: &Path) -> Result<()> {
        let failed = |e: std::io::Error| {
            Error::new(
                Kind::InvalidArgument,
                format!("cannot write the batch job manifest {}: {e}", path.display()),
            )
        };
        let text = serde_json::to_vec_pretty(self).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, text).map_err(failed)?;
        std::fs::rename(&tmp, path).map_err(failed)
    }

    /// Reads a manifest written by [`Manifest::write`].
    ///
    /// # Errors
    /// `InvalidArgument` for a missing or unreadable file, or one of another format.
    pub fn read(path: &Path) -> Result<Self> {
        let invalid = |why: String| {
            Error::new(
                Kind::InvalidArgument,
                format!("{} is not a batch job manifest: {why}", path.display()),
            )
        };
        let text = std::fs::read(path).map_err(|e| invalid(e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        if manifest.format != FORMAT {
            return Err(invalid(format!(
                "format {} (this version reads {FORMAT})",
                manifest.format
            )));
        }
        let mut next = 0;
        for part in &manifest.parts {
            if part.first != next || part.count == 0 {
                return Err(invalid("its parts do not cover the requests in order".into()));
            }
            next += part.count;
        }
        if next != manifest.total {
            return Err(invalid("its parts do not cover the requests in order".into()));
        }
        Ok(manifest)
    }
}
