#pragma once
/// Validation of client requests (pure functions; errors are 400
/// invalid_request_error with `param` naming the field, e.g.
/// "messages[1].content").

#include <cstdint>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::adapters {

/// Checks a /v1/chat/completions body: model, messages (roles, content
/// forms, tool_calls, tool_call_id), stream, stream_options, n, stop,
/// max_tokens / max_completion_tokens, temperature, top_p, tools,
/// tool_choice, response_format.
result<void> validate_chat_request(const nlohmann::json& body);

/// Checks a /v1/embeddings body: model, input (string, string[], int[],
/// int[][]; non-empty), encoding_format, dimensions.
result<void> validate_embeddings_request(const nlohmann::json& body);

/// A deliberately high estimate of prompt tokens (for reservations): never
/// below the real count for ordinary text.
std::int64_t estimate_prompt_tokens(const nlohmann::json& body);

/// The output token limit the client asked for (max_completion_tokens,
/// else max_tokens), if any, times `n`.
std::optional<std::int64_t> requested_output_tokens(const nlohmann::json& body);

} // namespace oag::adapters
