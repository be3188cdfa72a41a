#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>

#include "oag/actors/cron.hpp"

using namespace oag;
using namespace oag::actors;
using namespace oag::actors::cron;
using Catch::Matchers::Contains;

namespace {

/// Unix seconds of a UTC civil time (independent of the engine's own helpers).
std::int64_t utc(std::int64_t y, unsigned m, unsigned d, int h = 0, int mi = 0, int s = 0) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const std::int64_t days = era * 146097 + static_cast<std::int64_t>(doe) - 719468;
  return days * 86400 + h * 3600 + mi * 60 + s;
}

schedule sched(const char* expr, const char* tz = "UTC") {
  auto s = schedule::parse(expr, tz);
  if (!s) FAIL(s.error().message);
  return s.value();
}

std::string parse_error(const char* expr, const char* tz = "UTC") {
  auto s = schedule::parse(expr, tz);
  if (s) return "(parsed)";
  CHECK(s.error().code == errc::invalid_request);
  return s.error().message;
}

/// The firings in (from, to].
std::vector<std::int64_t> firings(const schedule& s, std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> out;
  for (auto t = s.next_after(from); t && *t <= to; t = s.next_after(*t)) out.push_back(*t);
  return out;
}

using v = std::vector<std::int64_t>;

} // namespace

TEST_CASE("cron: field errors name the field", "[cron]") {
  CHECK_THAT(parse_error("61 * * * *"), Contains("minute: 61 is out of range 0-59"));
  CHECK_THAT(parse_error("* 24 * * *"), Contains("hour: 24 is out of range 0-23"));
  CHECK_THAT(parse_error("* * 0 * *"), Contains("day-of-month: 0 is out of range 1-31"));
  CHECK_THAT(parse_error("* * 32 * *"), Contains("day-of-month: 32 is out of range 1-31"));
  CHECK_THAT(parse_error("* * * 13 *"), Contains("month: 13 is out of range 1-12"));
  CHECK_THAT(parse_error("* * * * 8"), Contains("day-of-week: 8 is out of range 0-7"));
  CHECK_THAT(parse_error("99999 * * * *"), Contains("minute: 99999 is out of range"));
  CHECK_THAT(parse_error("*/0 * * * *"), Contains("minute: step \"0\" must be a number from 1 to 60"));
  CHECK_THAT(parse_error("*/61 * * * *"), Contains("minute: step"));
  CHECK_THAT(parse_error("* */x * * *"), Contains("hour: step \"x\""));
  CHECK_THAT(parse_error("1-5/ * * * *"), Contains("minute: step \"\""));
  CHECK_THAT(parse_error("* * * * */8"), Contains("day-of-week: step \"8\" must be a number from 1 to 7"));
  CHECK_THAT(parse_error("1,,2 * * * *"), Contains("minute: empty list element"));
  CHECK_THAT(parse_error("* * * 1, *"), Contains("month: empty list element"));
  CHECK_THAT(parse_error("* * * * ,MON"), Contains("day-of-week: empty list element"));
  CHECK_THAT(parse_error("* * * * * *"), Contains("expected 5 fields (minute hour day-of-month month day-of-week), got 6"));
  CHECK_THAT(parse_error("* * * *"), Contains("got 4"));
  CHECK_THAT(parse_error("   "), Contains("is empty"));
  CHECK_THAT(parse_error("5-1 * * * *"), Contains("minute: range \"5-1\" runs backwards"));
  CHECK_THAT(parse_error("-5 * * * *"), Contains("minute: a value is missing"));
  CHECK_THAT(parse_error("* * * FOO *"), Contains("month: \"FOO\" is not a number or a name (JAN-DEC)"));
  CHECK_THAT(parse_error("* * * * MONDAY"), Contains("day-of-week: \"MONDAY\" is not a number or a name (SUN-SAT)"));
  CHECK_THAT(parse_error("x * * * *"), Contains("minute: \"x\" is not a number"));
  CHECK_THAT(parse_error("? * * * *"), Contains("minute:"));
  CHECK_THAT(parse_error("@reboot"), Contains("unknown macro"));
  CHECK_THAT(parse_error("@daily 5"), Contains("unknown macro"));
  CHECK_THAT(parse_error("0 0 30 2 *"), Contains("never occurs"));
  CHECK_THAT(parse_error("0 0 31 4,6,9,11 *"), Contains("never occurs"));
  CHECK_THAT(parse_error("0 0 * * *", "Mars/Olympus"), Contains("time_zone: unknown time zone 'Mars/Olympus'"));
  CHECK_THAT(parse_error("0 0 * * *", ""), Contains("time_zone"));
  // The message quotes the expression.
  CHECK_THAT(parse_error("61 * * * *"), Contains("cron expression \"61 * * * *\""));
}

