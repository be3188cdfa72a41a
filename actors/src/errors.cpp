#include <caf/message.hpp>

#include "oag/actors/messages.hpp"

namespace oag::actors {

caf::error to_caf_error(const failure& f) {
  // The whole failure travels as the context so no field is lost on the way.
  return caf::error(static_cast<std::uint8_t>(f.code), oag_error_category(),
                    caf::make_message(f.message, f.param.value_or(std::string{}),
                                      f.http_status.value_or(0),
                                      f.error_code.value_or(std::string{}),
                                      f.retry_after.value_or(std::string{})));
}

failure from_caf_error(const caf::error& e) {
  failure f;
  if (e.category() != oag_error_category()) {
    f.code = errc::internal;
    f.message = "internal error";
    return f;
  }
  f.code = static_cast<errc>(e.code());
  const auto& ctx = e.context();
  if (ctx.match_elements<std::string, std::string, int, std::string, std::string>()) {
    f.message = ctx.get_as<std::string>(0);
    if (!ctx.get_as<std::string>(1).empty()) f.param = ctx.get_as<std::string>(1);
    if (ctx.get_as<int>(2) != 0) f.http_status = ctx.get_as<int>(2);
    if (!ctx.get_as<std::string>(3).empty()) f.error_code = ctx.get_as<std::string>(3);
    if (!ctx.get_as<std::string>(4).empty()) f.retry_after = ctx.get_as<std::string>(4);
  }
  return f;
}

std::string render_oag_error(std::uint8_t code, caf::atom_value, const caf::message& ctx) {
  std::string out = "oag:";
  out += to_string(static_cast<errc>(code));
  if (ctx.size() > 0 && ctx.match_element<std::string>(0)) {
    out += ": ";
    out += ctx.get_as<std::string>(0);
  }
  return out;
}

} // namespace oag::actors
