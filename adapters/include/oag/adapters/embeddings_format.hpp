#pragma once
/// OpenAI's `encoding_format` for embeddings, applied after translation.
/// Providers with their own embeddings API (gemini, ollama) always answer
/// with float arrays, while the official OpenAI SDKs ask for base64 by
/// default and decode it; `embeddings_response` sees only the upstream body,
/// so the caller applies the client's choice afterwards.

#include <nlohmann/json.hpp>

namespace oag::adapters {

/// When `request.encoding_format` is "base64", replaces every float array
/// `response.data[].embedding` by the base64 of its little-endian float32
/// values (already-encoded strings are left alone, so this is a no-op for
/// upstreams that honoured the field themselves, such as OpenAI).
void apply_encoding_format(const nlohmann::json& request, nlohmann::json& response);

} // namespace oag::adapters