TEST_CASE("cron: accepted syntax", "[cron]") {
  CHECK(schedule::parse("0 0 30 2 MON", "UTC")); // day-of-week still fires (either matches)
  CHECK(schedule::parse("0 0 29 2 *", "UTC"));
  CHECK(schedule::parse("  */5\t1-5,10 * jan-MAR,dec sun  ", "UTC"));
  CHECK(sched(" 0 9 * * 1 ").expression() == "0 9 * * 1");
  CHECK(sched("0 9 * * 1", "Europe/Berlin").zone().name() == "Europe/Berlin");

  // 7 and SUN are Sunday; FRI-SUN and 5-7 wrap to Sunday. 2026-01-04 is a Sunday.
  const auto sat = utc(2026, 1, 3, 12);
  for (const char* e : {"0 0 * * 0", "0 0 * * 7", "0 0 * * SUN", "0 0 * * sun"})
    CHECK(sched(e).next_after(sat) == utc(2026, 1, 4));
  CHECK(firings(sched("0 0 * * FRI-SUN"), utc(2026, 1, 1, 12), utc(2026, 1, 8)) ==
        v{utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4)});
  CHECK(firings(sched("0 0 * * 5-7"), utc(2026, 1, 1, 12), utc(2026, 1, 8)) ==
        v{utc(2026, 1, 2), utc(2026, 1, 3), utc(2026, 1, 4)});

  // Steps: ranges with steps and "N/step" (N to the field's end).
  CHECK(firings(sched("10-30/10 * * * *"), utc(2026, 1, 1), utc(2026, 1, 1, 0, 59)) ==
        v{utc(2026, 1, 1, 0, 10), utc(2026, 1, 1, 0, 20), utc(2026, 1, 1, 0, 30)});
  CHECK(firings(sched("45/5 * * * *"), utc(2026, 1, 1), utc(2026, 1, 1, 0, 59)) ==
        v{utc(2026, 1, 1, 0, 45), utc(2026, 1, 1, 0, 50), utc(2026, 1, 1, 0, 55)});
  CHECK(firings(sched("0 0 1 */4 *"), utc(2026, 1, 1), utc(2026, 12, 31)) == v{utc(2026, 5, 1), utc(2026, 9, 1)});

  // Macros.
  const auto t = utc(2026, 5, 17, 10, 30); // a Sunday
  CHECK(sched("@hourly").next_after(t) == utc(2026, 5, 17, 11));
  CHECK(sched("@daily").next_after(t) == utc(2026, 5, 18));
  CHECK(sched("@midnight").next_after(t) == utc(2026, 5, 18));
  CHECK(sched("@weekly").next_after(t) == utc(2026, 5, 24));
  CHECK(sched("@monthly").next_after(t) == utc(2026, 6, 1));
  CHECK(sched("@yearly").next_after(t) == utc(2027, 1, 1));
  CHECK(sched("@ANNUALLY").next_after(t) == utc(2027, 1, 1));

  // A fixed-offset zone and a zone shared across schedules.
  CHECK(sched("0 9 * * *", "+05:30").next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 3, 30));
  auto z = routing::zone::load("-05:00");
  REQUIRE(z);
  auto s = schedule::parse("0 9 * * *", z.value());
  REQUIRE(s);
  CHECK(s->next_after(utc(2026, 1, 1)) == utc(2026, 1, 1, 14));
}

