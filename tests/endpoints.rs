//! The endpoint methods of the core client against the mock provider over loopback HTTP, no
//! Python: uploads retried whole, files and batches, and unsupported endpoints.

use std::time::Duration;

use _liter_llm::api::{ListParams, Upload};
use _liter_llm::mock::{Fault, MockConfig, MockServer};
use _liter_llm::{runtime, Client, ClientConfig, Kind, Request};
use reqwest::header::{HeaderMap, HeaderValue};

fn client(server: &MockServer, max_retries: u32, model_hint: Option<&str>) -> Client {
    Client::new(ClientConfig {
        api_key: _liter_llm::config::Secret::new("sk-rust-test"),
        base_url: Some(server.base_url()),
        model_hint: model_hint.map(str::to_owned),
        max_retries,
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    })
    .expect("client builds")
}

fn upload(data: &'static [u8], filename: &str, purpose: &str) -> Upload {
    Upload {
        fields: vec![("purpose".to_owned(), purpose.to_owned())],
        field: "file".to_owned(),
        data: data.into(),
        filename: filename.to_owned(),
        content_type: HeaderValue::from_static("application/jsonl"),
    }
}

#[test]
fn an_upload_is_rebuilt_whole_for_the_retry() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault::with_status(502)]);
    let c = client(&server, 1, None);
    let data: &'static [u8] = b"{\"custom_id\":\"a\"}\n{\"custom_id\":\"b\"}\n";
    let file = runtime::get()
        .block_on(c.create_file(upload(data, "in.jsonl", "batch"), HeaderMap::new()))
        .unwrap();
    assert_eq!((file.bytes, file.filename.as_str()), (data.len() as u64, "in.jsonl"));
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    let (first, second) = (sent[0].form().unwrap(), sent[1].form().unwrap());
    assert_eq!(first, second);
    assert_eq!(second[1].name, "file");
    assert_eq!(second[1].content_type.as_deref(), Some("application/jsonl"));
    assert_eq!(&second[1].data[..], data);
    let content = runtime::get().block_on(c.file_content(&file.id)).unwrap();
    assert_eq!(&content.into_bytes()[..], data);
}

#[test]
fn files_list_newest_first_and_a_missing_one_is_not_found() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let c = client(&server, 0, None);
    let rt = runtime::get();
    let a = rt
        .block_on(c.create_file(upload(b"a", "a.jsonl", "batch"), HeaderMap::new()))
        .unwrap();
    let b = rt
        .block_on(c.create_file(upload(b"b", "b.txt", "assistants"), HeaderMap::new()))
        .unwrap();
    let all = rt.block_on(c.list_files(ListParams::default())).unwrap();
    let ids: Vec<_> = all.data.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, [b.id.as_str(), a.id.as_str()]);
    let batch_only = ListParams {
        purpose: Some("batch".into()),
        ..ListParams::default()
    };
    assert_eq!(rt.block_on(c.list_files(batch_only)).unwrap().data, vec![a.clone()]);
    assert!(rt.block_on(c.delete_file(&a.id)).unwrap().deleted);
    let err = rt.block_on(c.retrieve_file(&a.id)).unwrap_err();
    assert_eq!((err.kind(), err.status()), (Kind::NotFound, Some(404)));
}

#[test]
fn a_provider_without_the_endpoint_sends_nothing() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let c = client(&server, 0, Some("anthropic"));
    let rt = runtime::get();
    let err = rt.block_on(c.list_files(ListParams::default())).unwrap_err();
    assert_eq!(err.kind(), Kind::EndpointNotSupported);
    let request = Request {
        body: br#"{"model":"claude-sonnet-4-5","input":"hi"}"#.to_vec().into(),
        model: "claude-sonnet-4-5".into(),
        ..Request::default()
    };
    let err = rt.block_on(c.create_response(request)).unwrap_err();
    assert_eq!(err.kind(), Kind::EndpointNotSupported);
    assert!(server.requests().is_empty());
    // Model listing is served, in Anthropic's own format, translated.
    let models = rt.block_on(c.list_models()).unwrap();
    assert_eq!(models.data[0].owned_by, "anthropic");
}
