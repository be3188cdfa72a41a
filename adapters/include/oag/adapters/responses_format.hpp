#pragma once
/// The OpenAI Responses API (`POST /v1/responses`) wire format, translated
/// to and from OAG's internal Chat Completions shape. Pure functions and one
/// stream encoder: no I/O, no actors, no exceptions escape.
///
/// Wiring for the caller (the run engine):
/// 1. `parse_request(body)`; on failure answer `http_status_of(f)` with
///    `to_openai_error_body(f)`. The input items were checked by converting
///    them, so converting them again cannot fail.
/// 2. Gather the history of earlier turns as chat messages (the input and
///    output items of the `previous_response_id` chain, or the items of
///    `conversation_id`, through `items_to_chat_messages`). Instructions of
///    earlier responses are NOT carried over (OpenAI's rule).
/// 3. `chat_body(req, history, stream)` is the chat request to route.
/// 4. Not streamed: `response_from_chat(...)` (or `output_items_from_chat`
///    plus `response_object`). Streamed: one `stream_encoder` per call:
///    `start()`, `on_chunk(c)` per chunk, then `finish(usage)` or
///    `fail(f)`. Send `Content-Type: text/event-stream`; never `[DONE]`.
/// 5. Store the response's input items (`req.input_items`) and output
///    items; for a conversation append them with the helpers at the end.
///
/// Ids: item ids come from a caller-supplied `id_source`; it is called with
/// the full prefix ("msg_" or "fc_") and must return the whole id, e.g.
/// "msg_" + 24 random hex digits.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::adapters::responses {

/// Makes a new unique id from a prefix such as "msg_" or "fc_" (the
/// returned id includes the prefix).
using id_source = std::function<std::string(std::string_view prefix)>;

/// A validated POST /v1/responses body. Fields OAG does not act on
/// (include, service_tier, prompt_cache_key, safety_identifier, top_logprobs,
/// max_tool_calls, stream_options, context_management) are type-checked
/// when known and otherwise ignored.
struct request {
  /// The model (or alias) asked for; never empty.
  std::string model;
  /// The system message of this response only (not inherited by the next).
  std::optional<std::string> instructions;
  /// Always an array of normalized items: every message item has
  /// `type:"message"` and an array of content parts (a string input is one
  /// `{type:"message", role:"user", content:[{type:"input_text", text}]}`;
  /// string content becomes one input_text part, or output_text for an
  /// assistant). Other items are kept as given.
  nlohmann::json input_items = nlohmann::json::array();
  /// Responses-shaped function tools as given (`{type:"function", name,
  /// description?, parameters?, strict?}`); an empty array when absent.
  nlohmann::json tools = nlohmann::json::array();
  /// The tool_choice as given; null when absent.
  nlohmann::json tool_choice;
  /// The response this one continues, if any.
  std::optional<std::string> previous_response_id;
  /// `"conversation": "conv_…"` or `{"id": "conv_…"}`.
  std::optional<std::string> conversation_id;
  /// Keep the response for later retrieval (default true).
  bool store = true;
  /// Answer with server-sent events.
  bool stream = false;
  /// Run in the background (requires store).
  bool background = false;
  /// Allow parallel tool calls; nullopt = provider default (true).
  std::optional<bool> parallel_tool_calls;
  /// Sampling temperature, 0..2.
  std::optional<double> temperature;
  /// Nucleus sampling, 0..1.
  std::optional<double> top_p;
  /// Upper bound of output tokens (the spec's minimum is 16).
  std::optional<std::int64_t> max_output_tokens;
  /// A string map, at most 16 keys (≤ 64 chars), values ≤ 512 chars; {} by default.
  nlohmann::json metadata = nlohmann::json::object();
  /// `{"format": {...}, "verbosity"?: ...}`; default `{"format":{"type":"text"}}`.
  nlohmann::json text = nlohmann::json{{"format", {{"type", "text"}}}};
  /// The deprecated end-user identifier, passed on to the chat request.
  std::optional<std::string> user;
  /// `reasoning` as given (`{effort?, summary?}`), or null.
  nlohmann::json reasoning;
  /// "disabled" (default) or "auto"; echoed, OAG never truncates input.
  std::string truncation = "disabled";
};

