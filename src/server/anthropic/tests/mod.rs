//! The Messages API translations (request, answer, events) and the routes over real HTTP.

mod http;
mod request;
mod response;
mod stream;
