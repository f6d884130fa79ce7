//! Embedding request and response shapes.

use super::*;

#[test]
fn embed_request_shapes() {
    let (path, body) = embed_request(
        &obj(json!({"model": "gemini-embedding-001", "input": "hello", "dimensions": 256, "encoding_format": "base64", "taskType": "RETRIEVAL_QUERY"})),
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(path, "models/gemini-embedding-001:embedContent");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256, "taskType": "RETRIEVAL_QUERY"})
    );
    let (path, body) = embed_request(&obj(json!({"input": ["a", "b"]})), "text-embedding-004").unwrap();
    assert_eq!(path, "models/text-embedding-004:batchEmbedContents");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}},
        ]})
    );
    for bad in [
        json!({"input": []}),
        json!({"input": [1, 2]}),
        json!({}),
        json!({"input": ""}),
    ] {
        assert_eq!(embed_request(&obj(bad), "m").unwrap_err().kind(), Kind::InvalidArgument);
    }
}

#[test]
fn embed_response_shapes() {
    let one = embed_response(
        br#"{"embedding": {"values": [0.25, -0.5, 1.0]}}"#,
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(one.object, "list");
    assert_eq!(one.model, "gemini-embedding-001");
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].embedding.0, vec![0.25, -0.5, 1.0]);
    assert_eq!(one.usage.prompt_tokens, 0);
    let many = embed_response(
        br#"{"embeddings": [{"values": [1.0]}, {"values": [2.0]}, {"values": [3.0]}], "usageMetadata": {"promptTokenCount": 6}}"#,
        "m",
    )
    .unwrap();
    let got: Vec<(u32, f32)> = many.data.iter().map(|d| (d.index, d.embedding.0[0])).collect();
    assert_eq!(got, vec![(0, 1.0), (1, 2.0), (2, 3.0)]);
    assert_eq!(many.usage.total_tokens, 6);
    assert_eq!(
        embed_response(br#"{"nothing": 1}"#, "m").unwrap_err().kind(),
        Kind::Serialization
    );
}