TEST_CASE("cron: */15 over an hour in UTC, strictly after", "[cron]") {
  auto s = sched("*/15 * * * *");
  CHECK(firings(s, utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)) ==
        v{utc(2026, 1, 1, 10, 15), utc(2026, 1, 1, 10, 30), utc(2026, 1, 1, 10, 45), utc(2026, 1, 1, 11)});
  CHECK(s.next_after(utc(2026, 1, 1, 10, 7, 30)) == utc(2026, 1, 1, 10, 15));
  CHECK(s.next_after(utc(2026, 1, 1, 10, 14, 59)) == utc(2026, 1, 1, 10, 15));
  CHECK(s.next_after(utc(2026, 1, 1, 10, 15)) == utc(2026, 1, 1, 10, 30)); // exactly at a firing
  CHECK(s.prev_at_or_before(utc(2026, 1, 1, 10, 15)) == utc(2026, 1, 1, 10, 15));
  CHECK(s.prev_at_or_before(utc(2026, 1, 1, 10, 14, 59)) == utc(2026, 1, 1, 10));

  auto daily = sched("0 9 * * *");
  CHECK(daily.next_after(utc(2026, 1, 1, 9)) == utc(2026, 1, 2, 9));
  CHECK(daily.next_after(utc(2026, 1, 1, 8, 59, 59)) == utc(2026, 1, 1, 9));
  // Year and month rollover.
  CHECK(daily.next_after(utc(2026, 12, 31, 9)) == utc(2027, 1, 1, 9));
  CHECK(sched("0 0 31 * *").next_after(utc(2026, 1, 31)) == utc(2026, 3, 31)); // February has no 31st
  CHECK(sched("59 23 31 12 *").next_after(utc(2026, 1, 1)) == utc(2026, 12, 31, 23, 59));
  CHECK(sched("59 23 31 12 *").prev_at_or_before(utc(2026, 12, 31, 23, 58)) == utc(2025, 12, 31, 23, 59));
}

TEST_CASE("cron: 0 9 * * MON-FRI over a week in Berlin", "[cron]") {
  auto s = sched("0 9 * * MON-FRI", "Europe/Berlin");
  // Saturday 2026-01-03 to Saturday 2026-01-10; 09:00 CET is 08:00 UTC.
  CHECK(firings(s, utc(2026, 1, 3), utc(2026, 1, 10)) ==
        v{utc(2026, 1, 5, 8), utc(2026, 1, 6, 8), utc(2026, 1, 7, 8), utc(2026, 1, 8, 8), utc(2026, 1, 9, 8)});
  CHECK(s.next_after(utc(2026, 1, 9, 8)) == utc(2026, 1, 12, 8));
  // In summer 09:00 CEST is 07:00 UTC.
  CHECK(s.next_after(utc(2026, 7, 4)) == utc(2026, 7, 6, 7));
}

TEST_CASE("cron: day-of-month and day-of-week restricted together match either", "[cron]") {
  // 2026-01-01 is a Thursday; Mondays are 5, 12, 19, 26; 2026-02-01 is a Sunday.
  CHECK(firings(sched("0 0 1 * MON"), utc(2026, 1, 1), utc(2026, 2, 9)) ==
        v{utc(2026, 1, 5), utc(2026, 1, 12), utc(2026, 1, 19), utc(2026, 1, 26), utc(2026, 2, 1), utc(2026, 2, 2),
          utc(2026, 2, 9)});
  // One of them a plain `*`: the other alone decides.
  CHECK(firings(sched("0 0 1 * *"), utc(2026, 1, 1), utc(2026, 2, 9)) == v{utc(2026, 2, 1)});
  CHECK(firings(sched("0 0 * * MON"), utc(2026, 1, 1), utc(2026, 1, 31)) ==
        v{utc(2026, 1, 5), utc(2026, 1, 12), utc(2026, 1, 19), utc(2026, 1, 26)});
  // `*/2` is a restriction: odd days OR Mondays.
  CHECK(firings(sched("0 0 */2 * MON"), utc(2026, 1, 1), utc(2026, 1, 13)) ==
        v{utc(2026, 1, 3), utc(2026, 1, 5), utc(2026, 1, 7), utc(2026, 1, 9), utc(2026, 1, 11), utc(2026, 1, 12),
          utc(2026, 1, 13)});
  // Backwards too.
  CHECK(sched("0 0 1 * MON").prev_at_or_before(utc(2026, 2, 1, 23)) == utc(2026, 2, 1));
  CHECK(sched("0 0 1 * MON").prev_at_or_before(utc(2026, 1, 31)) == utc(2026, 1, 26));
  // 30 February never occurs, but Mondays do.
  CHECK(sched("0 0 30 2 MON").next_after(utc(2026, 2, 3)) == utc(2026, 2, 9));
}

