//! Frozen Python classes for the response models, each wrapping its core struct.
//!
//! Attribute access follows the openai SDK (`r.choices[0].message.content`); nested objects are
//! built on access. Every class has `to_dict()`, `to_json()`, `__eq__` and a readable `__repr__`;
//! fields we do not model stay visible through `to_dict()`.

use pyo3::prelude::*;
use serde_json::Value;

use crate::py::convert::value_to_py;

/// Converts a model field to its Python value.
pub trait FieldToPy {
    /// The Python value of this field.
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>>;
}

macro_rules! scalar_to_py {
    ($($t:ty),*) => {$(
        impl FieldToPy for $t {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(self.into_pyobject(py)?.into_any())
            }
        }
    )*};
}
scalar_to_py!(String, u32, u64, i64, f64);

impl FieldToPy for bool {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pyo3::types::PyBool::new(py, *self).to_owned().into_any())
    }
}

impl FieldToPy for Value {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        value_to_py(py, self)
    }
}

impl<T: FieldToPy> FieldToPy for Option<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Some(v) => v.to_py(py),
            None => Ok(py.None().into_bound(py)),
        }
    }
}

impl<T: FieldToPy> FieldToPy for Vec<T> {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let items = self.iter().map(|item| item.to_py(py)).collect::<PyResult<Vec<_>>>()?;
        Ok(pyo3::types::PyList::new(py, items)?.into_any())
    }
}

/// Declares a frozen Python class wrapping a core model (a type in `crate::types`), with a
/// getter per listed field, `to_dict`, `to_json`, `__repr__` and `__eq__`.
macro_rules! py_model {
    ($py:ident, $name:literal, $core:ident, [$($field:ident),* $(,)?]) => {
        #[doc = concat!("Python class `", $name, "`.")]
        #[pyclass(frozen, name = $name, module = "liter_llm")]
        pub struct $py(pub $crate::types::$core);

        impl $crate::py::types::FieldToPy for $crate::types::$core {
            fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                Ok(Bound::new(py, $py(self.clone()))?.into_any())
            }
        }

        #[pymethods]
        impl $py {
            $(
                #[getter]
                fn $field<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                    $crate::py::types::FieldToPy::to_py(&self.0.$field, py)
                }
            )*

            /// The object as a plain dict, including fields the provider added.
            fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
                $crate::py::convert::value_to_py(py, &$crate::types::ToJson::to_json(&self.0))
            }

            /// The object as a JSON string.
            fn to_json(&self) -> String {
                $crate::types::ToJson::to_json(&self.0).to_string()
            }

            fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
                let mut out = String::from(concat!($name, "("));
                for (i, name) in $crate::types::$core::FIELDS.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    // JSON keys such as `self-harm/intent` are attributes `self_harm_intent`.
                    let attr = name.replace(['/', '-'], "_");
                    out.push_str(&attr);
                    out.push('=');
                    out.push_str(&slf.getattr(attr.as_str())?.repr()?.to_string_lossy());
                }
                out.push(')');
                Ok(out)
            }

            fn __richcmp__(&self, other: &Bound<'_, PyAny>, op: pyo3::basic::CompareOp) -> PyResult<Py<PyAny>> {
                let py = other.py();
                let Ok(other) = other.cast::<$py>() else {
                    return Ok(py.NotImplemented());
                };
                let equal = self.0 == other.get().0;
                Ok(match op {
                    pyo3::basic::CompareOp::Eq => equal.into_pyobject(py)?.to_owned().into_any().unbind(),
                    pyo3::basic::CompareOp::Ne => (!equal).into_pyobject(py)?.to_owned().into_any().unbind(),
                    _ => py.NotImplemented(),
                })
            }
        }
    };
}

pub(crate) use py_model;

/// Adds read-only dict access (`obj["id"]`, `obj.get("id")`, `obj.keys()`, `dict(obj)`) to
/// `py_model!` classes that the seed API returned as dicts, over their JSON form.
macro_rules! dict_access {
    ($($py:ident),* $(,)?) => {$(
        #[pymethods]
        impl $py {
            fn __getitem__<'py>(&self, py: Python<'py>, key: &str) -> PyResult<Bound<'py, PyAny>> {
                match $crate::types::ToJson::to_json(&self.0).get(key) {
                    Some(value) => $crate::py::convert::value_to_py(py, value),
                    None => Err(pyo3::exceptions::PyKeyError::new_err(key.to_owned())),
                }
            }

            /// The value of a field by its JSON name, or `default`.
            #[pyo3(signature = (key, default=None))]
            fn get<'py>(
                &self,
                py: Python<'py>,
                key: &str,
                default: Option<Bound<'py, PyAny>>,
            ) -> PyResult<Bound<'py, PyAny>> {
                match $crate::types::ToJson::to_json(&self.0).get(key) {
                    Some(value) => $crate::py::convert::value_to_py(py, value),
                    None => Ok(default.unwrap_or_else(|| py.None().into_bound(py))),
                }
            }

            /// The JSON field names, as `dict.keys()` would give them.
            fn keys(&self) -> Vec<String> {
                match $crate::types::ToJson::to_json(&self.0) {
                    serde_json::Value::Object(map) => map.keys().cloned().collect(),
                    _ => Vec::new(),
                }
            }
        }
    )*};
}

