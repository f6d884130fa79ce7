//! `GET /health`: every deployment checked now with one tiny real request, in LiteLLM's shape
//! (`healthy_endpoints`, `unhealthy_endpoints` and their counts). The master key only.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::errors::json_response;
use super::{master_only, AppState, Caller};

/// `GET /health`.
pub(crate) async fn health(State(state): State<Arc<AppState>>, Extension(caller): Extension<Caller>) -> Response {
    if let Some(refused) = master_only(&caller, "run health checks") {
        return refused;
    }
    let deployments = state.client.deployments().map(|d| d.all()).unwrap_or_default();
    let checks = deployments.iter().map(|d| async move {
        let mut shown = json!({
            "model_group": d.group,
            "deployment": &*d.id,
            "model": d.model,
            "api_base": d.api_base,
        });
        let outcome = d.probe().await;
        if let (Err(e), Value::Object(fields)) = (&outcome, &mut shown) {
            fields.insert("error".into(), json!(e.message()));
        }
        (outcome.is_ok(), shown)
    });
    let (mut healthy, mut unhealthy) = (Vec::new(), Vec::new());
    for (ok, shown) in futures_util::future::join_all(checks).await {
        if ok {
            healthy.push(shown);
        } else {
            unhealthy.push(shown);
        }
    }
    json_response(
        StatusCode::OK,
        &json!({
            "healthy_count": healthy.len(),
            "unhealthy_count": unhealthy.len(),
            "healthy_endpoints": healthy,
            "unhealthy_endpoints": unhealthy,
        }),
    )
}
