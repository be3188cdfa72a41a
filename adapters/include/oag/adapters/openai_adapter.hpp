#pragma once
/// The `openai` kind: any OpenAI-compatible base URL (`{base}/chat/completions`,
/// `{base}/embeddings`, Bearer auth). Requests pass through faithfully; only
/// `model` is replaced and, for streams, `stream_options.include_usage` is
/// forced on so OAG can meter (the call actor strips the usage chunk again
/// when the client did not ask for it).
///
/// For kind `mock` with an empty base URL, requests target `mock_origin()`
/// (see mock_upstream.hpp) and are answered in-process by `mock_answer`.

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The OpenAI wire adapter (also the translation used by `mock`).
const provider_adapter& openai_adapter() noexcept;

/// The OpenAI SSE decoder, usable by compatible kinds.
std::unique_ptr<stream_decoder> make_openai_stream_decoder();

/// Removes anything that looks like a credential from text an upstream
/// sent (Bearer tokens, `sk-…` keys, Google `AIza…` keys, `api_key=…`
/// values), so provider error messages can be shown to clients and logged.
std::string scrub_credentials(std::string_view text);

} // namespace oag::adapters