pub(crate) use dict_access;

py_model!(
    PyPromptTokensDetails,
    "PromptTokensDetails",
    PromptTokensDetails,
    [cached_tokens, audio_tokens]
);
py_model!(
    PyCompletionTokensDetails,
    "CompletionTokensDetails",
    CompletionTokensDetails,
    [
        reasoning_tokens,
        audio_tokens,
        accepted_prediction_tokens,
        rejected_prediction_tokens
    ]
);
py_model!(PyTopLogprob, "TopLogprob", TopLogprob, [token, logprob, bytes]);
py_model!(
    PyTokenLogprob,
    "TokenLogprob",
    TokenLogprob,
    [token, logprob, bytes, top_logprobs]
);
py_model!(PyChoiceLogprobs, "ChoiceLogprobs", ChoiceLogprobs, [content, refusal]);
py_model!(
    PyUsage,
    "Usage",
    Usage,
    [
        prompt_tokens,
        completion_tokens,
        total_tokens,
        prompt_tokens_details,
        completion_tokens_details
    ]
);
py_model!(PyFunctionCall, "FunctionCall", FunctionCall, [name, arguments]);
py_model!(PyToolCall, "ToolCall", ToolCall, [id, r#type, function]);
py_model!(
    PyAssistantMessage,
    "AssistantMessage",
    AssistantMessage,
    [role, content, tool_calls, refusal]
);
py_model!(PyChoice, "Choice", Choice, [index, message, finish_reason, logprobs]);
py_model!(
    PyChatCompletionResponse,
    "ChatCompletionResponse",
    ChatCompletionResponse,
    [
        id,
        object,
        created,
        model,
        choices,
        usage,
        system_fingerprint,
        service_tier,
        cost,
        request_id,
        deployment,
        cache_hit
    ]
);
py_model!(
    PyFunctionCallDelta,
    "FunctionCallDelta",
    FunctionCallDelta,
    [name, arguments]
);
py_model!(
    PyToolCallDelta,
    "ToolCallDelta",
    ToolCallDelta,
    [index, id, r#type, function]
);
py_model!(
    PyStreamDelta,
    "StreamDelta",
    StreamDelta,
    [role, content, tool_calls, refusal]
);

/// `reasoning_content`, or the `reasoning` text some providers (OpenRouter, Groq, vLLM) send
/// under that name instead.
fn reasoning<'a>(content: Option<&'a str>, extra: &'a serde_json::Map<String, Value>) -> Option<&'a str> {
    content.or_else(|| extra.get("reasoning").and_then(Value::as_str))
}

#[pymethods]
impl PyAssistantMessage {
    #[getter]
    fn reasoning_content(&self) -> Option<&str> {
        reasoning(self.0.reasoning_content.as_deref(), &self.0.extra)
    }
}

#[pymethods]
impl PyStreamDelta {
    #[getter]
    fn reasoning_content(&self) -> Option<&str> {
        reasoning(self.0.reasoning_content.as_deref(), &self.0.extra)
    }
}
py_model!(
    PyStreamChoice,
    "StreamChoice",
    StreamChoice,
    [index, delta, finish_reason, logprobs]
);
py_model!(
    PyChatCompletionChunk,
    "ChatCompletionChunk",
    ChatCompletionChunk,
    [
        id,
        object,
        created,
        model,
        choices,
        usage,
        system_fingerprint,
        service_tier
    ]
);

#[pymethods]
impl PyChatCompletionResponse {
    /// The whole answer a stream's chunks make up: texts and tool-call arguments joined per
    /// choice, the last finish reason and usage kept, priced by the pricing table.
    #[staticmethod]
    fn from_chunks(chunks: &Bound<'_, PyAny>) -> PyResult<Self> {
        let mut all = Vec::new();
        for item in chunks.try_iter()? {
            let item = item?;
            let chunk = item.cast::<PyChatCompletionChunk>().map_err(|_| {
                pyo3::exceptions::PyTypeError::new_err(format!(
                    "chunks must hold ChatCompletionChunk objects, not {}",
                    crate::py::json::type_name(&item)
                ))
            })?;
            all.push(chunk.get().0.clone());
        }
        let mut response = crate::cache::payload::assemble(&all);
        response.cost = response
            .usage
            .as_ref()
            .and_then(|u| crate::pricing::cost(&response.model, u));
        Ok(PyChatCompletionResponse(response))
    }
}

/// Adds the model classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPromptTokensDetails>()?;
    m.add_class::<PyCompletionTokensDetails>()?;
    m.add_class::<PyTopLogprob>()?;
    m.add_class::<PyTokenLogprob>()?;
    m.add_class::<PyChoiceLogprobs>()?;
    m.add_class::<PyUsage>()?;
    m.add_class::<PyFunctionCall>()?;
    m.add_class::<PyToolCall>()?;
    m.add_class::<PyAssistantMessage>()?;
    m.add_class::<PyChoice>()?;
    m.add_class::<PyChatCompletionResponse>()?;
    m.add_class::<PyFunctionCallDelta>()?;
    m.add_class::<PyToolCallDelta>()?;
    m.add_class::<PyStreamDelta>()?;
    m.add_class::<PyStreamChoice>()?;
    m.add_class::<PyChatCompletionChunk>()?;
    Ok(())
}
