#include "oag/actors/routing.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <re2/re2.h>

namespace oag::actors::routing {

using nlohmann::json;

// -- time zones ----------------------------------------------------------------

namespace {

std::int64_t read_be(std::string_view b, std::size_t pos, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(b[pos + static_cast<std::size_t>(i)]);
  if (bytes == 4) return static_cast<std::int32_t>(static_cast<std::uint32_t>(v));
  return static_cast<std::int64_t>(v);
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

/// Civil year and month of a day count since the epoch.
std::pair<std::int64_t, unsigned> civil_year_month(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {y + (m <= 2), m};
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

} // namespace

result<std::shared_ptr<const zone>> zone::from_tzif(std::string name, std::string_view b) {
  auto bad = [&] { return make_failure(errc::invalid_request, "time zone '" + name + "' has an unreadable TZif file"); };
  if (b.size() < 44 || b.substr(0, 4) != "TZif") return bad();
  auto counts = [&](std::size_t at, std::int64_t c[6]) {
    for (int i = 0; i < 6; ++i) c[i] = read_be(b, at + 20 + static_cast<std::size_t>(i) * 4, 4);
  };
  std::int64_t c[6];
  counts(0, c);
  // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
  std::size_t pos = 44;
  int time_bytes = 4;
  if (b[4] >= '2') {
    // Skip the 32-bit block; the 64-bit one after it covers all times.
    std::size_t v1 = static_cast<std::size_t>(c[3] * 5 + c[4] * 6 + c[5] + c[2] * 8 + c[1] + c[0]);
    pos += v1;
    if (b.size() < pos + 44 || b.substr(pos, 4) != "TZif") return bad();
    counts(pos, c);
    pos += 44;
    time_bytes = 8;
  }
  const auto timecnt = static_cast<std::size_t>(c[3]);
  const auto typecnt = static_cast<std::size_t>(c[4]);
  if (typecnt == 0 || b.size() < pos + timecnt * (static_cast<std::size_t>(time_bytes) + 1) + typecnt * 6) return bad();
  auto z = std::make_shared<zone>();
  z->name_ = std::move(name);
  std::vector<std::int32_t> type_offsets(typecnt);
  const std::size_t types_at = pos + timecnt * (static_cast<std::size_t>(time_bytes) + 1);
  for (std::size_t i = 0; i < typecnt; ++i)
    type_offsets[i] = static_cast<std::int32_t>(read_be(b, types_at + i * 6, 4));
  z->initial_offset_ = type_offsets[0];
  for (std::size_t i = 0; i < timecnt; ++i) {
    auto t = read_be(b, pos + i * static_cast<std::size_t>(time_bytes), time_bytes);
    auto idx = static_cast<unsigned char>(b[pos + timecnt * static_cast<std::size_t>(time_bytes) + i]);
    if (idx >= typecnt) return bad();
    z->transitions_.push_back(t);
    z->offsets_.push_back(type_offsets[idx]);
  }
  return std::shared_ptr<const zone>(std::move(z));
}

result<std::shared_ptr<const zone>> zone::load(std::string_view name) {
  auto fixed = std::make_shared<zone>();
  fixed->name_ = std::string{name};
  if (name == "UTC" || name == "Z" || name == "Etc/UTC") return std::shared_ptr<const zone>(fixed);
  if (!name.empty() && (name[0] == '+' || name[0] == '-') && name.size() == 6 && name[3] == ':') {
    auto digit = [&](std::size_t i) { return name[i] >= '0' && name[i] <= '9'; };
    if (digit(1) && digit(2) && digit(4) && digit(5)) {
      int h = (name[1] - '0') * 10 + (name[2] - '0');
      int m = (name[4] - '0') * 10 + (name[5] - '0');
      if (h <= 14 && m < 60) {
        fixed->initial_offset_ = (name[0] == '-' ? -1 : 1) * (h * 3600 + m * 60);
        return std::shared_ptr<const zone>(fixed);
      }
    }
  }
  // IANA names: letters, digits, '/', '_', '-', '+'; never "..".
  bool ok = !name.empty() && name.size() < 64 && name.find("..") == std::string_view::npos && name[0] != '/';
  for (char ch : name)
    ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                ch == '_' || ch == '-' || ch == '+');
  if (!ok) return make_failure(errc::invalid_request, "unknown time zone '" + std::string{name} + "'");
  std::ifstream in("/usr/share/zoneinfo/" + std::string{name}, std::ios::binary);
  if (!in) return make_failure(errc::invalid_request, "unknown time zone '" + std::string{name} + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_tzif(std::string{name}, ss.str());
}

std::int32_t zone::offset_at(std::int64_t t) const noexcept {
  auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  if (it == transitions_.begin()) return initial_offset_;
  return offsets_[static_cast<std::size_t>(it - transitions_.begin() - 1)];
}

local_time to_local(const zone& z, std::int64_t t) {
  local_time out;
  const std::int64_t local = t + z.offset_at(t);
  const std::int64_t days = floor_div(local, 86400);
  out.weekday = static_cast<int>(((days + 3) % 7 + 7) % 7); // 1970-01-01 was a Thursday
  out.minute_of_day = static_cast<int>((local - days * 86400) / 60);
  auto to_utc = [&](std::int64_t local_midnight) {
    // The offset that applies at that local time (it may differ from now's on DST days).
    auto guess = local_midnight - z.offset_at(local_midnight);
    return local_midnight - z.offset_at(guess);
  };
  out.day_start_utc = to_utc(days * 86400);
  auto [y, m] = civil_year_month(days);
  out.month_start_utc = to_utc(days_from_civil(y, m, 1) * 86400);
  return out;
}

utc_instants from_local(const zone& z, std::int64_t local) {
  // The offsets in force around that wall time; a transition changes the
  // offset by hours at most, and transitions are far more than two days apart.
  constexpr std::int64_t window = 2 * 86400;
  const std::int32_t before = z.offset_at(local - window), after = z.offset_at(local + window);
  const std::int32_t candidates[] = {before, z.offset_at(local), after};
  std::vector<std::int64_t> hits;
  for (auto o : candidates) {
    const std::int64_t u = local - o;
    if (z.offset_at(u) == o && std::find(hits.begin(), hits.end(), u) == hits.end()) hits.push_back(u);
  }
  utc_instants out;
  if (!hits.empty()) {
    std::sort(hits.begin(), hits.end());
    out.earliest = hits.front();
    out.latest = hits.back();
    return out;
  }
  // A gap: the clock jumped from `before` to a larger `after` over this wall
  // time. The transition lies in (local - after, local - before]; find it.
  out.in_gap = true;
  std::int64_t lo = local - std::max(before, after), hi = local - std::min(before, after);
  const std::int32_t lo_offset = z.offset_at(lo);
  while (hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    if (z.offset_at(mid) == lo_offset) lo = mid;
    else hi = mid;
  }
  out.earliest = out.latest = hi;
  return out;
}

// -- rules ---------------------------------------------------------------------

struct policy::rule {
  std::string name;
  std::vector<std::string> models;
  std::unique_ptr<RE2> content_regex;
  std::unique_ptr<RE2> last_user_regex;
  std::optional<std::int64_t> prompt_tokens_gte, prompt_tokens_lt;
  std::optional<bool> has_tools, has_images;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<std::string> users;
  std::shared_ptr<const zone> time_zone;
  std::vector<int> weekdays;                  // empty: any day
  std::optional<std::pair<int, int>> minutes; // [from, to) minutes of day
  std::optional<money::uot> balance_lt, balance_gte;
  std::optional<double> day_fraction_gte, day_fraction_lt, month_fraction_gte, month_fraction_lt;
  // then
  std::vector<std::pair<std::string, std::uint32_t>> weighted;
  std::vector<std::string> fallbacks;
};

policy::~policy() = default;

namespace {

using rule_t = policy::rule;

failure at(const std::string& path, const std::string& why) {
  return make_failure(errc::invalid_request, path + ": " + why, path);
}

bool valid_model_ref(const std::string& m) { return !m.empty() && m.size() <= 256; }

/// Collects the text of messages (string content and text parts).
void append_text(const json& content, std::string& out) {
  if (content.is_string()) {
    out += content.get_ref<const std::string&>();
    out += '\n';
  } else if (content.is_array()) {
    for (auto& part : content)
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") && part["text"].is_string()) {
        out += part["text"].get_ref<const std::string&>();
        out += '\n';
      }
  }
}

bool has_images(const json& body) {
  auto msgs = body.find("messages");
  if (msgs == body.end() || !msgs->is_array()) return false;
  for (auto& m : *msgs) {
    auto c = m.find("content");
    if (c == m.end() || !c->is_array()) continue;
    for (auto& part : *c)
      if (part.is_object()) {
        auto t = part.value("type", "");
        if (t == "image_url" || t == "image") return true;
      }
  }
  return false;
}

result<std::optional<std::int64_t>> opt_int(const json& when, const char* key, const std::string& path) {
  auto it = when.find(key);
  if (it == when.end()) return std::optional<std::int64_t>{};
  if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
    return at(path + "." + key, "must be a non-negative integer");
  return std::optional<std::int64_t>{it->get<std::int64_t>()};
}

result<std::optional<double>> opt_fraction(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::optional<double>{};
  if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 100)
    return at(path + "." + key, "must be a number (a fraction such as 0.8)");
  return std::optional<double>{it->get<double>()};
}

result<std::optional<money::uot>> opt_ot(const json& obj, const char* key, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return std::optional<money::uot>{};
  if (!it->is_string()) return at(path + "." + key, "must be a decimal O₮ string such as \"100\"");
  auto v = money::parse_ot(it->get<std::string>());
  if (!v) return at(path + "." + key, v.error().message);
  return std::optional<money::uot>{*v};
}

result<std::unique_ptr<RE2>> compile_regex(const json& v, const std::string& path) {
  if (!v.is_string()) return at(path, "must be a string (an RE2 regular expression)");
  RE2::Options o;
  o.set_log_errors(false);
  o.set_max_mem(8 << 20);
  auto re = std::make_unique<RE2>(v.get<std::string>(), o);
  if (!re->ok()) return at(path, "invalid regular expression: " + re->error());
  return re;
}

result<std::pair<int, int>> parse_hours(const json& v, const std::string& path) {
  auto bad = [&] { return at(path, "must be \"HH:MM-HH:MM\" (24h, end exclusive; may wrap past midnight)"); };
  if (!v.is_string()) return bad();
  auto s = v.get<std::string>();
  if (s.size() != 11 || s[2] != ':' || s[5] != '-' || s[8] != ':') return bad();
  auto num = [&](std::size_t i) { return (s[i] >= '0' && s[i] <= '9' && s[i + 1] >= '0' && s[i + 1] <= '9') ? (s[i] - '0') * 10 + (s[i + 1] - '0') : -1; };
  int h1 = num(0), m1 = num(3), h2 = num(6), m2 = num(9);
  if (h1 < 0 || m1 < 0 || h2 < 0 || m2 < 0 || h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59) return bad();
  return std::make_pair(h1 * 60 + m1, h2 * 60 + m2);
}

result<std::vector<std::string>> strings(const json& v, const std::string& path) {
  std::vector<std::string> out;
  if (v.is_string()) {
    out.push_back(v.get<std::string>());
  } else if (v.is_array()) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) return at(path + "[" + std::to_string(i) + "]", "must be a string");
      out.push_back(v[i].get<std::string>());
    }
  } else {
    return at(path, "must be a string or an array of strings");
  }
  return out;
}

