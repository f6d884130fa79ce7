//! Reading an upload form (`multipart/form-data`): its `file` part and its text fields,
//! bounded in count and length (the body itself is bounded by the server's body limit).

use axum::body::Bytes;
use axum::extract::Multipart;
use axum::http::HeaderValue;

use crate::api::{content_type_for, Upload};

/// The most text fields a form may carry besides its file.
const MAX_FIELDS: usize = 32;

/// A form's text fields, in order, and its `file` part, if any.
pub(super) struct Form {
    pub(super) fields: Vec<(String, String)>,
    file: Option<(Bytes, String, HeaderValue)>,
}

/// Reads `form`: a file without a name is called `unnamed`; a text field longer than
/// `max_field_bytes` is refused.
pub(super) async fn read(mut form: Multipart, unnamed: &str, max_field_bytes: usize) -> Result<Form, String> {
    let mut out = Form {
        fields: Vec::new(),
        file: None,
    };
    while let Some(part) = form
        .next_field()
        .await
        .map_err(|e| format!("the form is malformed: {e}"))?
    {
        let name = part.name().unwrap_or_default().to_owned();
        if name == "file" {
            let filename = part.file_name().unwrap_or(unnamed).to_owned();
            let content_type = part
                .content_type()
                .and_then(|t| HeaderValue::from_str(t).ok())
                .unwrap_or_else(|| HeaderValue::from_static(content_type_for(&filename)));
            let data = part
                .bytes()
                .await
                .map_err(|e| format!("the file could not be read: {e}"))?;
            out.file = Some((data, filename, content_type));
        } else {
            if out.fields.len() >= MAX_FIELDS {
                return Err(format!("the form has more than {MAX_FIELDS} fields"));
            }
            let value = part
                .text()
                .await
                .map_err(|e| format!("the field {name} could not be read: {e}"))?;
            if value.len() > max_field_bytes {
                return Err(format!("the field {name} is longer than {max_field_bytes} bytes"));
            }
            out.fields.push((name, value));
        }
    }
    Ok(out)
}

impl Form {
    /// The first value of the field `name`, taken out of the form.
    pub(super) fn take(&mut self, name: &str) -> Option<String> {
        let at = self.fields.iter().position(|(k, _)| k == name)?;
        Some(self.fields.remove(at).1)
    }

    /// The upload to send on: the text fields left and the file (which is required).
    pub(super) fn into_upload(self) -> Result<Upload, String> {
        let (data, filename, content_type) = self.file.ok_or("file is required (a form part)")?;
        Ok(Upload {
            fields: self.fields,
            field: "file".to_owned(),
            data,
            filename,
            content_type,
        })
    }
}
