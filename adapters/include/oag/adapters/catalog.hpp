#pragma once
/// The model catalogue: prices (from config/prices.json) and output limits
/// per `kind/model`, with per-provider overrides.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::adapters {

/// What OAG knows about one model.
struct model_info {
  money::price price;
  std::int64_t max_output_tokens = 4096;
  std::int64_t context_window = 128000;
  bool embeddings = false;
};

/// Prices and limits by "kind/model".
class catalog {
 public:
  /// Parses prices.json: {"models": {"openai/gpt-4o-mini": {"input": 0.15,
  /// "cached_input": 0.075, "output": 0.6, "max_output_tokens": 16384,
  /// "context_window": 128000, "embeddings": false}, ...}}. Errors name the
  /// JSON path at fault.
  static result<catalog> parse(const nlohmann::json& doc);

  /// Looks up "kind/model"; nullopt when unknown.
  std::optional<model_info> find(std::string_view kind, std::string_view model) const;

  /// Every known "kind/model".
  const std::map<std::string, model_info, std::less<>>& all() const noexcept { return models_; }

  /// Adds or replaces one entry.
  void set(std::string key, model_info info) { models_[std::move(key)] = info; }

 private:
  std::map<std::string, model_info, std::less<>> models_;
};

} // namespace oag::adapters