result<std::unique_ptr<rule_t>> compile_rule(const json& j, const std::string& path, const budget_limits& budget) {
  if (!j.is_object()) return at(path, "must be an object");
  static const char* known[] = {"name", "when", "then"};
  for (auto& [k, v] : j.items())
    if (std::find(std::begin(known), std::end(known), k) == std::end(known)) return at(path + "." + k, "unknown field");
  auto r = std::make_unique<rule_t>();
  if (auto n = j.find("name"); n != j.end()) {
    if (!n->is_string() || n->get<std::string>().empty()) return at(path + ".name", "must be a non-empty string");
    r->name = n->get<std::string>();
  }
  const std::string wpath = path + ".when";
  if (auto w = j.find("when"); w != j.end()) {
    if (!w->is_object()) return at(wpath, "must be an object");
    static const char* conds[] = {"model", "content_regex", "last_user_regex", "prompt_tokens_gte", "prompt_tokens_lt",
                                  "has_tools", "has_images", "metadata", "user", "time", "budget"};
    for (auto& [k, v] : w->items())
      if (std::find(std::begin(conds), std::end(conds), k) == std::end(conds))
        return at(wpath + "." + k, "unknown condition");
    if (auto m = w->find("model"); m != w->end()) {
      auto s = strings(*m, wpath + ".model");
      if (!s) return s.error();
      r->models = std::move(s.value());
    }
    if (auto c = w->find("content_regex"); c != w->end()) {
      auto re = compile_regex(*c, wpath + ".content_regex");
      if (!re) return re.error();
      r->content_regex = std::move(re.value());
    }
    if (auto c = w->find("last_user_regex"); c != w->end()) {
      auto re = compile_regex(*c, wpath + ".last_user_regex");
      if (!re) return re.error();
      r->last_user_regex = std::move(re.value());
    }
    auto gte = opt_int(*w, "prompt_tokens_gte", wpath);
    if (!gte) return gte.error();
    r->prompt_tokens_gte = *gte;
    auto lt = opt_int(*w, "prompt_tokens_lt", wpath);
    if (!lt) return lt.error();
    r->prompt_tokens_lt = *lt;
    for (auto [key, out] : {std::pair<const char*, std::optional<bool>*>{"has_tools", &r->has_tools},
                            {"has_images", &r->has_images}}) {
      if (auto b = w->find(key); b != w->end()) {
        if (!b->is_boolean()) return at(wpath + "." + key, "must be a boolean");
        *out = b->get<bool>();
      }
    }
    if (auto md = w->find("metadata"); md != w->end()) {
      if (!md->is_object()) return at(wpath + ".metadata", "must be an object of key -> string");
      for (auto& [k, v] : md->items()) {
        if (!v.is_string()) return at(wpath + ".metadata." + k, "must be a string");
        r->metadata.emplace_back(k, v.get<std::string>());
      }
    }
    if (auto u = w->find("user"); u != w->end()) {
      auto s = strings(*u, wpath + ".user");
      if (!s) return s.error();
      r->users = std::move(s.value());
    }
    if (auto t = w->find("time"); t != w->end()) {
      const std::string tpath = wpath + ".time";
      if (!t->is_object()) return at(tpath, "must be an object {timezone, weekdays, hours}");
      std::string tz = "UTC";
      if (auto z = t->find("timezone"); z != t->end()) {
        if (!z->is_string()) return at(tpath + ".timezone", "must be a string");
        tz = z->get<std::string>();
      }
      auto zone_r = zone::load(tz);
      if (!zone_r) return at(tpath + ".timezone", zone_r.error().message);
      r->time_zone = zone_r.value();
      if (auto wd = t->find("weekdays"); wd != t->end()) {
        auto s = strings(*wd, tpath + ".weekdays");
        if (!s) return s.error();
        static const char* names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
        for (std::size_t i = 0; i < s->size(); ++i) {
          auto it = std::find(std::begin(names), std::end(names), (*s)[i]);
          if (it == std::end(names))
            return at(tpath + ".weekdays[" + std::to_string(i) + "]", "must be one of mon, tue, wed, thu, fri, sat, sun");
          r->weekdays.push_back(static_cast<int>(it - std::begin(names)));
        }
      }
      if (auto h = t->find("hours"); h != t->end()) {
        auto hr = parse_hours(*h, tpath + ".hours");
        if (!hr) return hr.error();
        r->minutes = *hr;
      }
    }
    if (auto b = w->find("budget"); b != w->end()) {
      const std::string bpath = wpath + ".budget";
      if (!b->is_object()) return at(bpath, "must be an object");
      static const char* bconds[] = {"balance_ot_lt", "balance_ot_gte", "day_fraction_gte", "day_fraction_lt",
                                     "month_fraction_gte", "month_fraction_lt"};
      for (auto& [k, v] : b->items())
        if (std::find(std::begin(bconds), std::end(bconds), k) == std::end(bconds))
          return at(bpath + "." + k, "unknown budget condition");
      auto blt = opt_ot(*b, "balance_ot_lt", bpath);
      if (!blt) return blt.error();
      r->balance_lt = *blt;
      auto bgte = opt_ot(*b, "balance_ot_gte", bpath);
      if (!bgte) return bgte.error();
      r->balance_gte = *bgte;
      for (auto [key, out] : {std::pair<const char*, std::optional<double>*>{"day_fraction_gte", &r->day_fraction_gte},
                              {"day_fraction_lt", &r->day_fraction_lt},
                              {"month_fraction_gte", &r->month_fraction_gte},
                              {"month_fraction_lt", &r->month_fraction_lt}}) {
        auto f = opt_fraction(*b, key, bpath);
        if (!f) return f.error();
        *out = *f;
        bool day = std::string{key}.rfind("day", 0) == 0;
        if (*f && day && !budget.daily_uot)
          return at(bpath + "." + key, "needs budget.daily_ot in the routing config");
        if (*f && !day && !budget.monthly_uot)
          return at(bpath + "." + key, "needs budget.monthly_ot in the routing config");
      }
    }
  }
  const std::string tpath = path + ".then";
  auto t = j.find("then");
  if (t == j.end() || !t->is_object()) return at(tpath, "is required: {model} or {targets, fallbacks}");
  for (auto& [k, v] : t->items())
    if (k != "model" && k != "targets" && k != "fallbacks") return at(tpath + "." + k, "unknown field");
  if (auto m = t->find("model"); m != t->end()) {
    if (!m->is_string() || !valid_model_ref(m->get<std::string>())) return at(tpath + ".model", "must be a model name");
    r->weighted.emplace_back(m->get<std::string>(), 1);
  }
  if (auto ts = t->find("targets"); ts != t->end()) {
    if (!r->weighted.empty()) return at(tpath + ".targets", "give either model or targets, not both");
    if (!ts->is_array() || ts->empty()) return at(tpath + ".targets", "must be a non-empty array");
    for (std::size_t i = 0; i < ts->size(); ++i) {
      const auto& e = (*ts)[i];
      const std::string epath = tpath + ".targets[" + std::to_string(i) + "]";
      if (!e.is_object()) return at(epath, "must be an object {model, weight}");
      auto m = e.find("model");
      if (m == e.end() || !m->is_string() || !valid_model_ref(m->get<std::string>()))
        return at(epath + ".model", "must be a model name");
      std::uint32_t weight = 1;
      if (auto w = e.find("weight"); w != e.end()) {
        if (!w->is_number_unsigned() || w->get<std::uint64_t>() == 0 || w->get<std::uint64_t>() > 1'000'000)
          return at(epath + ".weight", "must be an integer from 1 to 1000000");
        weight = static_cast<std::uint32_t>(w->get<std::uint64_t>());
      }
      r->weighted.emplace_back(m->get<std::string>(), weight);
    }
  }
  if (auto fb = t->find("fallbacks"); fb != t->end()) {
    if (!fb->is_array()) return at(tpath + ".fallbacks", "must be an array of model names");
    for (std::size_t i = 0; i < fb->size(); ++i) {
      if (!(*fb)[i].is_string() || !valid_model_ref((*fb)[i].get<std::string>()))
        return at(tpath + ".fallbacks[" + std::to_string(i) + "]", "must be a model name");
      r->fallbacks.push_back((*fb)[i].get<std::string>());
    }
  }
  if (r->weighted.empty()) return at(tpath, "needs model or targets");
  return r;
}

