#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "oag/storage/money.hpp"

using namespace oag::money;
using oag::errc;

TEST_CASE("parse_ot accepts decimal O₮ amounts", "[money]") {
  REQUIRE(*parse_ot("1000") == 1'000'000'000);
  REQUIRE(*parse_ot("12.5") == 12'500'000);
  REQUIRE(*parse_ot("0.000001") == 1);
  REQUIRE(*parse_ot("0") == 0);
  REQUIRE(*parse_ot("007.250000") == 7'250'000);
  REQUIRE(*parse_ot("9223372036854.775807") == std::numeric_limits<uot>::max());
}

TEST_CASE("parse_ot rejects what is not an exact non-negative amount", "[money]") {
  for (const char* bad : {"-1", "1e3", "1.0000001", "", ".", "abc", "1,5", " 1", "1 ", "0x10",
                          "1..2", "9223372036854.775808", "9223372036855",
                          "99999999999999999999999", "inf", "nan"}) {
    INFO("input: " << bad);
    auto r = parse_ot(bad);
    REQUIRE_FALSE(r.ok());
    REQUIRE(r.error().code == errc::invalid_request);
  }
}

TEST_CASE("format_ot drops trailing zeros and round trips", "[money]") {
  REQUIRE(format_ot(0) == "0");
  REQUIRE(format_ot(1) == "0.000001");
  REQUIRE(format_ot(12'500'000) == "12.5");
  REQUIRE(format_ot(1'000'000'000) == "1000");
  REQUIRE(format_ot(-1'500'000) == "-1.5");
  REQUIRE(format_ot(std::numeric_limits<uot>::min()) == "-9223372036854.775808");
  for (uot v : {uot{0}, uot{1}, uot{10}, uot{999'999}, uot{1'000'000}, uot{1'000'001},
                uot{123'456'789}, std::numeric_limits<uot>::max()}) {
    INFO("value: " << v);
    REQUIRE(*parse_ot(format_ot(v)) == v);
  }
}

TEST_CASE("USD per Mtok converts to exact µUSD", "[money]") {
  REQUIRE(*usd_per_mtok_to_musd(0.15) == 150'000);
  REQUIRE(*usd_per_mtok_to_musd(0.0375) == 37'500);
  REQUIRE(*usd_per_mtok_to_musd(0) == 0);
  REQUIRE(*usd_per_mtok_to_musd(2.5) == 2'500'000);
  REQUIRE_FALSE(usd_per_mtok_to_musd(-0.01).ok());
  REQUIRE_FALSE(usd_per_mtok_to_musd(std::nan("")).ok());
  REQUIRE_FALSE(usd_per_mtok_to_musd(std::numeric_limits<double>::infinity()).ok());
}

TEST_CASE("cost_of rounds up once, exactly", "[money]") {
  price p{150'000, 75'000, 600'000}; // $0.15 / $0.075 / $0.60 per Mtok
  REQUIRE(cost_of({1, 0, 0}, p) == 150);
  REQUIRE(cost_of({0, 0, 0}, p) == 0);
  price tiny{37'500, 0, 0}; // $0.0375 per Mtok
  REQUIRE(cost_of({7, 0, 0}, tiny) == 263);  // ceil(262.5)
  REQUIRE(cost_of({8, 0, 0}, tiny) == 300);  // exact, no rounding
  price cheap{1, 0, 0};                      // $0.000001 per Mtok
  REQUIRE(cost_of({1, 0, 0}, cheap) == 1);   // any non-zero cost is at least 1 µO₮
  // Cached input billed at the cached rate, the rest at the input rate.
  REQUIRE(cost_of({10, 4, 2}, p) == (6 * 150'000 + 4 * 75'000 + 2 * 600'000) / 1000);
  // More cached than input tokens clamps to all-cached.
  REQUIRE(cost_of({5, 9, 0}, p) == 5 * 75'000 / 1000);
  // Negative counts are treated as zero.
  REQUIRE(cost_of({-5, -1, -7}, p) == 0);
  // One million output tokens at $0.60 is 600 O₮.
  REQUIRE(cost_of({0, 0, 1'000'000}, p) == 600 * uot_per_ot);
  // Huge usage saturates instead of wrapping.
  price dear{std::numeric_limits<std::int64_t>::max(), 0, 0};
  REQUIRE(cost_of({std::numeric_limits<std::int64_t>::max(), 0, 0}, dear) ==
          std::numeric_limits<uot>::max());
}
