#pragma once
/// Exact money. 1 O₮ = $0.001 = 1,000,000 µO₮. Balances, reservations and
/// charges are signed 64-bit µO₮; never floating point.

#include <cstdint>
#include <string>
#include <string_view>

#include "oag/error.hpp"

namespace oag::money {

/// µO₮ amount.
using uot = std::int64_t;

inline constexpr uot uot_per_ot = 1'000'000;

/// Parses a decimal O₮ amount ("1000", "12.5", "0.000001") into µO₮.
/// Rejects negatives, more than 6 decimals, exponents and overflow.
result<uot> parse_ot(std::string_view text);

/// Formats µO₮ as a decimal O₮ string without trailing zeros ("12.5").
std::string format_ot(uot amount);

/// A model's price, in µUSD per 1M tokens (so $0.15/Mtok is 150000):
/// exact for any price with up to 6 decimals.
struct price {
  std::int64_t input_musd_per_mtok = 0;
  std::int64_t cached_input_musd_per_mtok = 0;
  std::int64_t output_musd_per_mtok = 0;
};

/// Converts a USD-per-Mtok decimal (as JSON gives it) to µUSD per Mtok,
/// rounding to the nearest µUSD. Rejects negatives and non-finite values.
result<std::int64_t> usd_per_mtok_to_musd(double usd_per_mtok);

/// Token counts of one call. `cached_input_tokens` is a subset of
/// `input_tokens` (as OpenAI reports `prompt_tokens_details.cached_tokens`).
struct token_usage {
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
};

/// cost_uot = ceil(Σ tokens × usd_per_mtok × 1000), computed exactly:
/// uncached input at the input rate, cached input at the cached rate,
/// output at the output rate; one rounding up at the end.
uot cost_of(const token_usage& usage, const price& p);

} // namespace oag::money
