//! The response cache: keys, backends (memory, SQLite, Redis), in-flight de-duplication and
//! replay of stored answers as responses or streams.

pub mod redis;
pub mod store;
