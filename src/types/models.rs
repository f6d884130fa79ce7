//! Model listing: `GET /models` and its entries.

use super::json::model;

model! {
    /// One model the provider serves.
    pub struct ModelObject {
        /// Model id, as passed to `model=`.
        id: String = "id",
        /// Always `model`.
        object: String = "object",
        /// Unix time the model was created (0 when the provider does not say).
        created: i64 = "created",
        /// Organisation owning the model.
        owned_by: String = "owned_by",
    }
}

model! {
    /// The models a provider serves.
    pub struct ModelsListResponse {
        /// Always `list`.
        object: String = "object",
        /// The models.
        data: Vec<ModelObject> = "data",
    }
}
