#pragma once
/// The provider adapter interface. OAG's canonical request and response
/// shapes are OpenAI's chat completion JSON; each adapter translates that
/// to its provider's wire format and back, streamed and not. Callers (the
/// call actor) see only this interface, so new providers (Anthropic,
/// Gemini, Ollama, ...) plug in without touching them.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/adapters/http_types.hpp"
#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::adapters {

/// One translated streaming event.
struct stream_event {
  enum class type {
    chunk, ///< `data` is an OpenAI `chat.completion.chunk` (may carry usage)
    done,  ///< the upstream ended the stream cleanly
    error, ///< the upstream reported an error or ended without a terminal event
  };
  type what = type::chunk;
  nlohmann::json data;
  failure error;
};

/// Turns an upstream stream body into OpenAI chunks. Stateful, one per call.
class stream_decoder {
 public:
  virtual ~stream_decoder() = default;
  /// Feeds raw body bytes (split anywhere); appends completed events.
  virtual void feed(std::string_view bytes, std::vector<stream_event>& out) = 0;
  /// The upstream body ended. Appends an error event when the stream had
  /// no terminal event (a cut stream must not look like a clean end).
  virtual void finish(std::vector<stream_event>& out) = 0;
};

/// Per-call facts an adapter may need beyond the request body.
struct chat_context {
  /// The model's full output limit from the catalogue. Sent as the output
  /// limit when the client gave none and the provider requires one
  /// (Anthropic): never a silent small default.
  std::int64_t max_output_tokens = 4096;
};

/// Translation for one provider kind. Implementations are stateless and
/// shared by all calls.
class provider_adapter {
 public:
  virtual ~provider_adapter() = default;

  /// The kind name ("openai", "mock").
  virtual std::string_view kind() const noexcept = 0;

  /// Builds the upstream request for a validated OpenAI chat request.
  /// `upstream_model` is the model name the provider knows. When `stream`
  /// is set the adapter asks the upstream to report usage in the stream.
  virtual result<outbound_request> chat_request(const nlohmann::json& body,
                                                std::string_view upstream_model,
                                                bool stream,
                                                const provider_endpoint& ep,
                                                const chat_context& cc = {}) const = 0;

  /// The base URL used when a provider of this kind is connected without
  /// one (presets such as groq); nullopt when a base URL is required.
  virtual std::optional<std::string> default_base_url() const { return std::nullopt; }

  /// Translates a complete 2xx upstream body into an OpenAI chat.completion.
  virtual result<nlohmann::json> chat_response(std::string_view body) const = 0;

  /// A fresh decoder for a streamed 2xx upstream body.
  virtual std::unique_ptr<stream_decoder> chat_stream_decoder() const = 0;

  /// Builds the upstream request for a validated OpenAI embeddings request;
  /// fails with invalid_request if the kind has no embeddings.
  virtual result<outbound_request> embeddings_request(const nlohmann::json& body,
                                                      std::string_view upstream_model,
                                                      const provider_endpoint& ep) const = 0;

  /// Translates a 2xx embeddings body into OpenAI's embeddings list.
  virtual result<nlohmann::json> embeddings_response(std::string_view body) const = 0;

  /// Maps a non-2xx upstream answer to a failure with the upstream's status
  /// and message, never its credentials; `retry-after` is carried over.
  virtual failure upstream_failure(int status, const header_list& headers,
                                   std::string_view body) const = 0;
};

/// The adapter for a kind; nullptr when OAG has none.
const provider_adapter* find_adapter(std::string_view kind) noexcept;

/// Reads OpenAI-shaped `usage` (prompt_tokens, completion_tokens,
/// prompt_tokens_details.cached_tokens); nullopt when absent or null.
std::optional<money::token_usage> usage_of(const nlohmann::json& response_or_chunk);

} // namespace oag::adapters
