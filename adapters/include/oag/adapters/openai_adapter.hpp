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

/// Plumbing shared by the kinds built next to OpenAI's (gemini, ollama,
/// azure, the OpenAI-compatible presets), so that every kind checks
/// origins, builds headers and scrubs upstream errors the same way.
namespace wire {

/// Parses JSON without throwing; a discarded value on malformed input.
nlohmann::json parse_json(std::string_view text);

/// Serialises JSON, replacing invalid UTF-8 (client text may carry it)
/// instead of throwing.
std::string dump(const nlohmann::json& j);

/// A 502 upstream_error failure ("upstream sent an invalid response" by
/// default) for bodies that cannot be translated.
failure upstream_invalid(std::string message = "upstream sent an invalid response");

/// A 502 upstream_error failure for a stream that broke mid-way.
failure stream_failure(std::string message);

/// The origin of `ep.base_url` (the in-process mock for kind `mock` without
/// one); refuses plain http to non-loopback hosts unless the endpoint allows
/// it. Failures are 400 and name the provider, never its key.
result<url> resolve_origin(const provider_endpoint& ep);

/// Content-Type and Accept (`stream_accept` when streaming), the credential
/// as `auth_name: auth_prefix + api_key` when the endpoint has a key, then
/// the endpoint's extra headers (which may override any of these).
result<header_list> request_headers(const provider_endpoint& ep, bool stream,
                                    std::string_view auth_name = "Authorization",
                                    std::string_view auth_prefix = "Bearer ",
                                    std::string_view stream_accept = "text/event-stream");

/// An upstream error body picked apart: `{"error":{"message","code","param"}}`,
/// `{"error":"..."}` or `{"message":"..."}`. Every field is scrubbed of
/// credentials and clipped to a sane length.
struct error_info {
  std::optional<std::string> message;
  std::optional<std::string> code;  ///< string codes only
  std::optional<std::string> param;
};

/// Reads `error_info` from a parsed body (anything else gives no fields).
error_info error_info_of(const nlohmann::json& doc);

/// The upstream's `Retry-After` (delta-seconds or HTTP date) when it is
/// safe to pass on as a header value; nullopt otherwise.
std::optional<std::string> retry_after_of(const header_list& headers);

} // namespace wire

} // namespace oag::adapters
