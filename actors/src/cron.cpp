#include "oag/actors/cron.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace oag::actors::cron {

// The parsed fields as bit sets: bit v set means value v matches.
struct schedule::fields {
  std::uint64_t minute = 0; // bits 0..59
  std::uint32_t hour = 0;   // bits 0..23
  std::uint32_t dom = 0;    // bits 1..31
  std::uint32_t month = 0;  // bits 1..12
  std::uint32_t dow = 0;    // bits 0..6, 0 = Sunday
  bool dom_star = false;    // the field was a plain `*`
  bool dow_star = false;
};

namespace {

using fields_t = schedule::fields;

// -- civil calendar (proleptic Gregorian, days since 1970-01-01) ---------------

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

std::int64_t days_from_civil(std::int64_t y, int m, int d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<std::int64_t>(y - era * 400);
  const std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct civil {
  std::int64_t y = 1970;
  int mo = 1, d = 1, h = 0, mi = 0;
};

civil civil_from_local(std::int64_t local) {
  const std::int64_t days = floor_div(local, 86400);
  const std::int64_t secs = local - days * 86400;
  std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  civil c;
  c.d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  c.mo = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  c.y = yoe + era * 400 + (c.mo <= 2);
  c.h = static_cast<int>(secs / 3600);
  c.mi = static_cast<int>(secs % 3600 / 60);
  return c;
}

std::int64_t to_local_seconds(const civil& c) {
  return days_from_civil(c.y, c.mo, c.d) * 86400 + c.h * 3600 + c.mi * 60;
}

bool leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(std::int64_t y, int m) {
  static constexpr std::array<int, 13> dim{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : dim[static_cast<std::size_t>(m)];
}

int weekday_sun0(std::int64_t y, int m, int d) {
  const std::int64_t days = days_from_civil(y, m, d);
  return static_cast<int>(((days + 4) % 7 + 7) % 7); // 1970-01-01 was a Thursday
}

// -- bit helpers ------------------------------------------------------------------

/// Smallest set bit >= from, or -1.
int next_bit(std::uint64_t bits, int from) {
  if (from > 63) return -1;
  const std::uint64_t rest = bits >> from;
  return rest == 0 ? -1 : from + __builtin_ctzll(rest);
}

/// Largest set bit <= upto, or -1.
int prev_bit(std::uint64_t bits, int upto) {
  if (upto < 0) return -1;
  const std::uint64_t mask = upto >= 63 ? ~std::uint64_t{0} : ((std::uint64_t{1} << (upto + 1)) - 1);
  const std::uint64_t rest = bits & mask;
  return rest == 0 ? -1 : 63 - __builtin_clzll(rest);
}

bool day_ok(const fields_t& f, std::int64_t y, int mo, int d) {
  const bool dom_hit = (f.dom >> d) & 1u;
  if (f.dow_star) return dom_hit; // the day-of-week field matches every day
  const bool dow_hit = (f.dow >> weekday_sun0(y, mo, d)) & 1u;
  if (f.dom_star) return dow_hit;
  return dom_hit || dow_hit; // both restricted: either one (POSIX)
}

// -- searching by fields (local wall-clock minutes) ----------------------------------

/// The first matching local minute at or after `local` (minute-aligned).
std::optional<std::int64_t> next_local(const fields_t& f, std::int64_t local) {
  civil c = civil_from_local(local);
  const std::int64_t limit = c.y + search_years;
  auto next_day = [&] {
    ++c.d;
    c.h = 0;
    c.mi = 0;
  };
  while (c.y <= limit) {
    if (!((f.month >> c.mo) & 1u)) {
      int m = next_bit(f.month, c.mo + 1);
      if (m < 0) {
        ++c.y;
        m = next_bit(f.month, 1);
      }
      c.mo = m;
      c.d = 1;
      c.h = 0;
      c.mi = 0;
      continue;
    }
    if (c.d > days_in_month(c.y, c.mo)) {
      if (++c.mo > 12) {
        c.mo = 1;
        ++c.y;
      }
      c.d = 1;
      c.h = 0;
      c.mi = 0;
      continue;
    }
    if (!day_ok(f, c.y, c.mo, c.d)) {
      if (f.dow_star) { // only the day of month decides: jump to its next value
        const int d = next_bit(f.dom, c.d + 1);
        c.d = d < 0 ? 32 : d;
        c.h = 0;
        c.mi = 0;
      } else {
        next_day();
      }
      continue;
    }
    const int h = next_bit(f.hour, c.h);
    if (h < 0) {
      next_day();
      continue;
    }
    if (h != c.h) {
      c.h = h;
      c.mi = 0;
    }
    const int mi = next_bit(f.minute, c.mi);
    if (mi < 0) {
      c.mi = 0;
      if (++c.h == 24) next_day();
      continue;
    }
    c.mi = mi;
    return to_local_seconds(c);
  }
  return std::nullopt;
}

/// The last matching local minute at or before `local` (minute-aligned).
std::optional<std::int64_t> prev_local(const fields_t& f, std::int64_t local) {
  civil c = civil_from_local(local);
  const std::int64_t limit = c.y - search_years;
  auto to_month_end = [&] {
    c.d = days_in_month(c.y, c.mo);
    c.h = 23;
    c.mi = 59;
  };
  auto prev_day = [&](int d) {
    c.d = d;
    c.h = 23;
    c.mi = 59;
  };
  while (c.y >= limit) {
    if (!((f.month >> c.mo) & 1u)) {
      int m = prev_bit(f.month, c.mo - 1);
      if (m < 0) {
        --c.y;
        m = prev_bit(f.month, 12);
      }
      c.mo = m;
      to_month_end();
      continue;
    }
    if (c.d < 1) {
      if (--c.mo < 1) {
        c.mo = 12;
        --c.y;
      }
      to_month_end();
      continue;
    }
    if (!day_ok(f, c.y, c.mo, c.d)) {
      if (f.dow_star) {
        const int d = prev_bit(f.dom, c.d - 1);
        prev_day(d < 0 ? 0 : d);
      } else {
        prev_day(c.d - 1);
      }
      continue;
    }
    const int h = prev_bit(f.hour, c.h);
    if (h < 0) {
      prev_day(c.d - 1);
      continue;
    }
    if (h != c.h) {
      c.h = h;
      c.mi = 59;
    }
    const int mi = prev_bit(f.minute, c.mi);
    if (mi < 0) {
      c.mi = 59;
      if (--c.h < 0) prev_day(c.d - 1);
      continue;
    }
    c.mi = mi;
    return to_local_seconds(c);
  }
  return std::nullopt;
}

// Instants beyond this (about ±31,000 years) are refused rather than overflowing.
constexpr std::int64_t max_abs_instant = 1'000'000'000'000;

// -- parsing ---------------------------------------------------------------------

constexpr std::array<const char*, 12> month_names{"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                  "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr std::array<const char*, 7> day_names{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

struct field_spec {
  const char* name;
  int min;
  int max;       // the largest value `*` and `N/step` reach
  int input_max; // the largest value accepted (7 = Sunday for weekdays)
  const char* const* names = nullptr;
  int name_count = 0;
  int name_base = 0; // the value of names[0]
};

const field_spec minute_spec{"minute", 0, 59, 59};
const field_spec hour_spec{"hour", 0, 23, 23};
const field_spec dom_spec{"day-of-month", 1, 31, 31};
const field_spec month_spec{"month", 1, 12, 12, month_names.data(), 12, 1};
const field_spec dow_spec{"day-of-week", 0, 6, 7, day_names.data(), 7, 0};

std::string quoted(std::string_view s) {
  std::string out = "\"";
  out.append(s.substr(0, 64));
  if (s.size() > 64) out += "...";
  return out + '"';
}

bool parse_value(std::string_view tok, const field_spec& spec, int& out, std::string& why) {
  if (tok.empty()) {
    why = std::string(spec.name) + ": a value is missing";
    return false;
  }
  if (std::all_of(tok.begin(), tok.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    if (tok.size() > 4) {
      why = std::string(spec.name) + ": " + std::string(tok) + " is out of range " + std::to_string(spec.min) + "-" +
            std::to_string(spec.input_max);
      return false;
    }
    int v = 0;
    for (char ch : tok) v = v * 10 + (ch - '0');
    if (v < spec.min || v > spec.input_max) {
      why = std::string(spec.name) + ": " + std::to_string(v) + " is out of range " + std::to_string(spec.min) + "-" +
            std::to_string(spec.input_max);
      return false;
    }
    out = v;
    return true;
  }
  if (spec.names && tok.size() == 3) {
    for (int i = 0; i < spec.name_count; ++i) {
      const char* n = spec.names[i];
      bool eq = true;
      for (std::size_t k = 0; k < 3; ++k)
        eq = eq && std::toupper(static_cast<unsigned char>(tok[k])) == n[k];
      if (eq) {
        out = spec.name_base + i;
        return true;
      }
    }
  }
  why = std::string(spec.name) + ": " + quoted(tok) + " is not a number" +
        (spec.names ? std::string(" or a name (") + spec.names[0] + "-" + spec.names[spec.name_count - 1] + ")" : "");
  return false;
}

/// Parses one field into `bits`; `star` tells whether it was a plain `*`.
bool parse_field(std::string_view text, const field_spec& spec, std::uint64_t& bits, bool& star, std::string& why) {
  const std::string name = spec.name;
  star = text == "*";
  bits = 0;
  std::size_t pos = 0;
  while (true) {
    const std::size_t comma = text.find(',', pos);
    const std::string_view elem = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (elem.empty()) {
      why = name + ": empty list element in " + quoted(text);
      return false;
    }
    const std::size_t slash = elem.find('/');
    const std::string_view range = elem.substr(0, slash);
    int lo = 0, hi = 0, step = 1;
    bool is_range = false;
    if (range == "*") {
      lo = spec.min;
      hi = spec.max;
      is_range = true;
    } else {
      const std::size_t dash = range.find('-');
      if (dash != std::string_view::npos) {
        if (!parse_value(range.substr(0, dash), spec, lo, why) || !parse_value(range.substr(dash + 1), spec, hi, why))
          return false;
        is_range = true;
        if (&spec == &dow_spec && hi == 0 && lo > 0) hi = 7; // FRI-SUN
        if (lo > hi) {
          why = name + ": range " + quoted(range) + " runs backwards";
          return false;
        }
      } else {
        if (!parse_value(range, spec, lo, why)) return false;
        hi = lo;
      }
    }
    if (slash != std::string_view::npos) {
      const std::string_view st = elem.substr(slash + 1);
      const int span = spec.max - spec.min + 1;
      const bool digits =
          !st.empty() && st.size() <= 4 && std::all_of(st.begin(), st.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
      int v = 0;
      if (digits)
        for (char ch : st) v = v * 10 + (ch - '0');
      if (!digits || v < 1 || v > span) {
        why = name + ": step " + quoted(st) + " must be a number from 1 to " + std::to_string(span);
        return false;
      }
      step = v;
      if (!is_range) hi = std::max(lo, spec.max); // "5/20" is "5-<max>/20"
    }
    for (int v = lo; v <= hi; v += step) bits |= std::uint64_t{1} << (&spec == &dow_spec && v == 7 ? 0 : v);
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

} // namespace

result<schedule> schedule::parse(std::string_view expr, std::string_view time_zone) {
  auto z = routing::zone::load(time_zone);
  if (!z) return make_failure(errc::invalid_request, "time_zone: " + z.error().message);
  return parse(expr, std::move(z.value()));
}

result<schedule> schedule::parse(std::string_view expr_in, std::shared_ptr<const routing::zone> zone) {
  const std::string_view expr = trim(expr_in);
  auto fail = [&](const std::string& why) {
    return make_failure(errc::invalid_request, "cron expression " + quoted(expr) + ": " + why);
  };
  if (!zone) return make_failure(errc::invalid_request, "time_zone: missing");
  if (expr.empty()) return fail("is empty");
  std::string_view text = expr;
  if (expr.front() == '@') {
    const std::string m = lower(expr);
    if (m == "@yearly" || m == "@annually") text = "0 0 1 1 *";
    else if (m == "@monthly") text = "0 0 1 * *";
    else if (m == "@weekly") text = "0 0 * * 0";
    else if (m == "@daily" || m == "@midnight") text = "0 0 * * *";
    else if (m == "@hourly") text = "0 * * * *";
    else return fail("unknown macro (use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)");
  }
  std::vector<std::string_view> parts;
  for (std::size_t i = 0; i < text.size();) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    parts.push_back(text.substr(i, j - i));
    i = j;
  }
  if (parts.size() != 5)
    return fail("expected 5 fields (minute hour day-of-month month day-of-week), got " + std::to_string(parts.size()));
  auto f = std::make_shared<fields>();
  std::string why;
  std::uint64_t bits = 0;
  bool star = false;
  if (!parse_field(parts[0], minute_spec, bits, star, why)) return fail(why);
  f->minute = bits;
  if (!parse_field(parts[1], hour_spec, bits, star, why)) return fail(why);
  f->hour = static_cast<std::uint32_t>(bits);
  if (!parse_field(parts[2], dom_spec, bits, f->dom_star, why)) return fail(why);
  f->dom = static_cast<std::uint32_t>(bits);
  if (!parse_field(parts[3], month_spec, bits, star, why)) return fail(why);
  f->month = static_cast<std::uint32_t>(bits);
  if (!parse_field(parts[4], dow_spec, bits, f->dow_star, why)) return fail(why);
  f->dow = static_cast<std::uint32_t>(bits);
  if (f->dow_star) {
    // Only the day of month decides: it must occur in one of the months.
    bool possible = false;
    for (int m = 1; m <= 12 && !possible; ++m)
      if ((f->month >> m) & 1u)
        possible = prev_bit(f->dom, days_in_month(2000, m)) >= 1; // 2000: February has 29 days
    if (!possible) return fail("day-of-month never occurs in the listed months (e.g. 30 February), so it would never fire");
  }
  schedule s;
  s.expression_ = std::string{expr};
  s.zone_ = std::move(zone);
  s.fields_ = std::move(f);
  return s;
}

std::optional<std::int64_t> schedule::next_after(std::int64_t after_utc) const {
  if (after_utc > max_abs_instant || after_utc < -max_abs_instant) return std::nullopt;
  const std::int64_t local = after_utc + zone_->offset_at(after_utc);
  std::int64_t cursor = floor_div(local, 60) * 60 + 60;
  // Local minutes at or before `local` resolve to instants at or before
  // `after_utc` (the local→UTC map is monotone), so the search starts after
  // it; only wall times repeated by a fall-back overlap can still resolve
  // (by their first occurrence) to the past, and are skipped.
  for (int guard = 0; guard < 100'000; ++guard) {
    const auto l = next_local(*fields_, cursor);
    if (!l) return std::nullopt;
    const std::int64_t u = routing::from_local(*zone_, *l).earliest;
    if (u > after_utc) return u;
    cursor = *l + 60;
  }
  return std::nullopt;
}

std::optional<std::int64_t> schedule::prev_at_or_before(std::int64_t at_utc) const {
  if (at_utc > max_abs_instant || at_utc < -max_abs_instant) return std::nullopt;
  // Start above every wall time that could resolve to at_utc or before it.
  const std::int32_t off = std::max({zone_->offset_at(at_utc - 2 * 86400), zone_->offset_at(at_utc),
                                     zone_->offset_at(at_utc + 2 * 86400)});
  std::int64_t cursor = floor_div(at_utc + off, 60) * 60;
  for (int guard = 0; guard < 100'000; ++guard) {
    const auto l = prev_local(*fields_, cursor);
    if (!l) return std::nullopt;
    const std::int64_t u = routing::from_local(*zone_, *l).earliest;
    if (u <= at_utc) return u;
    cursor = *l - 60;
  }
  return std::nullopt;
}

result<catch_up_policy> parse_catch_up(std::string_view text) {
  if (text == "none") return catch_up_policy::none;
  if (text == "latest") return catch_up_policy::latest;
  if (text == "all") return catch_up_policy::all;
  return make_failure(errc::invalid_request, "catch_up: must be one of none, latest, all; got " + quoted(text),
                      "catch_up");
}

const char* to_string(catch_up_policy p) noexcept {
  switch (p) {
    case catch_up_policy::none: return "none";
    case catch_up_policy::latest: return "latest";
    case catch_up_policy::all: return "all";
  }
  return "latest";
}

catch_up_plan plan_catch_up(const schedule& s, std::int64_t last_done_utc, std::int64_t now_utc,
                            catch_up_policy policy, std::size_t cap, std::int64_t grace_s) {
  catch_up_plan plan;
  // A clock that went backwards never re-fires what was already done.
  plan.next = s.next_after(std::max(now_utc, last_done_utc));
  if (now_utc <= last_done_utc) return plan;
  const auto newest = s.prev_at_or_before(now_utc);
  if (!newest || *newest <= last_done_utc) return plan;
  const bool on_time = now_utc - *newest <= grace_s;
  switch (policy) {
    case catch_up_policy::none:
      if (on_time) plan.fire.push_back(*newest);
      break;
    case catch_up_policy::latest:
      plan.fire.push_back(*newest);
      break;
    case catch_up_policy::all: {
      const std::size_t limit = std::max<std::size_t>(cap, 1);
      std::optional<std::int64_t> t = newest;
      while (t && *t > last_done_utc) {
        if (plan.fire.size() == limit) {
          plan.capped = true;
          break;
        }
        plan.fire.push_back(*t);
        t = s.prev_at_or_before(*t - 1);
      }
      std::reverse(plan.fire.begin(), plan.fire.end());
      break;
    }
  }
  return plan;
}

} // namespace oag::actors::cron