/// Validates a POST /v1/responses body. Failures are 400 invalid_request
/// with `param` paths such as "input[2].content[0].type" or
/// "tools[0].type": missing or non-string model; input neither a string
/// nor an array; unknown item types or content part types; bad roles;
/// tools other than type "function" ("tool type 'web_search' is not
/// supported by OAG"); tool_choice naming an unknown or hosted tool;
/// previous_response_id together with conversation; background without
/// store; metadata that is not a string map within OpenAI's limits; a
/// `prompt` template; wrong types or ranges of every known scalar field.
/// An absent `input` gives no items (the history or instructions must then
/// provide the messages).
result<request> parse_request(const nlohmann::json& body);

/// Converts Responses items (input items, or the stored items of earlier
/// turns) to chat messages:
/// - message items (role user/system/developer/assistant, content a string
///   or input_text / output_text / input_image{image_url} / input_file /
///   refusal parts) → one message; a lone text part becomes a string,
///   several stay text parts; assistant refusals go to `refusal`;
/// - function_call items → an assistant message with tool_calls
///   (`id` = call_id); consecutive function_calls, and function_calls right
///   after an assistant message, merge into that one assistant message;
/// - function_call_output items → a "tool" message with tool_call_id =
///   call_id (text parts joined by "\n"); images and files of outputs
///   follow as one user message after the run of tool messages;
/// - reasoning items are dropped (no provider can verify them).
/// `param_prefix` names the array in failures ("input[3].role").
result<nlohmann::json> items_to_chat_messages(const nlohmann::json& items,
                                              std::string_view param_prefix = "input");

/// Prepends `instructions` (when set) as the first, system, message.
nlohmann::json with_instructions(const std::optional<std::string>& instructions,
                                 nlohmann::json chat_messages);

/// Flat Responses function tools `{type:"function", name, description,
/// parameters, strict}` → chat tools `{type:"function", function:{name,
/// description?, parameters?, strict?}}` (null members are left out).
nlohmann::json tools_to_chat(const nlohmann::json& tools);

/// Responses tool_choice → chat tool_choice: "auto" / "none" / "required"
/// unchanged; `{type:"function", name}` → `{type:"function",
/// function:{name}}`; `{type:"allowed_tools", mode, tools}` → `{type:
/// "allowed_tools", allowed_tools:{mode, tools:[{type:"function",
/// function:{name}}]}}`; null stays null (the caller leaves it out).
nlohmann::json tool_choice_to_chat(const nlohmann::json& tool_choice);

/// The chat completion request for a parsed request: model; messages =
/// instructions (system) + `history_messages` (earlier turns, already chat
/// messages, NOT including `req.input_items`) + the converted input items;
/// tools, tool_choice, parallel_tool_calls (only with tools), temperature,
/// top_p, max_output_tokens → max_completion_tokens, text.format
/// json_schema / json_object → response_format, reasoning.effort →
/// reasoning_effort, user, metadata is not sent; with `stream`, stream:true
/// and stream_options.include_usage.
nlohmann::json chat_body(const request& req, const nlohmann::json& history_messages,
                         bool stream);

/// The Responses `usage` for a chat usage object (prompt_tokens,
/// completion_tokens, prompt_tokens_details.cached_tokens,
/// completion_tokens_details.reasoning_tokens): `{input_tokens,
/// input_tokens_details:{cached_tokens, cache_write_tokens},
/// output_tokens, output_tokens_details:{reasoning_tokens},
/// total_tokens}`. A usage already in Responses shape is normalized; null
/// or anything else gives null.
nlohmann::json usage_from_chat(const nlohmann::json& chat_usage);

/// The Responses `usage` for metered token counts.
nlohmann::json usage_from_tokens(const money::token_usage& usage);

/// How a chat finish_reason ends a response.
struct outcome {
  /// "completed" or "incomplete".
  std::string status = "completed";
  /// For "incomplete": "max_output_tokens" (finish_reason length) or
  /// "content_filter".
  std::optional<std::string> incomplete_reason;
};

