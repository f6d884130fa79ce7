//! Uploads for Python: `LlmClient.transcribe` and `LlmClient.create_file`.
//!
//! `file` may be bytes (or bytearray/memoryview), a path (`str` or `os.PathLike`, read here with
//! the GIL released), a binary file object (its `read()` result, named by the basename of its
//! `.name`), or a tuple `(filename, content)` / `(filename, content, content_type)`. The part's
//! content type follows `content_type`, else the file name's extension. The bytes are read once
//! into memory and shared by every attempt.

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::api::{content_type_for, sniff_audio, Upload};
use crate::py::call::LlmCall;
use crate::py::client::PyLlmClient;
use crate::py::endpoint_types::PyTranscriptionResponse;
use crate::py::files::file as file_object;
use crate::py::json::{dict_items, to_value, type_name};
use crate::py::params::{positive_int, required_str, run};
use crate::py::request::{check, headers_from, Expect};

/// A file argument, read.
struct FileArg {
    data: Bytes,
    filename: Option<String>,
    content_type: Option<String>,
}

fn basename(path: &str) -> String {
    path.rsplit(['/', '\\']).next().unwrap_or(path).to_owned()
}

/// A `str` or `os.PathLike` path as the OS sees it: on Unix the exact bytes `os.fsencode` gives
/// (names that are not UTF-8, and `str` paths holding surrogate escapes, open as they should).
fn fs_path(value: &Bound<'_, PyAny>) -> PyResult<std::path::PathBuf> {
    let os = value.py().import("os")?;
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let encoded = os.call_method1("fsencode", (value,))?;
        let bytes = encoded.cast::<PyBytes>()?;
        Ok(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes.as_bytes())))
    }
    #[cfg(not(unix))]
    {
        Ok(std::path::PathBuf::from(
            os.call_method1("fsdecode", (value,))?.extract::<String>()?,
        ))
    }
}

/// The bytes of a bytes-like object, or `None` when it is not one.
fn bytes_like(value: &Bound<'_, PyAny>) -> PyResult<Option<Bytes>> {
    if let Ok(b) = value.cast::<PyBytes>() {
        return Ok(Some(Bytes::copy_from_slice(b.as_bytes())));
    }
    if let Ok(b) = value.cast::<PyByteArray>() {
        return Ok(Some(Bytes::from(b.to_vec())));
    }
    if value.get_type().name()?.to_cow()? == "memoryview" {
        let copied = value.call_method0("tobytes")?;
        return Ok(Some(Bytes::copy_from_slice(copied.cast::<PyBytes>()?.as_bytes())));
    }
    Ok(None)
}

fn read_file(value: &Bound<'_, PyAny>) -> PyResult<FileArg> {
    let py = value.py();
    if let Some(data) = bytes_like(value)? {
        return Ok(FileArg {
            data,
            filename: None,
            content_type: None,
        });
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        if !(2..=3).contains(&tuple.len()) {
            return Err(PyTypeError::new_err(
                "a file tuple must be (filename, content) or (filename, content, content_type)",
            ));
        }
        let filename = required_str("file[0] (the filename)", &tuple.get_item(0)?)?;
        let inner = read_file(&tuple.get_item(1)?)?;
        let content_type = match tuple.get_item(2).ok().filter(|c| !c.is_none()) {
            Some(c) => Some(required_str("file[2] (the content type)", &c)?),
            None => None,
        };
        return Ok(FileArg {
            data: inner.data,
            filename: Some(filename),
            content_type,
        });
    }
    if value.is_instance_of::<PyString>() || value.hasattr("__fspath__")? {
        let path = fs_path(value)?;
        let data = py.detach(|| std::fs::read(&path))?;
        return Ok(FileArg {
            data: Bytes::from(data),
            filename: Some(basename(&path.to_string_lossy())),
            content_type: None,
        });
    }
    if value.hasattr("read")? {
        let content = value.call_method0("read")?;
        let Some(data) = bytes_like(&content)? else {
            return Err(PyTypeError::new_err(format!(
                "file.read() returned {}, not bytes: open the file in binary mode ('rb')",
                type_name(&content)
            )));
        };
        let filename = value
            .getattr("name")
            .ok()
            .and_then(|n| n.extract::<String>().ok())
            .map(|n| basename(&n))
            .filter(|n| !n.is_empty());
        return Ok(FileArg {
            data,
            filename,
            content_type: None,
        });
    }
    Err(PyTypeError::new_err(format!(
        "file must be bytes, a path (str or os.PathLike), a binary file object or a (filename, content) tuple, not {}",
        type_name(value)
    )))
}

