#pragma once
/// The built-in `mock` provider: an in-process upstream that answers
/// OpenAI-wire requests deterministically, so a fresh install works with no
/// provider account and tests have a predictable model.
///
/// Models: `mock/echo` (any model name behaves the same) replies with the
/// last user message. Directives in the last user message:
///   `#mock:tool=NAME:{"json":"args"}`  emit a call to tool NAME (repeat for
///                                       parallel calls)
///   `#mock:error=STATUS`               answer with an OpenAI error body
/// Usage: prompt_tokens = words in all message texts + 3 per message;
/// completion_tokens = words in the reply (or in the tool arguments), times
/// `n` (every choice is the same reply).
/// Streams send one chunk per word, then usage when asked for, then [DONE].
///
/// Details: `stop` cuts the reply at the earliest stop string;
/// max_completion_tokens / max_tokens cut it to that many words
/// (finish_reason "length"). Tool calls get ids call_1, call_2, ... A
/// conversation that ends in `tool` messages is answered with the tool
/// results as text (directives are not re-run, so agent loops terminate).
/// Ids are "chatcmpl-mock-<hash of model and messages>".
/// Embeddings: unit-length float32 vectors derived from a hash of each
/// input (8 dimensions unless `dimensions` is given; base64 supported);
/// prompt_tokens = words (or token ids) in the inputs.

#include <string>

#include "oag/adapters/http_types.hpp"

namespace oag::adapters {

/// A complete upstream answer.
struct mock_response {
  int status = 200;
  header_list headers;
  std::string body;
};

/// Answers an outbound request built by the openai adapter
/// (`/chat/completions` or `/embeddings`). A streamed chat answer is the
/// complete SSE body. Never throws; bad requests get OpenAI error bodies.
mock_response mock_answer(const outbound_request& request);

/// The origin the openai adapter targets for kind `mock` without a base
/// URL: "http://mock:0" with path "/v1" (never connectable, so a request
/// that misses the in-process shortcut fails fast instead of leaking).
url mock_origin();

/// True when `origin` is `mock_origin()`.
bool is_mock_origin(const url& origin) noexcept;

} // namespace oag::adapters
