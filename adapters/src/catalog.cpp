#include "oag/adapters/catalog.hpp"

#include <limits>

namespace oag::adapters {
namespace {

using nlohmann::json;

std::string quoted(const std::string& key) {
  return json(key).dump(-1, ' ', false, json::error_handler_t::replace);
}

failure at(const std::string& path, const std::string& what) {
  return make_failure(errc::invalid_request, "prices: " + path + ": " + what, path);
}

/// Keys starting with '_' are comments (JSON has none of its own).
bool is_comment_key(const std::string& key) { return !key.empty() && key.front() == '_'; }

result<std::int64_t> price_field(const json& v, const std::string& path) {
  if (!v.is_number()) return at(path, "must be a number (USD per 1M tokens)");
  auto musd = money::usd_per_mtok_to_musd(v.get<double>());
  if (!musd) return at(path, musd.error().message);
  return *musd;
}

result<std::int64_t> positive_int_field(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) {
    auto u = v.get<std::uint64_t>();
    if (u == 0 || u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return at(path, "must be a positive integer");
    return static_cast<std::int64_t>(u);
  }
  if (v.is_number_integer() && v.get<std::int64_t>() > 0) return v.get<std::int64_t>();
  return at(path, "must be a positive integer");
}

result<model_info> parse_entry(const json& entry, const std::string& path) {
  if (!entry.is_object()) return at(path, "must be an object");
  model_info info;
  bool have_input = false, have_cached = false, have_output = false;
  if (auto e = entry.find("embeddings"); e != entry.end()) {
    if (!e->is_boolean()) return at(path + ".embeddings", "must be true or false");
    info.embeddings = e->get<bool>();
  }
  for (auto it = entry.begin(); it != entry.end(); ++it) {
    const std::string& key = it.key();
    const std::string field = path + "." + key;
    if (key == "input") {
      auto v = price_field(*it, field);
      if (!v) return v.error();
      info.price.input_musd_per_mtok = *v;
      have_input = true;
    } else if (key == "cached_input") {
      auto v = price_field(*it, field);
      if (!v) return v.error();
      info.price.cached_input_musd_per_mtok = *v;
      have_cached = true;
    } else if (key == "output") {
      auto v = price_field(*it, field);
      if (!v) return v.error();
      info.price.output_musd_per_mtok = *v;
      have_output = true;
    } else if (key == "max_output_tokens") {
      auto v = positive_int_field(*it, field);
      if (!v) return v.error();
      info.max_output_tokens = *v;
    } else if (key == "context_window") {
      auto v = positive_int_field(*it, field);
      if (!v) return v.error();
      info.context_window = *v;
    } else if (key == "embeddings" || is_comment_key(key)) {
      continue;
    } else {
      // A misspelt price ("ouput") would silently make calls free.
      return at(field, "unknown field (expected input, cached_input, output, "
                       "max_output_tokens, context_window, embeddings)");
    }
  }
  if (!have_input) return at(path + ".input", "is required");
  // Embedding models produce no output tokens; every chat model must say
  // what output costs.
  if (!have_output && !info.embeddings) return at(path + ".output", "is required");
  // Without a cache discount the cached rate is the input rate, which is
  // the safe (never undercharging) default.
  if (!have_cached) info.price.cached_input_musd_per_mtok = info.price.input_musd_per_mtok;
  return info;
}

} // namespace

result<catalog> catalog::parse(const json& doc) {
  if (!doc.is_object())
    return make_failure(errc::invalid_request, "prices: the document must be a JSON object");
  auto models = doc.find("models");
  if (models == doc.end()) return at("models", "is required");
  if (!models->is_object()) return at("models", "must be an object keyed by \"kind/model\"");
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "models" && !is_comment_key(it.key()))
      return at(it.key(), "unknown field (expected models)");
  catalog out;
  for (auto it = models->begin(); it != models->end(); ++it) {
    const std::string& key = it.key();
    const std::string path = "models[" + quoted(key) + "]";
    if (is_comment_key(key)) continue;
    const auto slash = key.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == key.size())
      return at(path, "the key must be \"kind/model\"");
    auto info = parse_entry(*it, path);
    if (!info) return info.error();
    out.models_[key] = *info;
  }
  return out;
}

std::optional<model_info> catalog::find(std::string_view kind, std::string_view model) const {
  std::string key;
  key.reserve(kind.size() + 1 + model.size());
  key.append(kind).append("/").append(model);
  auto it = models_.find(key);
  if (it == models_.end()) return std::nullopt;
  return it->second;
}

} // namespace oag::adapters