/// Builds the upload: `default_name` names a file that came without a name.
fn upload(
    value: &Bound<'_, PyAny>,
    filename: Option<String>,
    default_name: impl FnOnce(&[u8]) -> PyResult<String>,
    fields: Vec<(String, String)>,
) -> PyResult<Upload> {
    let arg = read_file(value)?;
    if arg.data.is_empty() {
        return Err(PyValueError::new_err("file is empty"));
    }
    let filename = match filename.or(arg.filename) {
        Some(name) => name,
        None => default_name(&arg.data)?,
    };
    let content_type = arg
        .content_type
        .unwrap_or_else(|| content_type_for(&filename).to_owned());
    let content_type = HeaderValue::from_str(&content_type)
        .map_err(|_| PyValueError::new_err(format!("invalid content type {content_type:?}")))?;
    Ok(Upload {
        fields,
        field: "file".to_owned(),
        data: arg.data,
        filename,
        content_type,
    })
}

/// A form field's text: str as is, numbers and bools as in JSON, dicts as JSON.
fn field_text(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(s.to_cow()?.into_owned());
    }
    if value.is_instance_of::<PyDict>() || value.is_instance_of::<PyBool>() || value.extract::<f64>().is_ok() {
        return Ok(to_value(value)?.to_string());
    }
    Err(PyTypeError::new_err(format!(
        "{name} must be a str, number, bool, list or dict to send as a form field, not {}",
        type_name(value)
    )))
}

/// Adds one form field; a list becomes repeated `name[]` fields.
fn add_field(fields: &mut Vec<(String, String)>, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if value.is_none() {
        return Ok(());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let key = format!("{name}[]");
        for item in value.try_iter()? {
            fields.push((key.clone(), field_text(name, &item?)?));
        }
        return Ok(());
    }
    fields.push((name.to_owned(), field_text(name, value)?));
    Ok(())
}

/// Adds `**extra` as form fields; returns the `extra_headers`.
fn extra_fields(fields: &mut Vec<(String, String)>, extra: Option<&Bound<'_, PyDict>>) -> PyResult<HeaderMap> {
    let mut headers = HeaderMap::new();
    let Some(extra) = extra else {
        return Ok(headers);
    };
    for pair in dict_items(extra) {
        let (key, value) = pair?;
        let key = key.cast_into::<PyString>()?;
        match key.to_cow()?.as_ref() {
            "extra_headers" if !value.is_none() => headers_from(&value, &mut headers)?,
            "extra_headers" => {}
            "extra_body" if !value.is_none() => {
                let body = value
                    .cast::<PyDict>()
                    .map_err(|_| PyTypeError::new_err("extra_body must be a dict"))?;
                for pair in dict_items(body) {
                    let (k, v) = pair?;
                    add_field(fields, &k.extract::<String>()?, &v)?;
                }
            }
            "extra_body" => {}
            name => add_field(fields, name, &value)?,
        }
    }
    Ok(headers)
}

