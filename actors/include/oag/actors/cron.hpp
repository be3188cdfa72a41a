#pragma once
/// The cron engine, as pure functions: 5-field cron expressions evaluated in
/// an IANA time zone (DST handled), and the catch-up decision after downtime.
/// No clock is read here; every instant is passed in (unix seconds, UTC), so
/// schedulers can run it against a fake clock.
///
/// DST rules (the local wall clock is what the expression describes):
/// - A wall time that does not exist (skipped by a spring-forward gap, e.g.
///   02:30 in Europe/Berlin on the last Sunday of March) fires at the first
///   valid instant after the gap: the transition itself, 03:00 local. Several
///   skipped times (02:00, 02:15, …) and 03:00 itself all land on that one
///   instant, which fires once.
/// - A wall time that occurs twice (fall-back overlap, e.g. 02:30 on the last
///   Sunday of October) fires once, at its first occurrence (still summer
///   time); the repeated hour fires nothing. An hourly schedule therefore
///   fires 01:00, 02:00 (summer), 03:00 (winter) in Berlin that night.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "oag/actors/routing.hpp"
#include "oag/error.hpp"

namespace oag::actors::cron {

/// How far ahead `next_after` (and back `prev_at_or_before`) looks: 9 years,
/// so a 29 February schedule is found even across 2100 (not a leap year).
inline constexpr int search_years = 9;

/// A parsed 5-field expression: minute hour day-of-month month day-of-week.
///
/// Each field is a comma list of `*`, `N`, `N-M`, each optionally with a step
/// (`*/15`, `10-50/10`, `5/20` meaning `5-<max>/20`). Months take JAN-DEC and
/// weekdays SUN-SAT (case-insensitive); weekday 0 and 7 are both Sunday, and a
/// range may end on Sunday (`FRI-SUN`, `5-7`). When both day-of-month and
/// day-of-week are restricted (neither is a plain `*`), a day matches if
/// EITHER matches (POSIX); otherwise the restricted one alone decides
/// (`*/2` counts as restricted). Macros: @yearly (@annually), @monthly,
/// @weekly, @daily (@midnight), @hourly. A day-of-month/month combination that
/// never occurs (`0 0 30 2 *`) is refused rather than never firing.
class schedule {
 public:
  /// Parses `expr` to be evaluated in `time_zone` ("UTC", "+03:00" or an
  /// IANA name). Failures are errc::invalid_request naming the cron field
  /// (or `time_zone`); the caller sets `param` to its own JSON path.
  static result<schedule> parse(std::string_view expr, std::string_view time_zone);
  /// As `parse`, with a zone already loaded (one zone can serve many
  /// schedules; tests pass zones built from TZif bytes).
  static result<schedule> parse(std::string_view expr, std::shared_ptr<const routing::zone> zone);

  /// The next firing strictly after `after_utc` (unix seconds; firings are
  /// whole minutes), nullopt if none within `search_years`.
  std::optional<std::int64_t> next_after(std::int64_t after_utc) const;
  /// The latest firing at or before `at_utc`, nullopt if none within
  /// `search_years` before it.
  std::optional<std::int64_t> prev_at_or_before(std::int64_t at_utc) const;

  /// The expression as given (trimmed).
  const std::string& expression() const noexcept { return expression_; }
  /// The zone the expression is evaluated in.
  const routing::zone& zone() const noexcept { return *zone_; }

  struct fields; // the parsed bit sets (cron.cpp)

 private:
  schedule() = default;
  std::string expression_;
  std::shared_ptr<const routing::zone> zone_;
  std::shared_ptr<const fields> fields_;
};

/// Which missed firings run after downtime.
enum class catch_up_policy {
  none,   ///< skip every missed firing
  latest, ///< run the most recent missed firing only (the default)
  all,    ///< run every missed firing, up to a cap (the most recent ones)
};

/// "none", "latest" or "all"; anything else is errc::invalid_request
/// naming `catch_up`.
result<catch_up_policy> parse_catch_up(std::string_view text);

/// The policy's name as `parse_catch_up` reads it.
const char* to_string(catch_up_policy p) noexcept;

/// What a scheduler does at `now`: the firings to run and the next to persist.
struct catch_up_plan {
  /// Scheduled times (unix seconds) to run now, oldest first. Each is a
  /// distinct scheduled time; run each once and persist the newest as done.
  std::vector<std::int64_t> fire;
  /// The next firing strictly after now (persist it; sleep until then).
  std::optional<std::int64_t> next;
  /// Under `all`, more firings were due than `cap`; the oldest were dropped.
  bool capped = false;
};

/// Plans the firings due in (`last_done_utc`, `now_utc`]: `last_done_utc` is
/// the last persisted firing, or the creation time before the first one.
///
/// The newest due firing counts as on time when it is at most `grace_s`
/// seconds old (a scheduler that wakes a little late) and then always runs;
/// every other due firing is missed, and `policy` decides: none runs none of
/// them, latest runs only the newest due firing (on time or not), all runs
/// every due firing but at most `cap` (the newest `cap`, oldest first;
/// `capped` tells that some were dropped). Costs O(cap) searches, not
/// O(downtime).
catch_up_plan plan_catch_up(const schedule& s, std::int64_t last_done_utc, std::int64_t now_utc,
                            catch_up_policy policy, std::size_t cap, std::int64_t grace_s = 60);

} // namespace oag::actors::cron
