#pragma once
/// Kinds that speak OpenAI's wire format with small differences
/// (WIRE.md §8): `azure` and the presets `deepseek`, `groq`, `mistral`,
/// `xai`, `openrouter`, `together`. Each is one row of a table (default
/// base URL, auth header, request quirks) over the OpenAI translation.
///
/// Streams of all of them are normalised so that usage arrives as one
/// usage-only chunk (`choices: []`) right before the end, wherever the
/// provider put it: on the last choice chunk (Mistral, Together), inside
/// `x_groq.usage` (Groq) or in a usage chunk of its own (the rest).
///
/// Azure: requests go to `{base}/openai/deployments/{upstream model}/
/// chat/completions?api-version=V` (embeddings `…/embeddings?…`) with the
/// key in `api-key`. V is the `api-version` query parameter of the
/// provider's base URL when it has one, else `azure_default_api_version`;
/// a base URL that already ends in `/openai` is not extended again.

#include <string>
#include <string_view>

#include "oag/adapters/adapter.hpp"

namespace oag::adapters {

/// The api-version used when an azure base URL names none (the GA version
/// of the data-plane API that supports `stream_options`).
inline constexpr std::string_view azure_default_api_version = "2024-10-21";

/// The Azure OpenAI adapter.
const provider_adapter& azure_adapter() noexcept;

/// The adapter of an OpenAI-compatible preset kind; nullptr for any other
/// kind name.
const provider_adapter* openai_preset_adapter(std::string_view kind) noexcept;

/// An azure base URL split into the part OAG connects to and the api-version.
struct azure_base {
  std::string base_url;    ///< without the query string
  std::string api_version; ///< from `?api-version=`, else the default
};

/// Splits "https://r.openai.azure.com[/openai][?api-version=V]". Fails
/// (400) on an api-version with characters outside [A-Za-z0-9._-], which
/// would otherwise be pasted into the request target. Callers validating a
/// configured azure base URL should check `base_url` of the result with
/// parse_url (which refuses query strings).
result<azure_base> split_azure_base_url(std::string_view base_url);

} // namespace oag::adapters