TEST_CASE("cron: 29 February, found by fields (fast)", "[cron]") {
  auto s = sched("0 0 29 2 *");
  CHECK(s.next_after(utc(2026, 3, 1)) == utc(2028, 2, 29));
  CHECK(s.next_after(utc(2028, 2, 29)) == utc(2032, 2, 29));
  CHECK(s.prev_at_or_before(utc(2027, 1, 1)) == utc(2024, 2, 29));
  CHECK(s.next_after(utc(2096, 3, 1)) == utc(2104, 2, 29)); // 2100 is not a leap year
  CHECK(s.next_after(utc(1896, 3, 1)) == utc(1904, 2, 29)); // nor 1900
  CHECK(s.next_after(utc(1999, 3, 1)) == utc(2000, 2, 29)); // 2000 is
  CHECK(sched("0 0 29 2 *", "Europe/Berlin").next_after(utc(2026, 3, 1)) == utc(2028, 2, 28, 23));
  CHECK(sched("30 12 29 2 *", "America/New_York").next_after(utc(2026, 3, 1)) == utc(2028, 2, 29, 17, 30));

  // Minute-by-minute would be about 1.5 million steps per call here.
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t last = 0;
  for (int i = 0; i < 2000; ++i) {
    auto n = s.next_after(utc(2024, 3, 1) + i * 3600);
    REQUIRE(n);
    last = *n;
  }
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(last == utc(2028, 2, 29));
  CHECK(took < std::chrono::seconds(1));
}

TEST_CASE("cron: local to UTC across DST gaps and overlaps", "[cron]") {
  auto berlin = routing::zone::load("Europe/Berlin");
  REQUIRE(berlin);
  const auto& z = *berlin.value();
  // Local wall times as seconds on the local clock: utc() of the wall time.
  auto gap = routing::from_local(z, utc(2026, 3, 29, 2, 30));
  CHECK(gap.in_gap);
  CHECK(gap.earliest == utc(2026, 3, 29, 1)); // 03:00 CEST
  CHECK(gap.latest == gap.earliest);
  auto overlap = routing::from_local(z, utc(2026, 10, 25, 2, 30));
  CHECK_FALSE(overlap.in_gap);
  CHECK(overlap.earliest == utc(2026, 10, 25, 0, 30)); // 02:30 CEST
  CHECK(overlap.latest == utc(2026, 10, 25, 1, 30));   // 02:30 CET
  auto plain = routing::from_local(z, utc(2026, 7, 1, 12));
  CHECK_FALSE(plain.in_gap);
  CHECK(plain.earliest == utc(2026, 7, 1, 10));
  CHECK(plain.latest == plain.earliest);
  // The edges: 02:00 is skipped, 03:00 exists; 03:00 on fall-back day is once.
  CHECK(routing::from_local(z, utc(2026, 3, 29, 2)).in_gap);
  CHECK(routing::from_local(z, utc(2026, 3, 29, 2)).earliest == utc(2026, 3, 29, 1));
  CHECK_FALSE(routing::from_local(z, utc(2026, 3, 29, 3)).in_gap);
  CHECK(routing::from_local(z, utc(2026, 3, 29, 1, 59)).earliest == utc(2026, 3, 29, 0, 59));
  CHECK(routing::from_local(z, utc(2026, 10, 25, 3)).latest == utc(2026, 10, 25, 2));
  CHECK(routing::from_local(z, utc(2026, 10, 25, 3)).earliest == utc(2026, 10, 25, 2));
  auto fixed = routing::zone::load("UTC");
  REQUIRE(fixed);
  CHECK(routing::from_local(*fixed.value(), 12345).earliest == 12345);
}

