#pragma once
/// The routing engine, as pure functions: a company's routing config is
/// compiled once (validated, errors naming the JSON path, regular
/// expressions compiled with RE2 so no input can make matching slow) and
/// then decides, for each request, the ordered targets to try.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"
#include "oag/storage/money.hpp"

namespace oag::actors::routing {

/// A time zone: UTC offsets over time, from the system's TZif files.
class zone {
 public:
  /// "UTC", a fixed offset ("+03:00", "-05:30") or an IANA name
  /// ("Europe/Berlin", read from /usr/share/zoneinfo).
  static result<std::shared_ptr<const zone>> load(std::string_view name);
  /// The zone from TZif bytes (for tests and unusual installs).
  static result<std::shared_ptr<const zone>> from_tzif(std::string name, std::string_view bytes);
  /// Seconds east of UTC at the UTC instant `t` (unix seconds).
  std::int32_t offset_at(std::int64_t t) const noexcept;
  const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  std::vector<std::int64_t> transitions_;
  std::vector<std::int32_t> offsets_; ///< offset from transitions_[i] on
  std::int32_t initial_offset_ = 0;
};

/// Local calendar facts of an instant.
struct local_time {
  int weekday = 0; ///< 0 = Monday … 6 = Sunday
  int minute_of_day = 0;
  std::int64_t day_start_utc = 0;   ///< local midnight, as unix seconds
  std::int64_t month_start_utc = 0; ///< local first of the month, 00:00
};

/// Converts a UTC instant to local calendar facts in `z`.
local_time to_local(const zone& z, std::int64_t t);

/// Where a local wall-clock time falls in UTC (see `from_local`).
struct utc_instants {
  /// The first UTC instant showing that wall time; for a wall time that
  /// does not exist (skipped by a spring-forward gap), the instant the gap
  /// ends (the first valid instant after it).
  std::int64_t earliest = 0;
  /// The second occurrence when the wall time repeats (fall-back overlap),
  /// else equal to `earliest`.
  std::int64_t latest = 0;
  /// The wall time was skipped (a gap).
  bool in_gap = false;
};

/// Converts a local wall-clock time (seconds since 1970-01-01 00:00 on the
/// local clock) to UTC in `z`, resolving DST gaps and overlaps.
utc_instants from_local(const zone& z, std::int64_t local_seconds);

/// What the wallet looks like when a request is routed.
struct budget_state {
  money::uot balance_uot = 0;
  money::uot spent_today_uot = 0;
  money::uot spent_month_uot = 0;
};

/// The facts about one request that rules can test.
struct request_facts {
  std::string_view model;          ///< as the client asked for it
  const nlohmann::json* body = nullptr;
  std::int64_t prompt_tokens = 0;  ///< estimated
  std::int64_t now_utc = 0;        ///< unix seconds (a fake clock in tests)
  budget_state budget;
};

/// The outcome: which rule matched (if any) and the targets in order.
struct decision {
  std::optional<std::string> rule;
  std::vector<std::string> targets;
};

/// How failures are retried and when a target is given up.
struct retry_policy {
  int max_attempts_per_target = 1;
  std::chrono::milliseconds backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  /// Upstream statuses after which the next attempt is made (connection
  /// errors and timeouts always are).
  std::vector<int> on_status{429, 500, 502, 503, 504, 529};
  /// Longest wait for the first streamed token; separate from the idle
  /// timeout between chunks.
  std::optional<std::chrono::milliseconds> first_token_timeout;
};

/// Budget limits the budget conditions compare against.
struct budget_limits {
  std::optional<money::uot> daily_uot;
  std::optional<money::uot> monthly_uot;
};

/// A compiled routing config.
class policy {
 public:
  /// Validates and compiles a routing config (see README "Routing").
  static result<std::shared_ptr<const policy>> compile(const nlohmann::json& config);
  ~policy();

  /// The first matching rule's targets, or the requested model alone.
  /// `random` picks among weighted targets (pass a random number).
  decision decide(const request_facts& facts, std::uint64_t random) const;

  const retry_policy& retry() const noexcept { return retry_; }
  const budget_limits& budget() const noexcept { return budget_; }
  /// The zone that days and months of budgets are counted in.
  const zone& budget_zone() const noexcept { return *budget_zone_; }
  /// The config as given (for GET).
  const nlohmann::json& source() const noexcept { return source_; }
  /// Whether a status (from the upstream) lets the next attempt go ahead.
  bool retryable_status(int status) const noexcept;

  struct rule; // compiled rule (routing.cpp)

 private:
  policy() = default;
  std::vector<std::unique_ptr<rule>> rules_;
  retry_policy retry_;
  budget_limits budget_;
  std::shared_ptr<const zone> budget_zone_;
  nlohmann::json source_;
};

} // namespace oag::actors::routing
