#pragma once
/// The `gemini` kind: Google's Generative Language API (WIRE.md §6).
/// Chat goes to `{base}/models/{model}:generateContent` (streams to
/// `:streamGenerateContent?alt=sse`), embeddings to `:batchEmbedContents`;
/// the key travels in `x-goog-api-key`. The default base URL is
/// https://generativelanguage.googleapis.com/v1beta.
///
/// Translation notes (OpenAI → Gemini): every system/developer message,
/// wherever it appears, joins `systemInstruction`; assistant → `model`;
/// tool results become `functionResponse` parts of a `user` content, named
/// after the earlier assistant tool call with the same id, with the result
/// as an object (a JSON object result stays itself, anything else is
/// wrapped as {"content": …}); consecutive same-role contents are merged.
/// Back: synthesized tool call ids are `call_<n>` (n counts the calls of
/// one response from 0), `finish_reason` is `tool_calls` whenever function
/// calls came back, thoughts count as completion (reasoning) tokens.

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The Gemini adapter.
const provider_adapter& gemini_adapter() noexcept;

/// A fresh decoder for a `streamGenerateContent?alt=sse` body.
std::unique_ptr<stream_decoder> make_gemini_stream_decoder();

/// Converts an OpenAI/JSON-Schema parameters object into the OpenAPI subset
/// Gemini's `Schema` accepts: unknown keywords ($schema,
/// additionalProperties, $ref, …) are dropped recursively, `oneOf` becomes
/// `anyOf`, `const` an `enum`, and a type list with "null" a `nullable`.
nlohmann::json gemini_schema(const nlohmann::json& schema);

} // namespace oag::adapters