bool matches(const rule_t& r, const request_facts& f) {
  const json empty = json::object();
  const json& body = f.body ? *f.body : empty;
  if (!r.models.empty() && std::find(r.models.begin(), r.models.end(), f.model) == r.models.end()) return false;
  if (r.prompt_tokens_gte && f.prompt_tokens < *r.prompt_tokens_gte) return false;
  if (r.prompt_tokens_lt && f.prompt_tokens >= *r.prompt_tokens_lt) return false;
  if (r.has_tools) {
    auto t = body.find("tools");
    bool tools = t != body.end() && t->is_array() && !t->empty();
    if (tools != *r.has_tools) return false;
  }
  if (r.has_images && has_images(body) != *r.has_images) return false;
  if (!r.metadata.empty()) {
    auto md = body.find("metadata");
    if (md == body.end() || !md->is_object()) return false;
    for (auto& [k, v] : r.metadata) {
      auto it = md->find(k);
      if (it == md->end() || !it->is_string() || it->get_ref<const std::string&>() != v) return false;
    }
  }
  if (!r.users.empty()) {
    auto u = body.find("user");
    if (u == body.end() || !u->is_string() ||
        std::find(r.users.begin(), r.users.end(), u->get_ref<const std::string&>()) == r.users.end())
      return false;
  }
  if (r.time_zone) {
    auto lt = to_local(*r.time_zone, f.now_utc);
    if (!r.weekdays.empty() && std::find(r.weekdays.begin(), r.weekdays.end(), lt.weekday) == r.weekdays.end())
      return false;
    if (r.minutes) {
      auto [from, to] = *r.minutes;
      bool in = from <= to ? (lt.minute_of_day >= from && lt.minute_of_day < to)
                           : (lt.minute_of_day >= from || lt.minute_of_day < to);
      if (!in) return false;
    }
  }
  if (r.balance_lt && f.budget.balance_uot >= *r.balance_lt) return false;
  if (r.balance_gte && f.budget.balance_uot < *r.balance_gte) return false;
  return true;
}

} // namespace

