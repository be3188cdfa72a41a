#include "oag/storage/money.hpp"

#include <cmath>
#include <limits>

namespace oag::money {

result<uot> parse_ot(std::string_view text) {
  auto bad = [&](const char* why) {
    return make_failure(errc::invalid_request,
                        std::string{"invalid O₮ amount: "} + why);
  };
  if (text.empty()) return bad("empty");
  if (text.size() > 40) return bad("too long");
  std::size_t i = 0;
  if (text[0] == '+') i = 1;
  if (text[0] == '-') return bad("must not be negative");
  // Integer part, then up to 6 decimals; scaled to µO₮ without floating point.
  __int128 whole = 0;
  std::size_t int_digits = 0;
  for (; i < text.size() && text[i] != '.'; ++i) {
    char c = text[i];
    if (c < '0' || c > '9') return bad("not a decimal number");
    whole = whole * 10 + (c - '0');
    if (whole > std::numeric_limits<uot>::max() / uot_per_ot) return bad("too large");
    ++int_digits;
  }
  __int128 frac = 0;
  std::size_t frac_digits = 0;
  if (i < text.size()) {
    ++i; // '.'
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c < '0' || c > '9') return bad("not a decimal number");
      if (++frac_digits > 6) return bad("more than 6 decimals (1 µO₮ is the smallest unit)");
      frac = frac * 10 + (c - '0');
    }
    if (frac_digits == 0 && int_digits == 0) return bad("not a decimal number");
  }
  if (int_digits == 0 && frac_digits == 0) return bad("not a decimal number");
  for (std::size_t d = frac_digits; d < 6; ++d) frac *= 10;
  __int128 total = whole * uot_per_ot + frac;
  if (total > std::numeric_limits<uot>::max()) return bad("too large");
  return static_cast<uot>(total);
}

std::string format_ot(uot amount) {
  std::string sign;
  unsigned __int128 v;
  if (amount < 0) {
    sign = "-";
    v = static_cast<unsigned __int128>(-(static_cast<__int128>(amount)));
  } else {
    v = static_cast<unsigned __int128>(amount);
  }
  auto whole = static_cast<unsigned long long>(v / uot_per_ot);
  auto frac = static_cast<unsigned long long>(v % uot_per_ot);
  std::string out = sign + std::to_string(whole);
  if (frac != 0) {
    std::string f = std::to_string(frac);
    f.insert(0, 6 - f.size(), '0');
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  return out;
}

result<std::int64_t> usd_per_mtok_to_musd(double usd_per_mtok) {
  if (!std::isfinite(usd_per_mtok) || usd_per_mtok < 0)
    return make_failure(errc::invalid_request, "price must be a finite non-negative number");
  // $100,000 per million tokens is far above any model's price; the bound
  // keeps every per-call cost far inside 64 bits.
  if (usd_per_mtok > 1e5)
    return make_failure(errc::invalid_request, "price is unreasonably large (over $100,000 per 1M tokens)");
  return static_cast<std::int64_t>(std::llround(usd_per_mtok * 1e6));
}

uot cost_of(const token_usage& usage, const price& p) {
  auto clamp0 = [](std::int64_t v) { return v < 0 ? std::int64_t{0} : v; };
  __int128 cached = clamp0(usage.cached_input_tokens);
  __int128 input = clamp0(usage.input_tokens);
  if (cached > input) cached = input;
  __int128 uncached = input - cached;
  __int128 output = clamp0(usage.output_tokens);
  // tokens × µUSD/Mtok = 1e-12 USD units; 1 µO₮ = 1e-9 USD, so divide by
  // 1000 and round up once.
  __int128 pico_usd = uncached * p.input_musd_per_mtok +
                      cached * p.cached_input_musd_per_mtok +
                      output * p.output_musd_per_mtok;
  __int128 uot_value = (pico_usd + 999) / 1000;
  if (uot_value > std::numeric_limits<uot>::max()) return std::numeric_limits<uot>::max();
  return static_cast<uot>(uot_value);
}

} // namespace oag::money