/// length → incomplete (max_output_tokens); content_filter → incomplete
/// (content_filter); anything else (stop, tool_calls, absent) → completed.
outcome outcome_of(std::string_view finish_reason);

/// chat.completion → Responses output items, in this order: one "message"
/// item (id from `new_id("msg_")`, role "assistant", content
/// [{type:"output_text", text, annotations, logprobs:[]}] and/or
/// [{type:"refusal", refusal}]) unless the answer is only tool calls, then
/// one "function_call" item per tool call (id from `new_id("fc_")`,
/// call_id = the tool call id, name, arguments). Item status is
/// "completed", or "incomplete" when the finish_reason makes the response
/// incomplete. A completion with neither text nor calls gives a message
/// with empty text.
nlohmann::json output_items_from_chat(const nlohmann::json& chat_completion,
                                      const id_source& new_id);

/// The Response object: id, object "response", created_at, status,
/// completed_at (given, else null), error, incomplete_details,
/// instructions, max_output_tokens, model (the name the client asked for),
/// output, parallel_tool_calls (default true), previous_response_id,
/// reasoning, store, background, temperature (default 1), text,
/// tool_choice (default "auto"), tools, top_p (default 1), truncation,
/// usage (`usage_from_chat`; null when unknown), user, metadata, and
/// conversation {id} when the request names one. `output_text` is left to
/// the SDKs. For status "incomplete", incomplete_details is
/// {reason: incomplete_reason or "max_output_tokens"}; `error` is
/// `{code, message}` (see `response_error`) or null.
nlohmann::json response_object(const request& req, std::string_view id,
                               std::int64_t created_at, std::string_view status,
                               const nlohmann::json& output, const nlohmann::json& usage,
                               const nlohmann::json& error,
                               const std::optional<std::string>& incomplete_reason = std::nullopt,
                               std::optional<std::int64_t> completed_at = std::nullopt);

/// The whole non-streamed answer for a chat.completion: output items,
/// status from the finish_reason, usage from the completion.
nlohmann::json response_from_chat(const request& req, std::string_view id,
                                  std::int64_t created_at, const nlohmann::json& chat_completion,
                                  const id_source& new_id,
                                  std::optional<std::int64_t> completed_at = std::nullopt);

/// A Response `error` `{code, message}` for a failure; code is one of the
/// spec's ResponseErrorCode values: rate_limit_exceeded (429s),
/// invalid_prompt (400s), server_error (everything else).
nlohmann::json response_error(const failure& f);

/// Turns one call's chat.completion.chunk stream into Responses SSE frames
/// ("event: <type>\ndata: <json>\n\n"); every event carries `type` and a
/// `sequence_number` counting from 0. Order: response.created,
/// response.in_progress; per item response.output_item.added (output_index
/// 0, 1, … in order of first appearance), for the message
/// response.content_part.added then response.output_text.delta… (or
/// response.refusal.delta…), for each tool call (by chat `index`)
/// response.function_call_arguments.delta…; text and call deltas may
/// interleave. At the end every item is closed in output_index order
/// (message: response.output_text.done / response.refusal.done,
/// response.content_part.done, response.output_item.done; call:
/// response.function_call_arguments.done, response.output_item.done),
/// then response.completed or response.incomplete with the full response.
/// On failure: response.failed, then an `error` event. Only choice 0 is
/// used. Not thread-safe; one per call.
class stream_encoder {
 public:
  /// `response_id` and `created_at` appear in every response snapshot.
  stream_encoder(request req, std::string response_id, std::int64_t created_at,
                 id_source new_id);

  /// response.created and response.in_progress ("" when already started).
  std::string start();

  /// Events for one chat chunk (start() first if it was not called).
  /// Usage-only chunks (`choices: []`) are remembered for the end.
  std::string on_chunk(const nlohmann::json& chunk);