#[pymethods]
impl PyLlmClient {
    /// Transcribes audio; a coroutine resolving to a `TranscriptionResponse`.
    #[pyo3(signature = (*, model, file, language=None, prompt=None, response_format=None, temperature=None, filename=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn transcribe<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        file: &Bound<'py, PyAny>,
        language: Option<&Bound<'py, PyAny>>,
        prompt: Option<&Bound<'py, PyAny>>,
        response_format: Option<&Bound<'py, PyAny>>,
        temperature: Option<&Bound<'py, PyAny>>,
        filename: Option<String>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let model_name = required_str("model", model)?;
        let mut fields = vec![("model".to_owned(), model_name.clone())];
        for (name, value) in [("language", language), ("prompt", prompt)] {
            if let Some(value) = value.filter(|v| !v.is_none()) {
                fields.push((name.to_owned(), required_str(name, value)?));
            }
        }
        if let Some(format) = response_format.filter(|f| !f.is_none()) {
            let format = required_str("response_format", format)?;
            if !["json", "text", "srt", "verbose_json", "vtt"].contains(&format.as_str()) {
                return Err(PyValueError::new_err(format!(
                    "response_format must be one of 'json', 'text', 'srt', 'verbose_json', 'vtt', not {format:?}"
                )));
            }
            fields.push(("response_format".to_owned(), format));
        }
        if let Some(t) = temperature.filter(|t| !t.is_none()) {
            check("temperature", t, Expect::Number)?;
            fields.push(("temperature".to_owned(), field_text("temperature", t)?));
        }
        let headers = extra_fields(&mut fields, extra)?;
        let upload = upload(
            file,
            filename,
            |data| {
                // The provider tells the format by the file name's extension.
                sniff_audio(data).map(|ext| format!("audio.{ext}")).ok_or_else(|| {
                    PyValueError::new_err(
                        "the audio format of these bytes is not recognised: pass filename= (e.g. 'speech.mp3')",
                    )
                })
            },
            fields,
        )?;
        let finish = |py: Python<'_>, v: crate::types::TranscriptionResponse| {
            Ok(Py::new(py, PyTranscriptionResponse(v))?.into_any())
        };
        run(
            py,
            &self.inner,
            |c| async move { c.transcribe(upload, model_name, headers).await },
            finish,
        )
    }

    /// Uploads a file; a coroutine resolving to a `FileObject`.
    #[pyo3(signature = (*, file, purpose, filename=None, expires_after=None, extra_headers=None))]
    fn create_file<'py>(
        &self,
        py: Python<'py>,
        file: &Bound<'py, PyAny>,
        purpose: &Bound<'py, PyAny>,
        filename: Option<String>,
        expires_after: Option<&Bound<'py, PyAny>>,
        extra_headers: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let purpose = required_str("purpose", purpose)?;
        let mut headers = HeaderMap::new();
        if let Some(h) = extra_headers.filter(|h| !h.is_none()) {
            headers_from(h, &mut headers)?;
        }
        let jsonl = matches!(purpose.as_str(), "batch" | "fine-tune" | "evals");
        let mut fields = vec![("purpose".to_owned(), purpose)];
        if let Some(expiry) = expires_after.filter(|e| !e.is_none()) {
            fields.extend(expiry_fields(expiry)?);
        }
        let default_name = |_: &[u8]| Ok(if jsonl { "upload.jsonl" } else { "upload" }.to_owned());
        let upload = upload(file, filename, default_name, fields)?;
        run(
            py,
            &self.inner,
            |c| async move { c.create_file(upload, headers).await },
            file_object,
        )
    }
}

/// The form fields of `create_file`'s `expires_after={"anchor": "created_at", "seconds": N}`.
fn expiry_fields(expiry: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    check("expires_after", expiry, Expect::Dict)?;
    let expiry = expiry.cast::<PyDict>()?;
    let anchor = match expiry.get_item("anchor")? {
        Some(a) => required_str("expires_after['anchor']", &a)?,
        None => "created_at".to_owned(),
    };
    let seconds = positive_int("expires_after['seconds']", expiry.get_item("seconds")?.as_ref())?
        .ok_or_else(|| PyValueError::new_err("expires_after needs 'seconds'"))?;
    let known = |k: &Bound<'_, PyAny>| k.extract::<String>().is_ok_and(|k| k == "anchor" || k == "seconds");
    if let Some(key) = expiry.keys().iter().find(|k| !known(k)) {
        return Err(PyValueError::new_err(format!(
            "expires_after takes 'anchor' and 'seconds', not {}",
            key.repr()?
        )));
    }
    Ok(vec![
        ("expires_after[anchor]".to_owned(), anchor),
        ("expires_after[seconds]".to_owned(), seconds.to_string()),
    ])
}
