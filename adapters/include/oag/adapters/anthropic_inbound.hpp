#pragma once
/// The inbound Anthropic door: `POST /v1/messages` for Anthropic SDK
/// clients. A Messages request is translated to OAG's canonical OpenAI chat
/// request, routed like any other call (to any provider), and the OpenAI
/// answer is translated back to a Message, or, streamed, to Anthropic's
/// SSE events. Pure translation: no I/O, no exceptions escape.
///
/// Wiring for the edge:
/// 1. `anthropic_request_to_openai(body)`; on failure answer
///    `http_status_of(f)` with `anthropic_error_body(f)`.
/// 2. Validate and route the OpenAI request as /v1/chat/completions does.
/// 3. Not streamed: `openai_response_to_anthropic(completion, body.model)`.
///    Streamed: one `anthropic_stream_encoder` per call; write
///    `on_chunk(c)` for every chunk, `finish(usage)` when the call ends
///    cleanly and `error(f)` when it fails after the stream began (before
///    that, answer with a status and `anthropic_error_body`). Send
///    `Content-Type: text/event-stream`; never write `[DONE]`.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::adapters {

/// Validates an Anthropic Messages request (model; max_tokens, an integer
/// >= 1; messages with user/assistant roles whose content is a string or
/// text / image / document / tool_use / tool_result / thinking blocks;
/// system as a string or text blocks; tools; tool_choice; stop_sequences;
/// stream; temperature; top_p; top_k; metadata) and returns the equivalent
/// OpenAI chat request. Failures are 400 invalid_request with `param` paths
/// such as "messages[1].content[0].type".
///
/// Mapping: system → one leading system message; tool_result blocks → tool
/// messages right after the assistant turn (text and images of the same
/// user turn follow as a user message); tool_use → assistant tool_calls;
/// thinking blocks are dropped (other providers cannot verify them);
/// max_tokens → max_completion_tokens; stop_sequences → stop (at most 4,
/// OpenAI's limit, since the call may be routed to any provider);
/// metadata.user_id → user; disable_parallel_tool_use →
/// parallel_tool_calls:false; stream → stream with include_usage (the
/// encoder needs usage for message_delta); top_k has no OpenAI
/// counterpart and is dropped.
result<nlohmann::json> anthropic_request_to_openai(const nlohmann::json& anthropic_body);

/// Rewrites Anthropic-shaped blocks inside an OpenAI chat request's
/// messages (assistant `tool_use` → tool_calls, user `tool_result` → tool
/// messages, `image` with a source → image_url, `thinking` dropped) so the
/// request passes validate_chat_request and can reach any provider.
/// Messages without such blocks are left untouched. Failures are 400s
/// naming the block ("messages[2].content[0].tool_use_id").
result<nlohmann::json> normalize_anthropic_history(const nlohmann::json& chat_body);

/// An OpenAI chat.completion as an Anthropic Message: id "msg_…", type
/// "message", role "assistant", `model` as given (the name the client
/// asked for), content text / tool_use blocks (input parsed from the
/// arguments), stop_reason, stop_sequence null, usage {input_tokens
/// (uncached), output_tokens, cache_read_input_tokens}.
nlohmann::json openai_response_to_anthropic(const nlohmann::json& chat_completion,
                                            std::string_view model);

/// Anthropic's `{type:"error", error:{type, message}}` for a failure; the
/// type follows `http_status_of(f)` (400 invalid_request_error, 401
/// authentication_error, 402 billing_error, 403 permission_error, 404
/// not_found_error, 413 request_too_large, 429 rate_limit_error, 503/529
/// overloaded_error, 504 timeout_error, other 5xx api_error). The offending
/// parameter, if any, leads the message as Anthropic does ("max_tokens: …").
std::string anthropic_error_body(const failure& f);

/// Turns one call's OpenAI chat.completion.chunk stream into Anthropic SSE
/// bytes in exactly the order the Anthropic SDKs expect: message_start,
/// then per block content_block_start / content_block_delta… /
/// content_block_stop, then message_delta (stop_reason, usage) and
/// message_stop. Not thread-safe; one per call.
class anthropic_stream_encoder {
 public:
  /// `model` is echoed in message_start (the name the client asked for).
  explicit anthropic_stream_encoder(std::string model);

  /// Events for one OpenAI chunk (message_start before the first one).
  /// Usage-only chunks (`choices: []`) are remembered for message_delta.
  std::string on_chunk(const nlohmann::json& openai_chunk);

  /// Closes the open block and ends the message. `usage` (e.g. the
  /// metered usage of the call) wins over usage seen in chunks. Returns ""
  /// when the stream already ended.
  std::string finish(const std::optional<money::token_usage>& usage);

  /// An `error` event (Anthropic's error shape) ending the stream; "" when
  /// the stream already ended.
  std::string error(const failure& f);

  /// True once message_start was produced.
  bool started() const noexcept { return started_; }

 private:
  std::string start(const nlohmann::json& chunk);
  std::string close_block();
  std::string text(const std::string& fragment);
  std::string tool(const nlohmann::json& fragment);

  enum class block { none, text, tool };

  std::string model_;
  std::string id_;
  bool started_ = false;
  bool ended_ = false;
  block open_ = block::none;
  std::int64_t open_index_ = -1;
  std::int64_t next_index_ = 0;
  /// OpenAI tool-call index → Anthropic block index.
  std::map<std::int64_t, std::int64_t> block_of_tool_;
  std::optional<std::string> finish_reason_;
  std::optional<money::token_usage> usage_;
};

} // namespace oag::adapters
