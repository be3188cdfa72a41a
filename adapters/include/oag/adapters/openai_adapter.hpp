#pragma once
/// The `openai` kind: any OpenAI-compatible base URL (`{base}/chat/completions`,
/// `{base}/embeddings`, Bearer auth). Requests pass through faithfully; only
/// `model` is replaced and, for streams, `stream_options.include_usage` is
/// forced on so OAG can meter (the call actor strips the usage chunk again
/// when the client did not ask for it).

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The OpenAI wire adapter (also the translation used by `mock`).
const provider_adapter& openai_adapter() noexcept;

/// The OpenAI SSE decoder, usable by compatible kinds.
std::unique_ptr<stream_decoder> make_openai_stream_decoder();

} // namespace oag::adapters