result<std::shared_ptr<const policy>> policy::compile(const json& config) {
  auto p = std::shared_ptr<policy>(new policy());
  p->source_ = config;
  if (!config.is_object()) return at("$", "the routing config must be an object");
  for (auto& [k, v] : config.items())
    if (k != "rules" && k != "budget" && k != "retry" && k != "timezone") return at("$." + k, "unknown field");
  std::string tz = "UTC";
  if (auto z = config.find("timezone"); z != config.end()) {
    if (!z->is_string()) return at("$.timezone", "must be a string");
    tz = z->get<std::string>();
  }
  auto zone_r = zone::load(tz);
  if (!zone_r) return at("$.timezone", zone_r.error().message);
  p->budget_zone_ = zone_r.value();
  if (auto b = config.find("budget"); b != config.end()) {
    if (!b->is_object()) return at("$.budget", "must be an object {daily_ot, monthly_ot}");
    for (auto& [k, v] : b->items())
      if (k != "daily_ot" && k != "monthly_ot") return at("$.budget." + k, "unknown field");
    auto d = opt_ot(*b, "daily_ot", "$.budget");
    if (!d) return d.error();
    auto m = opt_ot(*b, "monthly_ot", "$.budget");
    if (!m) return m.error();
    if ((*d && **d == 0) || (*m && **m == 0)) return at("$.budget", "budgets must be above zero");
    p->budget_ = {*d, *m};
  }
  if (auto r = config.find("retry"); r != config.end()) {
    if (!r->is_object()) return at("$.retry", "must be an object");
    for (auto& [k, v] : r->items()) {
      const std::string path = "$.retry." + k;
      if (k == "on_status") {
        if (!v.is_array()) return at(path, "must be an array of HTTP status codes");
        p->retry_.on_status.clear();
        for (std::size_t i = 0; i < v.size(); ++i) {
          if (!v[i].is_number_unsigned() || v[i].get<int>() < 400 || v[i].get<int>() > 599)
            return at(path + "[" + std::to_string(i) + "]", "must be a status from 400 to 599");
          p->retry_.on_status.push_back(v[i].get<int>());
        }
        continue;
      }
      if (!v.is_number_unsigned()) return at(path, "must be a non-negative integer");
      auto n = v.get<std::uint64_t>();
      if (k == "max_attempts_per_target") {
        if (n < 1 || n > 10) return at(path, "must be from 1 to 10");
        p->retry_.max_attempts_per_target = static_cast<int>(n);
      } else if (k == "backoff_ms") {
        p->retry_.backoff = std::chrono::milliseconds(std::min<std::uint64_t>(n, 60'000));
      } else if (k == "max_backoff_ms") {
        p->retry_.max_backoff = std::chrono::milliseconds(std::min<std::uint64_t>(n, 300'000));
      } else if (k == "first_token_timeout_ms") {
        if (n == 0) return at(path, "must be above zero");
        p->retry_.first_token_timeout = std::chrono::milliseconds(n);
      } else {
        return at(path, "unknown field");
      }
    }
  }
  if (auto rules = config.find("rules"); rules != config.end()) {
    if (!rules->is_array()) return at("$.rules", "must be an array");
    if (rules->size() > 1000) return at("$.rules", "at most 1000 rules");
    for (std::size_t i = 0; i < rules->size(); ++i) {
      auto r = compile_rule((*rules)[i], "$.rules[" + std::to_string(i) + "]", p->budget_);
      if (!r) return r.error();
      if (r.value()->name.empty()) r.value()->name = "rule-" + std::to_string(i);
      p->rules_.push_back(std::move(r.value()));
    }
  }
  return std::shared_ptr<const policy>(std::move(p));
}

bool policy::retryable_status(int status) const noexcept {
  return std::find(retry_.on_status.begin(), retry_.on_status.end(), status) != retry_.on_status.end();
}

decision policy::decide(const request_facts& f, std::uint64_t random) const {
  decision d;
  // Message text is gathered only if some rule looks at it.
  std::optional<std::string> all_text, last_user;
  auto text_of = [&](bool last_only) -> const std::string& {
    auto& slot = last_only ? last_user : all_text;
    if (!slot) {
      slot.emplace();
      if (f.body)
        if (auto msgs = f.body->find("messages"); msgs != f.body->end() && msgs->is_array()) {
          if (last_only) {
            for (auto it = msgs->rbegin(); it != msgs->rend(); ++it)
              if (it->is_object() && it->value("role", "") == "user" && it->contains("content")) {
                append_text((*it)["content"], *slot);
                break;
              }
          } else {
            for (auto& m : *msgs)
              if (m.is_object() && m.contains("content")) append_text(m["content"], *slot);
          }
        }
    }
    return *slot;
  };
  auto fraction = [](money::uot spent, const std::optional<money::uot>& limit) {
    return static_cast<double>(spent) / static_cast<double>(*limit);
  };
  for (auto& r : rules_) {
    if (!matches(*r, f)) continue;
    if (r->day_fraction_gte && fraction(f.budget.spent_today_uot, budget_.daily_uot) < *r->day_fraction_gte) continue;
    if (r->day_fraction_lt && fraction(f.budget.spent_today_uot, budget_.daily_uot) >= *r->day_fraction_lt) continue;
    if (r->month_fraction_gte && fraction(f.budget.spent_month_uot, budget_.monthly_uot) < *r->month_fraction_gte)
      continue;
    if (r->month_fraction_lt && fraction(f.budget.spent_month_uot, budget_.monthly_uot) >= *r->month_fraction_lt)
      continue;
    if (r->content_regex && !RE2::PartialMatch(text_of(false), *r->content_regex)) continue;
    if (r->last_user_regex && !RE2::PartialMatch(text_of(true), *r->last_user_regex)) continue;
    d.rule = r->name;
    // Weighted pick of the primary; the other weighted targets follow by
    // descending weight, then the explicit fallbacks.
    std::uint64_t total = 0;
    for (auto& [m, w] : r->weighted) total += w;
    std::uint64_t ticket = random % total;
    std::size_t chosen = 0;
    for (std::size_t i = 0; i < r->weighted.size(); ++i) {
      if (ticket < r->weighted[i].second) {
        chosen = i;
        break;
      }
      ticket -= r->weighted[i].second;
    }
    d.targets.push_back(r->weighted[chosen].first);
    std::vector<std::pair<std::string, std::uint32_t>> rest;
    for (std::size_t i = 0; i < r->weighted.size(); ++i)
      if (i != chosen) rest.push_back(r->weighted[i]);
    std::stable_sort(rest.begin(), rest.end(), [](auto& a, auto& b) { return a.second > b.second; });
    for (auto& [m, w] : rest) d.targets.push_back(m);
    for (auto& fb : r->fallbacks) d.targets.push_back(fb);
    // A model listed twice is tried once.
    std::vector<std::string> unique;
    for (auto& t : d.targets)
      if (std::find(unique.begin(), unique.end(), t) == unique.end()) unique.push_back(t);
    d.targets = std::move(unique);
    return d;
  }
  d.targets.emplace_back(f.model);
  return d;
}

} // namespace oag::actors::routing