TEST_CASE("cron: Europe/Berlin spring forward (2026-03-29, 02:00 CET -> 03:00 CEST)", "[cron]") {
  auto daily = sched("30 2 * * *", "Europe/Berlin");
  CHECK(firings(daily, utc(2026, 3, 27, 12), utc(2026, 3, 30, 12)) ==
        v{utc(2026, 3, 28, 1, 30),  // 02:30 CET
          utc(2026, 3, 29, 1),      // 02:30 does not exist: 03:00 CEST, the end of the gap
          utc(2026, 3, 30, 0, 30)}); // 02:30 CEST
  CHECK(daily.prev_at_or_before(utc(2026, 3, 29, 1, 10)) == utc(2026, 3, 29, 1));

  // Hourly: 01:00 CET, then 02:00 (skipped) and 03:00 are one instant, firing once.
  CHECK(firings(sched("0 * * * *", "Europe/Berlin"), utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 2, 30)) ==
        v{utc(2026, 3, 29, 0), utc(2026, 3, 29, 1), utc(2026, 3, 29, 2)});
  CHECK(firings(sched("*/15 * * * *", "Europe/Berlin"), utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 20)) ==
        v{utc(2026, 3, 29, 0, 45), utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 15)});
}

TEST_CASE("cron: Europe/Berlin fall back (2026-10-25, 03:00 CEST -> 02:00 CET)", "[cron]") {
  auto daily = sched("30 2 * * *", "Europe/Berlin");
  CHECK(firings(daily, utc(2026, 10, 23, 12), utc(2026, 10, 26, 12)) ==
        v{utc(2026, 10, 24, 0, 30),  // 02:30 CEST
          utc(2026, 10, 25, 0, 30),  // the first 02:30 (CEST) only
          utc(2026, 10, 26, 1, 30)}); // 02:30 CET
  // From inside the repeated hour, the second 02:30 does not fire.
  CHECK(daily.next_after(utc(2026, 10, 25, 1, 10)) == utc(2026, 10, 26, 1, 30));
  CHECK(daily.prev_at_or_before(utc(2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30));

  // Hourly: 01:00 and 02:00 CEST, the repeated 02:00 (CET) skipped, then 03:00 CET.
  CHECK(firings(sched("0 * * * *", "Europe/Berlin"), utc(2026, 10, 24, 22, 30), utc(2026, 10, 25, 2, 30)) ==
        v{utc(2026, 10, 24, 23), utc(2026, 10, 25, 0), utc(2026, 10, 25, 2)});
}

TEST_CASE("cron: America/New_York spring forward and fall back", "[cron]") {
  // 2026-03-08: 02:00 EST -> 03:00 EDT at 07:00 UTC.
  auto daily = sched("30 2 * * *", "America/New_York");
  CHECK(firings(daily, utc(2026, 3, 6, 12), utc(2026, 3, 9, 12)) ==
        v{utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)});
  CHECK(firings(sched("0 * * * *", "America/New_York"), utc(2026, 3, 8, 5, 30), utc(2026, 3, 8, 8, 30)) ==
        v{utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)});

  // 2026-11-01: 02:00 EDT -> 01:00 EST at 06:00 UTC; 01:xx repeats.
  CHECK(firings(daily, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) ==
        v{utc(2026, 11, 1, 7, 30), utc(2026, 11, 2, 7, 30)}); // 02:30 EST occurs once
  auto one_thirty = sched("30 1 * * *", "America/New_York");
  CHECK(firings(one_thirty, utc(2026, 10, 31, 12), utc(2026, 11, 2, 12)) ==
        v{utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)}); // the first 01:30 (EDT) only
  CHECK(firings(sched("0 * * * *", "America/New_York"), utc(2026, 11, 1, 3, 30), utc(2026, 11, 1, 7, 30)) ==
        v{utc(2026, 11, 1, 4), utc(2026, 11, 1, 5), utc(2026, 11, 1, 7)});
}

