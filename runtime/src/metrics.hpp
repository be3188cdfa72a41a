#pragma once
/// Prometheus metrics: request counts and latency histograms by route and
/// status, upstream errors by provider, tokens and µO₮ by company and model.
/// Updated from io threads and actors; each update takes one short,
/// uncontended lock (a handful of io threads), never held across I/O.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "oag/actors/gateway.hpp"

namespace oag::runtime {

/// The registry; also the actors' call_observer.
class metrics final : public actors::call_observer {
 public:
  /// Records one finished HTTP response.
  void request_done(const std::string& route, int status, std::chrono::microseconds elapsed);

  void upstream_error(const std::string& provider, int status) override;
  void charged(const std::string& company_id, const std::string& model, const money::token_usage& usage,
               money::uot cost) override;

  /// A WebSocket session opened / closed (with its close code and the
  /// most bytes its write queue held).
  void ws_opened();
  void ws_closed(std::uint16_t code, std::size_t queue_peak_bytes);
  void ws_slow_client(std::size_t queue_peak_bytes);

  /// The Prometheus text exposition.
  std::string render() const;

  /// Latency buckets, in seconds.
  static constexpr std::array<double, 12> buckets{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                  0.05,   0.1,   0.25,   0.5,   1.0,  5.0};

 private:
  struct histogram {
    std::array<std::uint64_t, buckets.size()> counts{};
    std::uint64_t count = 0;
    double sum = 0;
  };
  struct usage_totals {
    std::int64_t input = 0, cached = 0, output = 0, cost = 0, calls = 0;
  };
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  std::map<std::string, histogram> latency_;
  std::map<std::pair<std::string, int>, std::uint64_t> upstream_errors_;
  std::map<std::pair<std::string, std::string>, usage_totals> usage_;
  std::int64_t ws_open_ = 0;
  std::uint64_t ws_total_ = 0;
  std::size_t ws_queue_peak_ = 0;
  std::uint64_t ws_slow_ = 0;
  std::map<std::uint16_t, std::uint64_t> ws_closes_;
};

} // namespace oag::runtime
