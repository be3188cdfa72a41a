#include "oag/actors/triggers.hpp"

#include <algorithm>
#include <map>

#include "oag/storage/crypto.hpp"

namespace oag::actors::triggers {

namespace {

using nlohmann::json;

failure bad_request(std::string message, std::optional<std::string> param = std::nullopt) {
  return make_failure(errc::invalid_request, std::move(message), std::move(param));
}

failure unauthorized(std::string message, std::string code) {
  failure f = make_failure(errc::invalid_api_key, std::move(message));
  f.error_code = std::move(code);
  return f;
}

/// Splits on '.', keeping empty pieces (so "a..b" has an empty segment).
std::vector<std::string_view> split_dots(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    if (dot == std::string_view::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

bool segment_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

bool literal_segment(std::string_view seg) noexcept {
  return !seg.empty() && std::all_of(seg.begin(), seg.end(), segment_char);
}

result<void> check_topic_like(std::string_view text, bool pattern) {
  const char* what = pattern ? "topic pattern" : "topic";
  if (text.empty()) return bad_request(std::string{what} + " is empty");
  if (text.size() > max_topic_length)
    return bad_request(std::string{what} + " is longer than 255 bytes");
  std::size_t index = 0;
  for (auto seg : split_dots(text)) {
    if (seg.empty())
      return bad_request(std::string{what} + " '" + std::string{text} + "' has an empty segment");
    bool ok = literal_segment(seg) || (pattern && (seg == "*" || seg == "**"));
    if (!ok) {
      std::string msg = std::string{what} + " '" + std::string{text} + "': segment " + std::to_string(index + 1) +
                        " '" + std::string{seg} + "' may only contain A-Z a-z 0-9 _ -";
      if (pattern) msg += ", or be exactly * or **";
      return bad_request(std::move(msg));
    }
    ++index;
  }
  return {};
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string base64url(std::string_view bytes) {
  std::string s = crypto::base64_encode(bytes);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (auto& c : s) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return s;
}

std::string bounded_event_id(std::string id) {
  if (id.size() <= max_event_id_length) return id;
  return "sha256:" + crypto::sha256_hex(id);
}

} // namespace

// ---------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------

result<void> check_topic(std::string_view topic) { return check_topic_like(topic, false); }

result<void> check_topic_pattern(std::string_view pattern) { return check_topic_like(pattern, true); }

bool topic_matches(std::string_view pattern, std::string_view topic) {
  // Wildcard matching over segments ('**' as '*', '*' as '?'): greedy, with
  // a single backtrack point at the last '**' seen. Backtracking to an
  // earlier '**' is never needed, so the work is O(m × n).
  const auto p = split_dots(pattern);
  const auto t = split_dots(topic);
  const std::size_t m = p.size(), n = t.size();
  constexpr auto none = static_cast<std::size_t>(-1);
  std::size_t i = 0, j = 0, star_i = none, star_j = 0;
  while (j < n) {
    if (i < m && p[i] == "**") {
      star_i = i++;
      star_j = j;
    } else if (i < m && (p[i] == "*" || p[i] == t[j])) {
      ++i;
      ++j;
    } else if (star_i != none) {
      i = star_i + 1;
      j = ++star_j;
    } else {
      return false;
    }
  }
  while (i < m && p[i] == "**") ++i;
  return i == m;
}

struct topic_index::node {
  std::map<std::string, std::unique_ptr<node>, std::less<>> literal;
  std::unique_ptr<node> star;     ///< '*' edge
  std::unique_ptr<node> globstar; ///< '**' edge
  bool is_globstar = false;       ///< reached through a '**' edge (loops on any segment)
  std::unordered_set<std::string> subscribers; ///< patterns ending here

  bool empty() const noexcept { return literal.empty() && !star && !globstar && subscribers.empty(); }
};

topic_index::topic_index() : root_(std::make_unique<node>()) {}
topic_index::~topic_index() = default;
topic_index::topic_index(topic_index&&) noexcept = default;
topic_index& topic_index::operator=(topic_index&&) noexcept = default;

result<void> topic_index::add(std::string_view pattern, std::string_view subscriber) {
  if (auto ok = check_topic_pattern(pattern); !ok) return ok;
  if (subscriber.empty()) return bad_request("subscriber id is empty");
  if (!root_) root_ = std::make_unique<node>(); // after a move
  node* at = root_.get();
  for (auto seg : split_dots(pattern)) {
    std::unique_ptr<node>* slot;
    if (seg == "**") {
      slot = &at->globstar;
    } else if (seg == "*") {
      slot = &at->star;
    } else {
      auto it = at->literal.find(seg);
      if (it == at->literal.end()) it = at->literal.emplace(std::string{seg}, nullptr).first;
      slot = &it->second;
    }
    if (!*slot) {
      *slot = std::make_unique<node>();
      (*slot)->is_globstar = seg == "**";
    }
    at = slot->get();
  }
  bool was_empty = at->subscribers.empty();
  if (!at->subscribers.emplace(subscriber).second) return {};
  ++size_;
  if (was_empty) ++patterns_;
  by_subscriber_[std::string{subscriber}].emplace(pattern);
  return {};
}

bool topic_index::remove(std::string_view pattern, std::string_view subscriber) {
  if (!root_ || !check_topic_pattern(pattern)) return false;
  // The path from the root, to free nodes left empty afterwards.
  struct step {
    node* parent;
    std::unique_ptr<node>* slot;
    std::map<std::string, std::unique_ptr<node>, std::less<>>::iterator lit; ///< valid if literal edge
    bool is_literal;
  };
  std::vector<step> path;
  node* at = root_.get();
  for (auto seg : split_dots(pattern)) {
    step s{at, nullptr, {}, false};
    if (seg == "**") {
      s.slot = &at->globstar;
    } else if (seg == "*") {
      s.slot = &at->star;
    } else {
      auto it = at->literal.find(seg);
      if (it == at->literal.end()) return false;
      s.slot = &it->second;
      s.lit = it;
      s.is_literal = true;
    }
    if (!*s.slot) return false;
    at = s.slot->get();
    path.push_back(s);
  }
  auto it = at->subscribers.find(std::string{subscriber});
  if (it == at->subscribers.end()) return false;
  at->subscribers.erase(it);
  --size_;
  if (at->subscribers.empty()) --patterns_;
  for (auto s = path.rbegin(); s != path.rend(); ++s) {
    if (!(*s->slot)->empty()) break;
    if (s->is_literal) s->parent->literal.erase(s->lit);
    else s->slot->reset();
  }
  auto sub = by_subscriber_.find(std::string{subscriber});
  if (sub != by_subscriber_.end()) {
    sub->second.erase(std::string{pattern});
    if (sub->second.empty()) by_subscriber_.erase(sub);
  }
  return true;
}

std::size_t topic_index::remove_subscriber(std::string_view subscriber) {
  auto it = by_subscriber_.find(std::string{subscriber});
  if (it == by_subscriber_.end()) return 0;
  std::vector<std::string> patterns(it->second.begin(), it->second.end()); // remove() edits the set
  std::size_t removed = 0;
  for (const auto& p : patterns) removed += remove(p, subscriber) ? 1 : 0;
  return removed;
}

std::vector<std::string> topic_index::patterns_of(std::string_view subscriber) const {
  std::vector<std::string> out;
  auto it = by_subscriber_.find(std::string{subscriber});
  if (it == by_subscriber_.end()) return out;
  out.assign(it->second.begin(), it->second.end());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> topic_index::match(std::string_view topic) const {
  std::vector<std::string> out;
  if (!root_ || !check_topic(topic)) return out;
  // NFA simulation: the set of trie nodes the segments read so far can be
  // at. Entering a node also enters its '**' child (zero segments), and a
  // '**' node stays live on any segment.
  std::vector<const node*> live, next;
  auto enter = [](std::vector<const node*>& set, const node* n) {
    for (; n; n = n->globstar.get()) set.push_back(n);
  };
  auto dedupe = [](std::vector<const node*>& set) {
    std::sort(set.begin(), set.end());
    set.erase(std::unique(set.begin(), set.end()), set.end());
  };
  enter(live, root_.get());
  for (auto seg : split_dots(topic)) {
    next.clear();
    for (const node* n : live) {
      if (n->is_globstar) next.push_back(n); // its '**' chain is already live
      if (auto it = n->literal.find(seg); it != n->literal.end()) enter(next, it->second.get());
      if (n->star) enter(next, n->star.get());
    }
    dedupe(next);
    live.swap(next);
    if (live.empty()) return out;
  }
  for (const node* n : live) out.insert(out.end(), n->subscribers.begin(), n->subscribers.end());
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

std::string sign_webhook(std::string_view secret, std::int64_t timestamp, std::string_view body) {
  std::string message = std::to_string(timestamp);
  message += '.';
  message.append(body.data(), body.size());
  return "sha256=" + crypto::to_hex(crypto::hmac_sha256(secret, message));
}

result<void> verify_webhook(std::string_view secret, std::optional<std::string_view> timestamp_header,
                            std::optional<std::string_view> signature_header, std::string_view body,
                            std::int64_t now, std::int64_t tolerance_s) {
  if (!timestamp_header) return bad_request("missing X-OAG-Timestamp header");
  if (!signature_header) return bad_request("missing X-OAG-Signature header");
  auto ts_text = trim(*timestamp_header);
  if (ts_text.empty() || ts_text.size() > 12 || (ts_text.size() > 1 && ts_text[0] == '0') ||
      !std::all_of(ts_text.begin(), ts_text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return bad_request("X-OAG-Timestamp must be unix seconds (decimal digits)");
  std::int64_t ts = 0;
  for (char c : ts_text) ts = ts * 10 + (c - '0');

  auto sig = trim(*signature_header);
  constexpr std::string_view prefix = "sha256=";
  if (sig.size() != prefix.size() + 64 || sig.substr(0, prefix.size()) != prefix)
    return bad_request("X-OAG-Signature must be sha256=<64 hex digits>");
  std::string given(sig.substr(prefix.size()));
  for (auto& c : given) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return bad_request("X-OAG-Signature must be sha256=<64 hex digits>");
  }

  if (secret.empty()) return unauthorized("webhook signature does not verify", "invalid_signature");
  std::string expected = sign_webhook(secret, ts, body).substr(prefix.size());
  if (!crypto::equal_constant_time(given, expected))
    return unauthorized("webhook signature does not verify", "invalid_signature");

  if (now - ts > tolerance_s)
    return unauthorized("X-OAG-Timestamp is too old (more than " + std::to_string(tolerance_s) +
                            " s ago); refusing a possible replay",
                        "timestamp_too_old");
  if (ts - now > tolerance_s)
    return unauthorized("X-OAG-Timestamp is in the future (more than " + std::to_string(tolerance_s) +
                            " s ahead); check the sender's clock",
                        "timestamp_in_future");
  return {};
}

result<void> check_json_path(std::string_view path) {
  if (path.empty()) return bad_request("JSON field path is empty");
  if (path.size() > 255) return bad_request("JSON field path is longer than 255 bytes");
  for (auto seg : split_dots(path))
    if (seg.empty()) return bad_request("JSON field path '" + std::string{path} + "' has an empty segment");
  return {};
}

const nlohmann::json* find_json_path(const nlohmann::json& doc, std::string_view path) {
  if (!check_json_path(path)) return nullptr;
  const json* at = &doc;
  for (auto seg : split_dots(path)) {
    if (at->is_object()) {
      auto it = at->find(std::string{seg});
      if (it == at->end()) return nullptr;
      at = &*it;
    } else if (at->is_array()) {
      if (seg.size() > 9 || !std::all_of(seg.begin(), seg.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return nullptr;
      std::size_t index = 0;
      for (char c : seg) index = index * 10 + static_cast<std::size_t>(c - '0');
      if (index >= at->size()) return nullptr;
      at = &(*at)[index];
    } else {
      return nullptr;
    }
  }
  return at;
}

std::optional<std::string> webhook_event_id(std::optional<std::string_view> header, std::string_view body,
                                            std::optional<std::string_view> json_field) {
  if (header) {
    auto id = trim(*header);
    if (!id.empty()) return bounded_event_id(std::string{id});
  }
  if (!json_field || !check_json_path(*json_field)) return std::nullopt;
  auto doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_discarded()) return std::nullopt;
  const json* v = find_json_path(doc, *json_field);
  if (!v) return std::nullopt;
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s.empty()) return std::nullopt;
    return bounded_event_id(s);
  }
  if (v->is_number_unsigned()) return std::to_string(v->get<std::uint64_t>());
  if (v->is_number_integer()) return std::to_string(v->get<std::int64_t>());
  return std::nullopt;
}

// ---------------------------------------------------------------------------
// Approval buttons
// ---------------------------------------------------------------------------

namespace {

std::string approval_tag(std::string_view key, std::string_view approval_id, bool approve) {
  std::string message{"oag-approval"};
  message += '\0';
  message += approve ? 'a' : 'r';
  message += ':';
  message.append(approval_id.data(), approval_id.size());
  return base64url(crypto::hmac_sha256(key, message).substr(0, approval_tag_bytes));
}

constexpr std::size_t tag_chars = (approval_tag_bytes * 4 + 2) / 3; // unpadded base64
static_assert(tag_chars == 22);
static_assert(2 + max_approval_id_length + 1 + tag_chars == max_callback_data);

} // namespace

result<void> check_approval_id(std::string_view approval_id) {
  if (approval_id.empty()) return bad_request("approval id is empty");
  if (approval_id.size() > max_approval_id_length)
    return bad_request("approval id is longer than " + std::to_string(max_approval_id_length) + " bytes");
  if (!std::all_of(approval_id.begin(), approval_id.end(), segment_char))
    return bad_request("approval id may only contain A-Z a-z 0-9 _ -");
  return {};
}

result<std::string> approval_callback_data(std::string_view key, std::string_view approval_id, bool approve) {
  if (key.empty()) return make_failure(errc::internal, "approval key is empty");
  if (auto ok = check_approval_id(approval_id); !ok) return std::move(ok).error();
  std::string out = approve ? "a:" : "r:";
  out.append(approval_id.data(), approval_id.size());
  out += '.';
  out += approval_tag(key, approval_id, approve);
  return out;
}

result<approval_decision> parse_approval_callback(std::string_view key, std::string_view data) {
  if (key.empty()) return make_failure(errc::internal, "approval key is empty");
  if (data.size() < 4 || data.size() > max_callback_data || (data[0] != 'a' && data[0] != 'r') || data[1] != ':')
    return bad_request("not an approval button");
  auto dot = data.rfind('.');
  if (dot == std::string_view::npos || dot < 2) return bad_request("not an approval button");
  auto id = data.substr(2, dot - 2);
  auto tag = data.substr(dot + 1);
  if (!check_approval_id(id) || tag.size() != tag_chars || !std::all_of(tag.begin(), tag.end(), segment_char))
    return bad_request("not an approval button");
  bool approve = data[0] == 'a';
  if (!crypto::equal_constant_time(tag, approval_tag(key, id, approve)))
    return make_failure(errc::permission_denied, "approval button does not verify");
  return approval_decision{std::string{id}, approve};
}

// ---------------------------------------------------------------------------
// Approval rules
// ---------------------------------------------------------------------------

namespace {

std::optional<std::string> param_of(const std::string& path) {
  if (path.empty()) return std::nullopt;
  return path;
}

std::string join(const std::string& base, const std::string& key) { return base.empty() ? key : base + "." + key; }

result<approval_condition> parse_condition(const json& j, const std::string& at) {
  if (!j.is_object()) return bad_request("an approval condition must be an object", param_of(at));
  approval_condition c;
  bool has_path = false, has_op = false, has_value = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    auto here = join(at, k);
    if (k == "path") {
      if (!v.is_string()) return bad_request("path must be a string", here);
      const auto& p = v.get_ref<const std::string&>();
      if (auto ok = check_json_path(p); !ok) return bad_request(ok.error().message, here);
      c.path = p;
      has_path = true;
    } else if (k == "op") {
      if (!v.is_string()) return bad_request("op must be a string", here);
      const auto& o = v.get_ref<const std::string&>();
      if (o == ">") c.op = compare_op::gt;
      else if (o == ">=") c.op = compare_op::ge;
      else if (o == "<") c.op = compare_op::lt;
      else if (o == "<=") c.op = compare_op::le;
      else if (o == "==") c.op = compare_op::eq;
      else if (o == "!=") c.op = compare_op::ne;
      else return bad_request("unknown op '" + o + "' (use >, >=, <, <=, == or !=)", here);
      has_op = true;
    } else if (k == "value") {
      if (!v.is_number() && !v.is_string() && !v.is_boolean())
        return bad_request("value must be a number, a string or a boolean", here);
      c.value = v;
      has_value = true;
    } else {
      return bad_request("unknown field '" + k + "' in an approval condition", here);
    }
  }
  if (!has_path) return bad_request("an approval condition needs a path", param_of(join(at, "path")));
  if (!has_op) return bad_request("an approval condition needs an op", param_of(join(at, "op")));
  if (!has_value) return bad_request("an approval condition needs a value", param_of(join(at, "value")));
  if (c.value.is_boolean() && c.op != compare_op::eq && c.op != compare_op::ne)
    return bad_request("a boolean value can only be compared with == or !=", join(at, "op"));
  return c;
}

result<void> parse_rule_into(const json& j, const std::string& at, bool top, approval_rule& out) {
  if (j.is_boolean()) {
    if (j.get<bool>()) out.always = true;
    return {};
  }
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    if (s == "always") out.always = true;
    else if (s != "never") return bad_request("unknown approval rule '" + s + "' (use \"always\" or \"never\")", param_of(at));
    return {};
  }
  if (j.is_array() && top) {
    for (std::size_t i = 0; i < j.size(); ++i)
      if (auto ok = parse_rule_into(j[i], at + "[" + std::to_string(i) + "]", false, out); !ok) return ok;
    return {};
  }
  if (!j.is_object())
    return bad_request("an approval rule is true, false, \"always\", \"never\", {\"always\":true} or {\"when\":…}",
                       param_of(at));
  if (j.empty()) return bad_request("an approval rule object needs \"always\" or \"when\"", param_of(at));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    auto here = join(at, k);
    if (k == "always") {
      if (!v.is_boolean()) return bad_request("always must be a boolean", here);
      if (v.get<bool>()) out.always = true;
    } else if (k == "when") {
      if (v.is_array()) {
        if (v.empty()) return bad_request("when needs at least one condition", here);
        for (std::size_t i = 0; i < v.size(); ++i) {
          auto c = parse_condition(v[i], here + "[" + std::to_string(i) + "]");
          if (!c) return std::move(c).error();
          out.any.push_back(std::move(c).value());
        }
      } else {
        auto c = parse_condition(v, here);
        if (!c) return std::move(c).error();
        out.any.push_back(std::move(c).value());
      }
    } else {
      return bad_request("unknown field '" + k + "' in an approval rule (use always or when)", here);
    }
  }
  return {};
}

/// -1, 0, 1 for two JSON numbers: exact for integers, doubles otherwise.
int compare_numbers(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) {
    auto wide = [](const json& x) -> __int128 {
      return x.is_number_unsigned() ? static_cast<__int128>(x.get<std::uint64_t>())
                                    : static_cast<__int128>(x.get<std::int64_t>());
    };
    auto x = wide(a), y = wide(b);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  double x = a.get<double>(), y = b.get<double>();
  return x < y ? -1 : (x > y ? 1 : 0);
}

bool apply(compare_op op, int cmp) {
  switch (op) {
    case compare_op::gt: return cmp > 0;
    case compare_op::ge: return cmp >= 0;
    case compare_op::lt: return cmp < 0;
    case compare_op::le: return cmp <= 0;
    case compare_op::eq: return cmp == 0;
    case compare_op::ne: return cmp != 0;
  }
  return true;
}

bool holds(const approval_condition& c, const json& arguments) {
  const json* v = find_json_path(arguments, c.path);
  if (!v || v->is_null()) return false; // absent: the rule does not apply
  const json& want = c.value;
  if (want.is_boolean()) {
    if (!v->is_boolean()) return true; // not comparable: fail closed
    return apply(c.op, v->get<bool>() == want.get<bool>() ? 0 : 1);
  }
  if (want.is_number()) {
    if (v->is_number()) return apply(c.op, compare_numbers(*v, want));
    if (v->is_string()) {
      const auto& s = v->get_ref<const std::string&>();
      auto parsed = json::parse(s, nullptr, false);
      if (!parsed.is_discarded() && parsed.is_number()) return apply(c.op, compare_numbers(parsed, want));
    }
    return true;
  }
  if (!v->is_string()) return true;
  int cmp = v->get_ref<const std::string&>().compare(want.get_ref<const std::string&>());
  return apply(c.op, cmp < 0 ? -1 : (cmp > 0 ? 1 : 0));
}

} // namespace

result<approval_rule> parse_approval_rule(const nlohmann::json& rule) {
  approval_rule out;
  if (auto ok = parse_rule_into(rule, "", true, out); !ok) return std::move(ok).error();
  return out;
}

bool needs_approval(const approval_rule& rule, const nlohmann::json& arguments) {
  if (rule.always) return true;
  return std::any_of(rule.any.begin(), rule.any.end(), [&](const auto& c) { return holds(c, arguments); });
}

} // namespace oag::actors::triggers
