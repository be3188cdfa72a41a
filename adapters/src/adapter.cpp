#include "oag/adapters/adapter.hpp"

#include <algorithm>
#include <limits>

#include "oag/adapters/anthropic_adapter.hpp"
#include "oag/adapters/compat_adapters.hpp"
#include "oag/adapters/gemini_adapter.hpp"
#include "oag/adapters/ollama_adapter.hpp"
#include "oag/adapters/openai_adapter.hpp"

namespace oag::adapters {

const provider_adapter* find_adapter(std::string_view kind) noexcept {
  // `mock` speaks the OpenAI wire format (mock_answer plays the upstream),
  // so it shares the OpenAI translation.
  if (kind == "openai" || kind == "mock") return &openai_adapter();
  if (kind == "anthropic") return &anthropic_adapter();
  if (kind == "gemini") return &gemini_adapter();
  if (kind == "ollama") return &ollama_adapter();
  if (kind == "azure") return &azure_adapter();
  // deepseek, groq, mistral, xai, openrouter, together
  if (const provider_adapter* preset = openai_preset_adapter(kind)) return preset;
  return nullptr;
}

namespace {

/// A token count as a non-negative integer; nullopt for anything else.
/// Integral floats ("12.0") are accepted because some compatible servers
/// emit them.
std::optional<std::int64_t> count_of(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    return i < 0 ? std::nullopt : std::optional<std::int64_t>(i);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (!(d >= 0) || d > 9.0e18 || static_cast<double>(static_cast<std::int64_t>(d)) != d)
      return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

} // namespace

std::optional<money::token_usage> usage_of(const nlohmann::json& response_or_chunk) {
  if (!response_or_chunk.is_object()) return std::nullopt;
  auto it = response_or_chunk.find("usage");
  if (it == response_or_chunk.end() || !it->is_object()) return std::nullopt;
  const auto& u = *it;
  std::optional<std::int64_t> prompt, completion;
  if (auto p = u.find("prompt_tokens"); p != u.end()) prompt = count_of(*p);
  if (auto c = u.find("completion_tokens"); c != u.end()) completion = count_of(*c);
  // A usage object without either count tells nothing to meter with.
  if (!prompt && !completion) return std::nullopt;
  money::token_usage out;
  out.input_tokens = prompt.value_or(0);
  out.output_tokens = completion.value_or(0);
  if (auto d = u.find("prompt_tokens_details"); d != u.end() && d->is_object()) {
    if (auto c = d->find("cached_tokens"); c != d->end())
      out.cached_input_tokens = count_of(*c).value_or(0);
  }
  // No real call comes near 100M tokens; a larger count is an upstream bug
  // (or a hostile upstream) and must not drive a wallet to absurd debt.
  constexpr std::int64_t max_reported = 100'000'000;
  out.input_tokens = std::min(out.input_tokens, max_reported);
  out.output_tokens = std::min(out.output_tokens, max_reported);
  out.cached_input_tokens = std::min(out.cached_input_tokens, max_reported);
  // Cached tokens are a subset of the prompt; never let a buggy upstream
  // make the cached share exceed it.
  if (out.cached_input_tokens > out.input_tokens) out.cached_input_tokens = out.input_tokens;
  return out;
}

} // namespace oag::adapters