  /// Closes the open items and ends with response.completed or, when the
  /// finish_reason was length / content_filter, response.incomplete.
  /// `usage` (chat or Responses shaped; null = use the usage seen in
  /// chunks) goes into the final response. "" when already ended.
  std::string finish(const nlohmann::json& usage = nullptr,
                     std::optional<std::int64_t> completed_at = std::nullopt);

  /// Ends a broken stream: response.failed (error {code, message}; output
  /// = the items so far, status "incomplete"), then an `error` event
  /// {code, message, param} (after it, because some SDKs raise on `error`
  /// and would never see response.failed). "" when already ended.
  std::string fail(const failure& f);

  /// The final Response object (null until finish() or fail()).
  const nlohmann::json& final_response() const noexcept { return final_; }

  /// The output items emitted so far, with the text and arguments so far.
  nlohmann::json output_items() const;

  /// True once response.created was produced.
  bool started() const noexcept { return started_; }
  /// True once finish() or fail() produced the last event.
  bool ended() const noexcept { return ended_; }

 private:
  /// One output item being streamed.
  struct slot {
    nlohmann::json item;  ///< the item as it stands (text/arguments so far)
    bool is_call = false;
    std::int64_t text_part = -1;     ///< content_index of output_text, if any
    std::int64_t refusal_part = -1;  ///< content_index of refusal, if any
  };

  std::string event(nlohmann::json payload);
  nlohmann::json snapshot(std::string_view status, const nlohmann::json& output,
                          const nlohmann::json& usage, const nlohmann::json& error,
                          const std::optional<std::string>& incomplete_reason,
                          std::optional<std::int64_t> completed_at) const;
  std::string open_message();
  std::string text_delta(const std::string& fragment, bool refusal);
  std::string call_fragment(const nlohmann::json& fragment);
  std::string close_items(std::string_view item_status);

  request req_;
  std::string id_;
  std::int64_t created_at_;
  id_source new_id_;
  std::int64_t seq_ = 0;
  bool started_ = false;
  bool ended_ = false;
  std::vector<slot> slots_;
  std::int64_t message_slot_ = -1;
  /// chat tool-call index → slot.
  std::map<std::int64_t, std::size_t> slot_of_call_;
  std::optional<std::string> finish_reason_;
  nlohmann::json usage_;
  nlohmann::json final_;
};

// ---------------------------------------------------------------------------
// Conversations. Conversation messages live in the Assistants thread message
// store as `thread.message` objects ({id:"msg_…", object:"thread.message",
// created_at, thread_id, role, content:[{type:"text", text:{value,
// annotations:[]}}], status, …}); other items (function_call,
// function_call_output, …) are stored verbatim as conversation records
// {"object":"conversation.item", "id", "item"}.

/// True for message items (`type:"message"`, or a typeless item with a
/// role, as EasyInputMessage allows).
bool is_message_item(const nlohmann::json& item);

/// A stored thread.message → a conversation item `{type:"message", id,
/// status, role, content}`: text parts become input_text for user, system
/// and developer messages and output_text (annotations [], logprobs []) for
/// assistant ones; image_url / image_file parts become input_image;
/// refusal parts stay refusal.
nlohmann::json message_to_item(const nlohmann::json& thread_message);

/// A message item → the fields to create its thread.message: `{role,
/// content}` with Assistants content `[{type:"text", text:{value,
/// annotations:[]}}, {type:"image_url", image_url:{url, detail?}},
/// {type:"image_file", image_file:{file_id, detail?}}, {type:"refusal",
/// refusal}]`. The role is kept as given (user, assistant, system or
/// developer). Failures (400): not a message item, or a part that cannot be
/// stored as a thread message (input_file): store such items verbatim.
result<nlohmann::json> item_to_message_fields(const nlohmann::json& item);

/// The verbatim record of a non-message item: `{"object":
/// "conversation.item", "id", "item"}`, where the item gets `id` when it
/// has none and status "completed" when it has none.
nlohmann::json conversation_record(const nlohmann::json& item, std::string_view id);

/// A stored conversation entry (thread.message or conversation record) →
/// its conversation item; null for anything else.
nlohmann::json stored_to_item(const nlohmann::json& stored);

} // namespace oag::adapters::responses