TEST_CASE("cron: UTC has no DST", "[cron]") {
  auto s = sched("30 2 * * *");
  CHECK(firings(s, utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)) == v{utc(2026, 3, 29, 2, 30), utc(2026, 3, 30, 2, 30)});
  CHECK(firings(sched("0 * * * *"), utc(2026, 10, 25), utc(2026, 10, 25, 4)).size() == 4);
}

TEST_CASE("cron: catch-up policies", "[cron]") {
  auto hourly = sched("0 * * * *");
  const auto last = utc(2026, 1, 1, 10);
  const auto now = utc(2026, 1, 1, 15, 20); // 11..15 were missed
  const auto next = utc(2026, 1, 1, 16);

  auto none = plan_catch_up(hourly, last, now, catch_up_policy::none, 10);
  CHECK(none.fire.empty());
  CHECK(none.next == next);
  CHECK_FALSE(none.capped);

  auto latest = plan_catch_up(hourly, last, now, catch_up_policy::latest, 10);
  CHECK(latest.fire == v{utc(2026, 1, 1, 15)});
  CHECK(latest.next == next);

  auto all = plan_catch_up(hourly, last, now, catch_up_policy::all, 10);
  CHECK(all.fire == v{utc(2026, 1, 1, 11), utc(2026, 1, 1, 12), utc(2026, 1, 1, 13), utc(2026, 1, 1, 14),
                      utc(2026, 1, 1, 15)});
  CHECK_FALSE(all.capped);
  CHECK(all.next == next);
  CHECK_FALSE(plan_catch_up(hourly, last, now, catch_up_policy::all, 5).capped);

  auto capped = plan_catch_up(hourly, last, now, catch_up_policy::all, 3);
  CHECK(capped.fire == v{utc(2026, 1, 1, 13), utc(2026, 1, 1, 14), utc(2026, 1, 1, 15)});
  CHECK(capped.capped);
  CHECK(capped.next == next);

  // On time (within the grace period): runs under every policy.
  for (auto p : {catch_up_policy::none, catch_up_policy::latest, catch_up_policy::all}) {
    auto on_time = plan_catch_up(hourly, utc(2026, 1, 1, 14), utc(2026, 1, 1, 15, 0, 30), p, 10);
    CHECK(on_time.fire == v{utc(2026, 1, 1, 15)});
    CHECK(on_time.next == next);
    auto exact = plan_catch_up(hourly, utc(2026, 1, 1, 14), utc(2026, 1, 1, 15), p, 10);
    CHECK(exact.fire == v{utc(2026, 1, 1, 15)});
    CHECK(exact.next == next);
  }
  // Late beyond the grace: none skips it; a longer grace keeps it.
  CHECK(plan_catch_up(hourly, utc(2026, 1, 1, 14), utc(2026, 1, 1, 15, 2), catch_up_policy::none, 10).fire.empty());
  CHECK(plan_catch_up(hourly, utc(2026, 1, 1, 14), utc(2026, 1, 1, 15, 2), catch_up_policy::none, 10, 300).fire ==
        v{utc(2026, 1, 1, 15)});
  // Only older missed ones plus an on-time one: none runs the on-time one alone.
  CHECK(plan_catch_up(hourly, last, utc(2026, 1, 1, 15, 0, 10), catch_up_policy::none, 10).fire ==
        v{utc(2026, 1, 1, 15)});

  // Nothing due; a clock that went backwards does not re-fire.
  auto idle = plan_catch_up(hourly, utc(2026, 1, 1, 15), utc(2026, 1, 1, 15, 30), catch_up_policy::all, 10);
  CHECK(idle.fire.empty());
  CHECK(idle.next == next);
  auto back = plan_catch_up(hourly, utc(2026, 1, 1, 15), utc(2026, 1, 1, 14, 30), catch_up_policy::all, 10);
  CHECK(back.fire.empty());
  CHECK(back.next == next);

  // A year of missed minutes, capped: O(cap), the newest ones.
  auto minutely = sched("* * * * *");
  const auto t0 = std::chrono::steady_clock::now();
  auto year = plan_catch_up(minutely, utc(2026, 1, 1), utc(2027, 1, 1, 0, 0, 30), catch_up_policy::all, 3);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(200));
  CHECK(year.fire == v{utc(2026, 12, 31, 23, 58), utc(2026, 12, 31, 23, 59), utc(2027, 1, 1)});
  CHECK(year.capped);
  CHECK(year.next == utc(2027, 1, 1, 0, 1));
}

