#pragma once
/// Private helpers shared by the natively translated kinds (gemini, ollama):
/// request-side readers of OpenAI bodies, builders of OpenAI-shaped results
/// and chunks, and the status → failure mapping of providers whose error
/// bodies are not OpenAI's. Not installed: only adapters/src includes it.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/adapters/adapter.hpp"

namespace oag::adapters::native {

/// A 400 invalid_request failure naming the parameter at fault.
failure bad_request(std::string message, std::string param);

/// The string member `key` of `obj`; `fallback` when `obj` is not an
/// object or the member is missing or not a string (json::value would
/// throw on a wrong type, and upstream bodies are untrusted).
std::string str(const nlohmann::json& obj, const char* key, std::string_view fallback = "");

/// The text of a message `content`: the string itself, or the `text` of
/// every text part joined with `separator` (non-text parts are skipped).
std::string text_of(const nlohmann::json& content, std::string_view separator = "\n");

/// A parsed `data:<mime>;base64,<data>` URL.
struct data_url {
  std::string mime_type;
  std::string data; ///< still base64, as both Gemini and Ollama want it
};

/// Parses a base64 data URL; nullopt for anything else (including
/// non-base64 data URLs, which neither provider accepts).
std::optional<data_url> parse_data_url(std::string_view url);

/// A MIME type guessed from a URL's or file name's extension ("" if unknown).
std::string mime_type_of_name(std::string_view name);

/// The client's output limit: max_completion_tokens, else max_tokens.
std::optional<std::int64_t> max_output_of(const nlohmann::json& body);

/// `stop` as an array of strings (empty when absent or null).
nlohmann::json stop_list(const nlohmann::json& body);

/// Parses a tool call's `arguments` string into the object Gemini's `args`
/// and Ollama's `arguments` need. Empty text is `{}`; text that is not a
/// JSON object (models do emit such) is kept as {"value": <json or text>}
/// rather than failing a whole conversation over one old turn.
nlohmann::json arguments_object(const nlohmann::json& arguments);

/// OpenAI usage: prompt/completion/total plus cached and reasoning details.
nlohmann::json usage_json(std::int64_t prompt, std::int64_t completion, std::int64_t cached,
                          std::int64_t reasoning);

/// A non-negative integer field of `obj` (0 when absent or not a count).
std::int64_t count_field(const nlohmann::json& obj, const char* key);

/// Seconds since the epoch (chunks and completions carry `created`).
std::int64_t now_seconds();

/// A fresh "chatcmpl-…" id, unique within the process.
std::string new_completion_id();

/// The synthesized OpenAI id of the n-th tool call of a response.
std::string tool_call_id(std::size_t n);

/// Percent-encodes one URL path segment (model and deployment names).
std::string encode_path_segment(std::string_view segment);

/// Builds chat.completion.chunk objects with one stable id, created and
/// model, as OpenAI's contract requires for every chunk of a response.
class chunk_builder {
 public:
  chunk_builder();
  void set_id(std::string id) { id_ = std::move(id); }
  void set_model(std::string model) { model_ = std::move(model); }
  /// A chunk with one choice carrying `delta` (and `finish_reason`).
  nlohmann::json choice(std::size_t index, nlohmann::json delta,
                        std::optional<std::string> finish = std::nullopt) const;
  /// The usage-only chunk (`choices: []`).
  nlohmann::json usage(nlohmann::json usage) const;

 private:
  std::string id_;
  std::int64_t created_;
  std::string model_;
};

/// Appends a chunk event.
void push_chunk(std::vector<stream_event>& out, nlohmann::json chunk);

/// Appends an error event (502 upstream_error with `message`).
void push_error(std::vector<stream_event>& out, std::string message);

/// Appends the clean-end event.
void push_done(std::vector<stream_event>& out);

/// Maps a non-2xx status of a provider with its own error body to OAG's
/// failure, as the OpenAI kind does: the provider's 4xx refusals of the
/// request pass on, rejected credentials are a gateway error (502), rate
/// limits stay 429 with retry-after, overload 503, timeouts 504, the rest
/// 502. `message` is already scrubbed.
failure status_failure(int status, const header_list& headers,
                       std::optional<std::string> message);

/// For a parsed response body carrying a non-null `error` member: the
/// 502 "upstream reported an error: …" failure (plain "upstream sent an
/// invalid response" when the error has no message). nullopt otherwise.
std::optional<failure> reported_error(const nlohmann::json& doc);

/// A POST of `payload` to `target` (appended to the origin's path) on the
/// endpoint, `default_base` standing in for an empty base URL; the
/// credential and Accept are as `wire::request_headers` makes them.
result<outbound_request> post_request(const nlohmann::json& payload, const std::string& target,
                                      bool stream, const provider_endpoint& ep,
                                      std::string_view default_base, std::string_view auth_name,
                                      std::string_view auth_prefix,
                                      std::string_view stream_accept = "text/event-stream");

/// Builds OpenAI's embeddings list from vectors of numbers.
nlohmann::json embeddings_list(const nlohmann::json& vectors);

} // namespace oag::adapters::native
