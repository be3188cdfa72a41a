#pragma once
// Helpers the actors use to answer through a response_sink.

#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "oag/actors/sink.hpp"
#include "oag/error.hpp"

namespace oag::actors::detail {

/// Dumps JSON that may hold upstream text; invalid UTF-8 is replaced, not thrown.
inline std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline void respond_json(const std::shared_ptr<response_sink>& sink, int status,
                         const nlohmann::json& body) {
  if (sink) sink->respond(status, dump_json(body));
}

inline void respond_failure(const std::shared_ptr<response_sink>& sink, const failure& f) {
  if (!sink) return;
  // A server-side failure says why in the log; the access log only has the status.
  if (http_status_of(f) >= 500 && f.code != errc::upstream_error && f.code != errc::upstream_timeout &&
      f.code != errc::unavailable)
    spdlog::warn("answering {}: {}", http_status_of(f), f.message);
  adapters::header_list extra;
  if (f.retry_after) extra.push_back({"retry-after", *f.retry_after});
  sink->respond(http_status_of(f), to_openai_error_body(f), std::move(extra));
}

/// Reads an optional string field; fails naming the param if it has the wrong type.
inline result<std::optional<std::string>> optional_string(const nlohmann::json& body,
                                                          const char* field) {
  if (!body.is_object()) return std::optional<std::string>{};
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string())
    return make_failure(errc::invalid_request, std::string{"'"} + field + "' must be a string",
                        std::string{field});
  return std::optional<std::string>{it->get<std::string>()};
}

} // namespace oag::actors::detail