TEST_CASE("cron: a scheduler on a fake clock fires each time once, across an outage", "[cron]") {
  // Every 15 minutes in Berlin over the spring-forward night, down from 01:10 to 04:40 UTC.
  auto s = sched("*/15 * * * *", "Europe/Berlin");
  for (auto policy : {catch_up_policy::none, catch_up_policy::latest, catch_up_policy::all}) {
    std::int64_t last_done = utc(2026, 3, 28, 22); // creation
    std::optional<std::int64_t> next = s.next_after(last_done);
    std::vector<std::int64_t> ran;
    std::int64_t now = last_done;
    const std::int64_t down_from = utc(2026, 3, 29, 1, 10), down_to = utc(2026, 3, 29, 4, 40);
    while (next && *next <= utc(2026, 3, 29, 6)) {
      now = std::max(now, *next + 2); // wakes two seconds late
      if (now > down_from && now < down_to) now = down_to; // the outage
      auto plan = plan_catch_up(s, last_done, now, policy, 4);
      for (auto t : plan.fire) ran.push_back(t);
      if (!plan.fire.empty()) last_done = plan.fire.back();
      next = plan.next;
    }
    std::set<std::int64_t> distinct(ran.begin(), ran.end());
    CHECK(distinct.size() == ran.size()); // never twice
    CHECK(std::is_sorted(ran.begin(), ran.end()));
    const auto before = firings(s, utc(2026, 3, 28, 22), down_from);
    const auto missed = firings(s, down_from, down_to); // 01:15 .. 04:30 UTC
    const auto after = firings(s, down_to, utc(2026, 3, 29, 6));
    REQUIRE(missed.size() == 14);
    REQUIRE(ran.size() >= before.size() + after.size());
    // Before the outage every firing ran, on time (03:00 CEST the only 02:xx one).
    CHECK(std::equal(before.begin(), before.end(), ran.begin()));
    CHECK(std::equal(after.rbegin(), after.rend(), ran.rbegin()));
    const std::size_t ran_missed = ran.size() - before.size() - after.size();
    if (policy == catch_up_policy::none) CHECK(ran_missed == 0);
    if (policy == catch_up_policy::latest) CHECK(ran_missed == 1);
    if (policy == catch_up_policy::all) CHECK(ran_missed == 4); // the cap
  }
}

TEST_CASE("cron: catch_up names", "[cron]") {
  CHECK(parse_catch_up("none").value() == catch_up_policy::none);
  CHECK(parse_catch_up("latest").value() == catch_up_policy::latest);
  CHECK(parse_catch_up("all").value() == catch_up_policy::all);
  auto bad = parse_catch_up("sometimes");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_request);
  CHECK(bad.error().param == std::optional<std::string>("catch_up"));
  CHECK_THAT(bad.error().message, Contains("none, latest, all"));
  CHECK_FALSE(parse_catch_up("Latest"));
  CHECK(std::string(to_string(catch_up_policy::latest)) == "latest");
  CHECK(parse_catch_up(to_string(catch_up_policy::all)).value() == catch_up_policy::all);
}
