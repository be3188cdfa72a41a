#include "metrics.hpp"

#include <sstream>

namespace oag::runtime {

namespace {

/// Escapes a Prometheus label value.
std::string label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

} // namespace

void metrics::request_done(const std::string& route, int status, std::chrono::microseconds elapsed) {
  double s = static_cast<double>(elapsed.count()) / 1e6;
  std::lock_guard<std::mutex> g(mu_);
  ++requests_[{route, status}];
  auto& h = latency_[route];
  for (std::size_t i = 0; i < buckets.size(); ++i)
    if (s <= buckets[i]) ++h.counts[i];
  ++h.count;
  h.sum += s;
}

void metrics::upstream_error(const std::string& provider, int status) {
  std::lock_guard<std::mutex> g(mu_);
  ++upstream_errors_[{provider, status}];
}

void metrics::charged(const std::string& company_id, const std::string& model, const money::token_usage& usage,
                      money::uot cost) {
  std::lock_guard<std::mutex> g(mu_);
  auto& u = usage_[{company_id, model}];
  u.input += usage.input_tokens;
  u.cached += usage.cached_input_tokens;
  u.output += usage.output_tokens;
  u.cost += cost;
  ++u.calls;
}

std::string metrics::render() const {
  std::ostringstream o;
  std::lock_guard<std::mutex> g(mu_);
  o << "# HELP oag_http_requests_total HTTP responses by route and status.\n"
       "# TYPE oag_http_requests_total counter\n";
  for (auto& [k, v] : requests_)
    o << "oag_http_requests_total{route=\"" << label(k.first) << "\",status=\"" << k.second << "\"} " << v << "\n";
  o << "# HELP oag_http_request_duration_seconds Time from request read to response complete.\n"
       "# TYPE oag_http_request_duration_seconds histogram\n";
  for (auto& [route, h] : latency_) {
    for (std::size_t i = 0; i < buckets.size(); ++i)
      o << "oag_http_request_duration_seconds_bucket{route=\"" << label(route) << "\",le=\"" << buckets[i]
        << "\"} " << h.counts[i] << "\n";
    o << "oag_http_request_duration_seconds_bucket{route=\"" << label(route) << "\",le=\"+Inf\"} " << h.count
      << "\n";
    o << "oag_http_request_duration_seconds_sum{route=\"" << label(route) << "\"} " << h.sum << "\n";
    o << "oag_http_request_duration_seconds_count{route=\"" << label(route) << "\"} " << h.count << "\n";
  }
  o << "# HELP oag_upstream_errors_total Failed upstream exchanges by provider and upstream status (0: no response).\n"
       "# TYPE oag_upstream_errors_total counter\n";
  for (auto& [k, v] : upstream_errors_)
    o << "oag_upstream_errors_total{provider=\"" << label(k.first) << "\",status=\"" << k.second << "\"} " << v
      << "\n";
  o << "# HELP oag_tokens_total Tokens charged by company, model and type.\n"
       "# TYPE oag_tokens_total counter\n";
  for (auto& [k, u] : usage_) {
    auto l = "company=\"" + label(k.first) + "\",model=\"" + label(k.second) + "\"";
    o << "oag_tokens_total{" << l << ",type=\"input\"} " << u.input << "\n";
    o << "oag_tokens_total{" << l << ",type=\"cached_input\"} " << u.cached << "\n";
    o << "oag_tokens_total{" << l << ",type=\"output\"} " << u.output << "\n";
  }
  o << "# HELP oag_charged_uot_total µO₮ charged by company and model.\n"
       "# TYPE oag_charged_uot_total counter\n";
  for (auto& [k, u] : usage_)
    o << "oag_charged_uot_total{company=\"" << label(k.first) << "\",model=\"" << label(k.second) << "\"} "
      << u.cost << "\n";
  o << "# HELP oag_charged_calls_total Charged calls by company and model.\n"
       "# TYPE oag_charged_calls_total counter\n";
  for (auto& [k, u] : usage_)
    o << "oag_charged_calls_total{company=\"" << label(k.first) << "\",model=\"" << label(k.second) << "\"} "
      << u.calls << "\n";
  o << "# HELP oag_ws_sessions WebSocket sessions open now.\n"
       "# TYPE oag_ws_sessions gauge\n"
       "oag_ws_sessions " << ws_open_ << "\n";
  o << "# HELP oag_ws_sessions_total WebSocket sessions opened.\n"
       "# TYPE oag_ws_sessions_total counter\n"
       "oag_ws_sessions_total " << ws_total_ << "\n";
  o << "# HELP oag_ws_closes_total Closed WebSocket sessions by close code (1008: client too slow).\n"
       "# TYPE oag_ws_closes_total counter\n";
  for (auto& [code, n] : ws_closes_) o << "oag_ws_closes_total{code=\"" << code << "\"} " << n << "\n";
  o << "# HELP oag_ws_slow_client_closes_total WebSocket sessions closed because their write queue overflowed.\n"
       "# TYPE oag_ws_slow_client_closes_total counter\n"
       "oag_ws_slow_client_closes_total " << ws_slow_ << "\n";
  o << "# HELP oag_ws_write_queue_peak_bytes Most bytes a closed WebSocket session had queued for writing.\n"
       "# TYPE oag_ws_write_queue_peak_bytes gauge\n"
       "oag_ws_write_queue_peak_bytes " << ws_queue_peak_ << "\n";
  return o.str();
}

void metrics::ws_slow_client(std::size_t queue_peak_bytes) {
  std::lock_guard<std::mutex> g(mu_);
  ++ws_slow_;
  if (queue_peak_bytes > ws_queue_peak_) ws_queue_peak_ = queue_peak_bytes;
}

void metrics::ws_opened() {
  std::lock_guard<std::mutex> g(mu_);
  ++ws_open_;
  ++ws_total_;
}

void metrics::ws_closed(std::uint16_t code, std::size_t queue_peak_bytes) {
  std::lock_guard<std::mutex> g(mu_);
  --ws_open_;
  ++ws_closes_[code];
  if (queue_peak_bytes > ws_queue_peak_) ws_queue_peak_ = queue_peak_bytes;
}

} // namespace oag::runtime
