#pragma once
/// The `anthropic` kind: Anthropic's Messages API (`POST {base}/v1/messages`,
/// `x-api-key` + `anthropic-version: 2023-06-01`). OpenAI chat requests are
/// translated to Messages requests and answers back to chat.completion /
/// chat.completion.chunk, so clients keep speaking OpenAI.
///
/// Translation notes (why the output looks the way it does):
/// - Every `system` and `developer` message, wherever it appears, goes to the
///   top-level `system` (joined with blank lines, in order): Anthropic has no
///   system role inside `messages`, and leaving one there would break the
///   user/assistant alternation.
/// - Consecutive same-role turns are merged, `tool` messages become
///   `tool_result` blocks of a user turn (placed first in that turn, as
///   Anthropic requires), and a conversation that would not start with a
///   user turn gets a one-character "." user turn in front, because
///   Anthropic rejects anything else and OpenAI clients legitimately send
///   e.g. [system, assistant greeting, user].
/// - Anthropic-shaped blocks (`tool_use`, `tool_result`, `image` with a
///   `source`, `document`, `thinking`, `redacted_thinking`) inside OpenAI
///   messages pass through unchanged, so histories recorded from Anthropic
///   can be replayed through /v1/chat/completions.
/// - `max_tokens` is required by Anthropic: max_completion_tokens, else
///   max_tokens, else the catalogue's full output limit (chat_context).
/// - `temperature` is clamped to Anthropic's 0..1 range.
/// - `response_format` json_object / json_schema has no native equivalent
///   in the 2023-06-01 API, so an instruction asking for JSON only (and the
///   schema, when given) is appended to `system`. The answer is not
///   validated against the schema.
/// - `n` other than 1, audio input and files other than inline PDFs are
///   refused with a 400 naming the parameter: Anthropic cannot honour them
///   and silently dropping them would change the answer.

#include <memory>

#include <nlohmann/json.hpp>

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The Anthropic Messages API adapter (kind "anthropic").
const provider_adapter& anthropic_adapter() noexcept;

/// A fresh decoder for an Anthropic Messages SSE body; emits OpenAI chunks
/// (one stable id, role chunk first, tool-call indices 0..n-1 in order of
/// appearance, a finish chunk, a `choices: []` usage chunk, then `done`).
std::unique_ptr<stream_decoder> make_anthropic_stream_decoder();

/// The Messages request body for an OpenAI chat request (what
/// `chat_request` sends), exposed for tests and for callers that need the
/// body without an endpoint. Failures are 400s naming the parameter.
result<nlohmann::json> openai_to_anthropic_request(const nlohmann::json& body,
                                                   std::string_view upstream_model, bool stream,
                                                   const chat_context& cc = {});

/// The OpenAI chat.completion for a parsed Anthropic Message (what
/// `chat_response` returns); a 502 failure when it is not a Message.
result<nlohmann::json> anthropic_message_to_openai(const nlohmann::json& message);

} // namespace oag::adapters
