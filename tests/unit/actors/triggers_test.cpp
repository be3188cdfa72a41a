#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <random>
#include <set>

#include "oag/actors/triggers.hpp"
#include "oag/storage/crypto.hpp"

using namespace oag;
using namespace oag::actors::triggers;
using nlohmann::json;

namespace {

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto dot = s.find('.', start);
    if (dot == std::string::npos) {
      out.push_back(s.substr(start));
      return out;
    }
    out.push_back(s.substr(start, dot - start));
    start = dot + 1;
  }
}

/// Obviously-correct (exponential) reference matcher for small inputs.
bool reference_match(const std::vector<std::string>& p, std::size_t i, const std::vector<std::string>& t,
                     std::size_t j) {
  if (i == p.size()) return j == t.size();
  if (p[i] == "**") {
    for (std::size_t k = j; k <= t.size(); ++k)
      if (reference_match(p, i + 1, t, k)) return true;
    return false;
  }
  if (j == t.size()) return false;
  if (p[i] == "*" || p[i] == t[j]) return reference_match(p, i + 1, t, j + 1);
  return false;
}

bool reference_match(const std::string& pattern, const std::string& topic) {
  return reference_match(split(pattern), 0, split(topic), 0);
}

std::string random_dotted(std::mt19937& rng, const std::vector<std::string>& alphabet, int min_len, int max_len) {
  std::uniform_int_distribution<int> len(min_len, max_len);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::string out;
  int n = len(rng);
  for (int k = 0; k < n; ++k) {
    if (k) out += '.';
    out += alphabet[pick(rng)];
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

// ---------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------

TEST_CASE("topic names are validated", "[triggers]") {
  CHECK(check_topic("orders"));
  CHECK(check_topic("orders.eu-1.created"));
  CHECK(check_topic("A_b-9.x"));
  CHECK(check_topic(std::string(255, 'a')));
  CHECK_FALSE(check_topic(std::string(256, 'a')));
  CHECK_FALSE(check_topic(""));
  CHECK_FALSE(check_topic("."));
  CHECK_FALSE(check_topic("a..b"));
  CHECK_FALSE(check_topic(".a"));
  CHECK_FALSE(check_topic("a."));
  CHECK_FALSE(check_topic("a.*"));
  CHECK_FALSE(check_topic("a.**"));
  CHECK_FALSE(check_topic("a b"));
  CHECK_FALSE(check_topic("a/b"));
  CHECK_FALSE(check_topic("caf\xc3\xa9"));
  auto bad = check_topic("a..b");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_request);
  CHECK(bad.error().message.find("empty segment") != std::string::npos);
}

TEST_CASE("topic patterns are validated", "[triggers]") {
  CHECK(check_topic_pattern("orders.*.created"));
  CHECK(check_topic_pattern("tax.**"));
  CHECK(check_topic_pattern("**"));
  CHECK(check_topic_pattern("*"));
  CHECK(check_topic_pattern("a.**.b"));
  CHECK(check_topic_pattern("**.**"));
  CHECK(check_topic_pattern("plain.topic"));
  CHECK_FALSE(check_topic_pattern(""));
  CHECK_FALSE(check_topic_pattern("a*"));
  CHECK_FALSE(check_topic_pattern("*a"));
  CHECK_FALSE(check_topic_pattern("***"));
  CHECK_FALSE(check_topic_pattern("a.**."));
  CHECK_FALSE(check_topic_pattern("a..*"));
  CHECK_FALSE(check_topic_pattern("a.?"));
  CHECK_FALSE(check_topic_pattern(std::string(128, '*')));
  std::string long_ok;
  for (int i = 0; i < 127; ++i) long_ok += i ? ".*" : "*";
  CHECK(long_ok.size() == 253);
  CHECK(check_topic_pattern(long_ok));
  CHECK_FALSE(check_topic_pattern(long_ok + ".ab"));
}

TEST_CASE("topic glob table", "[triggers]") {
  struct row {
    const char* pattern;
    const char* topic;
    bool match;
  };
  const row rows[] = {
      {"orders", "orders", true},
      {"orders", "order", false},
      {"orders", "orders.x", false},
      {"orders.created", "orders.created", true},
      {"orders.created", "orders", false},
      // '*' is exactly one segment: never empty, never several
      {"orders.*.created", "orders.eu.created", true},
      {"orders.*.created", "orders.created", false},
      {"orders.*.created", "orders.eu.x.created", false},
      {"orders.*", "orders", false},
      {"orders.*", "orders.a", true},
      {"orders.*", "orders.a.b", false},
      {"*", "a", true},
      {"*", "a.b", false},
      {"*.*", "a.b", true},
      {"*.*", "a", false},
      {"*.b", "a.b", true},
      {"*.b", "b", false},
      // '**' at the end
      {"tax.**", "tax", true},
      {"tax.**", "tax.de", true},
      {"tax.**", "tax.de.vat.2024", true},
      {"tax.**", "taxes", false},
      {"tax.**", "other.tax", false},
      // '**' at the start
      {"**", "a", true},
      {"**", "a.b.c", true},
      {"**.created", "created", true},
      {"**.created", "orders.created", true},
      {"**.created", "orders.eu.created", true},
      {"**.created", "orders.created.late", false},
      // '**' in the middle
      {"a.**.b", "a.b", true},
      {"a.**.b", "a.x.b", true},
      {"a.**.b", "a.x.y.b", true},
      {"a.**.b", "a.b.b", true},
      {"a.**.b", "a.b.c", false},
      {"a.**.b", "a", false},
      {"a.**.b", "b", false},
      {"a.**.b", "x.a.b", false},
      // combinations
      {"a.**.*", "a", false},
      {"a.**.*", "a.b", true},
      {"a.**.*", "a.b.c.d", true},
      {"a.*.**", "a", false},
      {"a.*.**", "a.b", true},
      {"a.*.**", "a.b.c", true},
      {"**.**", "a", true},
      {"**.**", "a.b.c", true},
      {"**.a.**", "a", true},
      {"**.a.**", "x.y.a.z", true},
      {"**.a.**", "x.y.z", false},
      {"a.**.b.**.c", "a.b.c", true},
      {"a.**.b.**.c", "a.x.b.y.z.c", true},
      {"a.**.b.**.c", "a.x.c.b", false},
      {"*.**.*", "a", false},
      {"*.**.*", "a.b", true},
      {"*.**.*", "a.b.c", true},
      // literal segments compare exactly (case-sensitive)
      {"Orders.*", "orders.a", false},
  };
  for (const auto& r : rows) {
    INFO(r.pattern << " vs " << r.topic);
    REQUIRE(check_topic_pattern(r.pattern));
    REQUIRE(check_topic(r.topic));
    CHECK(topic_matches(r.pattern, r.topic) == r.match);
    CHECK(reference_match(r.pattern, r.topic) == r.match);
    topic_index idx;
    REQUIRE(idx.add(r.pattern, "s"));
    CHECK(idx.match(r.topic) == (r.match ? std::vector<std::string>{"s"} : std::vector<std::string>{}));
  }
}

TEST_CASE("topic_matches agrees with a brute-force reference", "[triggers]") {
  std::mt19937 rng(12345);
  const std::vector<std::string> pat_alpha{"a", "b", "*", "**"};
  const std::vector<std::string> top_alpha{"a", "b"};
  for (int n = 0; n < 20000; ++n) {
    auto p = random_dotted(rng, pat_alpha, 1, 6);
    auto t = random_dotted(rng, top_alpha, 1, 7);
    INFO(p << " vs " << t);
    REQUIRE(topic_matches(p, t) == reference_match(p, t));
  }
}

TEST_CASE("pathological patterns match fast", "[triggers]") {
  // 60 '**' separated by 'a' against 127 'a's and a final mismatch: a naive
  // backtracking matcher explores ~C(127, 60) paths.
  std::string pattern = "**";
  for (int i = 0; i < 60; ++i) pattern += ".a.**";
  pattern += ".b";
  while (pattern.size() > 255) pattern = pattern.substr(5); // keep it valid
  REQUIRE(check_topic_pattern(pattern));
  std::string topic = "a";
  for (int i = 1; i < 127; ++i) topic += ".a";
  REQUIRE(check_topic(topic));
  std::string all_stars = "**";
  while (all_stars.size() + 3 <= 255) all_stars += ".**";
  REQUIRE(check_topic_pattern(all_stars));
  std::string stars_then_b = all_stars.substr(0, 250) + ".b";
  REQUIRE(check_topic_pattern(stars_then_b));

  auto t0 = std::chrono::steady_clock::now();
  for (int rep = 0; rep < 100; ++rep) {
    CHECK_FALSE(topic_matches(pattern, topic));
    CHECK(topic_matches(pattern, topic.substr(0, topic.size() - 1) + "b"));
    CHECK(topic_matches(all_stars, topic));
    CHECK_FALSE(topic_matches(stars_then_b, topic));
  }
  topic_index idx;
  REQUIRE(idx.add(pattern, "p"));
  REQUIRE(idx.add(all_stars, "s"));
  REQUIRE(idx.add(stars_then_b, "b"));
  for (int rep = 0; rep < 100; ++rep) {
    CHECK(idx.match(topic) == std::vector<std::string>{"s"});
    CHECK(idx.match(topic.substr(0, topic.size() - 1) + "b") == std::vector<std::string>{"b", "p", "s"});
  }
  CHECK(seconds_since(t0) < 10.0); // milliseconds in practice; exponential would never finish
}

// ---------------------------------------------------------------------------
// topic_index
// ---------------------------------------------------------------------------

TEST_CASE("topic_index add, remove, dedupe", "[triggers]") {
  topic_index idx;
  CHECK(idx.size() == 0);
  REQUIRE(idx.add("orders.*.created", "agent1"));
  REQUIRE(idx.add("orders.**", "agent1")); // same subscriber, second pattern
  REQUIRE(idx.add("orders.**", "agent2"));
  REQUIRE(idx.add("orders.**", "agent2")); // duplicate: no-op
  REQUIRE(idx.add("tax.**", "agent3"));
  CHECK(idx.size() == 4);
  CHECK(idx.pattern_count() == 3);

  CHECK(idx.match("orders.eu.created") == std::vector<std::string>{"agent1", "agent2"}); // agent1 once
  CHECK(idx.match("orders") == std::vector<std::string>{"agent1", "agent2"});
  CHECK(idx.match("tax") == std::vector<std::string>{"agent3"});
  CHECK(idx.match("other").empty());
  CHECK(idx.match("orders..x").empty()); // invalid topic matches nothing
  CHECK(idx.match("orders.*").empty());

  CHECK(idx.patterns_of("agent1") == std::vector<std::string>{"orders.**", "orders.*.created"});
  CHECK(idx.patterns_of("nobody").empty());

  auto bad = idx.add("orders.*x", "agent4");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == errc::invalid_request);
  CHECK_FALSE(idx.add("orders", ""));
  CHECK(idx.size() == 4);

  CHECK_FALSE(idx.remove("orders.**", "agent9"));
  CHECK_FALSE(idx.remove("orders.*", "agent1"));
  CHECK_FALSE(idx.remove("nope.x", "agent1"));
  CHECK(idx.remove("orders.**", "agent1"));
  CHECK_FALSE(idx.remove("orders.**", "agent1"));
  CHECK(idx.size() == 3);
  CHECK(idx.match("orders") == std::vector<std::string>{"agent2"});
  CHECK(idx.match("orders.eu.created") == std::vector<std::string>{"agent1", "agent2"});

  CHECK(idx.remove_subscriber("agent2") == 1);
  CHECK(idx.remove_subscriber("agent2") == 0);
  CHECK(idx.match("orders").empty());
  CHECK(idx.pattern_count() == 2);
  CHECK(idx.remove("orders.*.created", "agent1"));
  CHECK(idx.remove("tax.**", "agent3"));
  CHECK(idx.size() == 0);
  CHECK(idx.pattern_count() == 0);
  CHECK(idx.match("tax").empty());

  // pruned nodes can be rebuilt
  REQUIRE(idx.add("tax.**", "agent3"));
  CHECK(idx.match("tax.de") == std::vector<std::string>{"agent3"});

  topic_index moved = std::move(idx);
  CHECK(moved.match("tax.de") == std::vector<std::string>{"agent3"});
}

TEST_CASE("topic_index agrees with topic_matches on random data", "[triggers]") {
  std::mt19937 rng(20240605);
  const std::vector<std::string> pat_alpha{"a", "b", "c", "*", "**"};
  const std::vector<std::string> top_alpha{"a", "b", "c"};
  std::uniform_int_distribution<int> sub_pick(0, 29);
  std::uniform_int_distribution<int> coin(0, 99);

  topic_index idx;
  std::set<std::pair<std::string, std::string>> truth; // (pattern, subscriber)
  std::vector<std::string> topics;
  for (int i = 0; i < 200; ++i) topics.push_back(random_dotted(rng, top_alpha, 1, 6));

  for (int round = 0; round < 60; ++round) {
    // mutate: mostly adds, some removes of existing pairs, some removes of absent pairs
    for (int op = 0; op < 25; ++op) {
      int c = coin(rng);
      if (c < 65 || truth.empty()) {
        auto p = random_dotted(rng, pat_alpha, 1, 5);
        auto s = "s" + std::to_string(sub_pick(rng));
        REQUIRE(idx.add(p, s));
        truth.emplace(p, s);
      } else if (c < 90) {
        auto it = truth.begin();
        std::advance(it, std::uniform_int_distribution<std::size_t>(0, truth.size() - 1)(rng));
        CHECK(idx.remove(it->first, it->second));
        truth.erase(it);
      } else if (c < 95) {
        auto p = random_dotted(rng, pat_alpha, 1, 5);
        auto s = "s" + std::to_string(sub_pick(rng));
        CHECK(idx.remove(p, s) == (truth.erase({p, s}) == 1));
      } else {
        auto s = "s" + std::to_string(sub_pick(rng));
        std::size_t expected = 0;
        for (auto it = truth.begin(); it != truth.end();) {
          if (it->second == s) {
            it = truth.erase(it);
            ++expected;
          } else {
            ++it;
          }
        }
        CHECK(idx.remove_subscriber(s) == expected);
      }
    }
    REQUIRE(idx.size() == truth.size());
    std::set<std::string> distinct;
    for (const auto& [p, s] : truth) distinct.insert(p);
    REQUIRE(idx.pattern_count() == distinct.size());
    for (const auto& t : topics) {
      std::set<std::string> want;
      for (const auto& [p, s] : truth)
        if (topic_matches(p, t)) want.insert(s);
      INFO("round " << round << " topic " << t);
      REQUIRE(idx.match(t) == std::vector<std::string>(want.begin(), want.end()));
    }
  }
}

TEST_CASE("topic_index with 100k subscriptions over 1k patterns", "[triggers]") {
  std::mt19937 rng(7);
  const std::vector<std::string> words{"orders", "tax", "billing", "users", "eu", "us", "created", "updated",
                                       "deleted", "paid", "refunded", "v1", "v2", "alerts", "high", "low"};
  std::vector<std::string> pat_alpha = words;
  pat_alpha.insert(pat_alpha.end(), {"*", "*", "**"});
  std::set<std::string> pattern_set;
  while (pattern_set.size() < 1000) pattern_set.insert(random_dotted(rng, pat_alpha, 1, 5));
  std::vector<std::string> patterns(pattern_set.begin(), pattern_set.end());

  topic_index idx;
  std::map<std::string, std::set<std::string>> subs_of; // pattern → subscribers
  auto t0 = std::chrono::steady_clock::now();
  for (int s = 0; s < 100000; ++s) {
    const auto& p = patterns[static_cast<std::size_t>(s) % patterns.size()];
    auto id = "agent_" + std::to_string(s);
    REQUIRE(idx.add(p, id));
    subs_of[p].insert(id);
  }
  double build_s = seconds_since(t0);
  REQUIRE(idx.size() == 100000);
  REQUIRE(idx.pattern_count() == 1000);

  std::vector<std::string> topics;
  for (int i = 0; i < 2000; ++i) topics.push_back(random_dotted(rng, words, 1, 6));
  std::size_t delivered = 0;
  t0 = std::chrono::steady_clock::now();
  for (const auto& t : topics) delivered += idx.match(t).size();
  double match_s = seconds_since(t0);

  // spot-check against the brute force
  for (std::size_t i = 0; i < topics.size(); i += 20) {
    std::set<std::string> want;
    for (const auto& [p, subs] : subs_of)
      if (topic_matches(p, topics[i])) want.insert(subs.begin(), subs.end());
    REQUIRE(idx.match(topics[i]) == std::vector<std::string>(want.begin(), want.end()));
  }
  WARN("built 100k subscriptions in " << build_s << " s; 2000 matches in " << match_s << " s, " << delivered
                                      << " deliveries");
  CHECK(delivered > 0);
  CHECK(match_s < 30.0); // a very generous sanity bound, not a benchmark
}

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

TEST_CASE("webhook signatures: known vector and round trip", "[triggers]") {
  const std::string secret = "whsec_test";
  const std::string body = R"({"id":"evt_1","amount":5})";
  const std::int64_t ts = 1'700'000'000;
  auto sig = sign_webhook(secret, ts, body);
  // independent computation of the documented scheme
  CHECK(sig == "sha256=" + crypto::to_hex(crypto::hmac_sha256(secret, "1700000000." + body)));
  CHECK(sig.size() == 7 + 64);
  CHECK(verify_webhook(secret, std::string_view{"1700000000"}, std::string_view{sig}, body, ts));
  CHECK(verify_webhook(secret, std::string_view{" 1700000000 "}, std::string_view{sig}, body, ts + 299));
  CHECK(verify_webhook(secret, std::string_view{"1700000000"}, std::string_view{sig}, body, ts - 300));

  // upper-case hex is accepted
  std::string upper = sig;
  std::transform(upper.begin() + 7, upper.end(), upper.begin() + 7, [](char c) { return static_cast<char>(std::toupper(c)); });
  CHECK(verify_webhook(secret, std::string_view{"1700000000"}, std::string_view{upper}, body, ts));

  // the empty body signs too
  auto empty_sig = sign_webhook(secret, ts, "");
  CHECK(verify_webhook(secret, std::string_view{"1700000000"}, std::string_view{empty_sig}, "", ts));
}

TEST_CASE("webhook verification refuses tampering, wrong secrets and replays", "[triggers]") {
  const std::string secret = "whsec_test";
  const std::string body = R"({"id":"evt_1","amount":5})";
  const std::int64_t ts = 1'700'000'000;
  const std::string ts_text = "1700000000";
  auto sig = sign_webhook(secret, ts, body);
  auto verify = [&](std::string_view s, std::optional<std::string_view> t, std::optional<std::string_view> g,
                    std::string_view b, std::int64_t now, std::int64_t tol = 300) {
    return verify_webhook(s, t, g, b, now, tol);
  };
  auto expect = [](const result<void>& r, int status, const char* code_or_text) {
    REQUIRE_FALSE(r);
    CHECK(http_status_of(r.error()) == status);
    INFO(r.error().message);
    bool named = (r.error().error_code && *r.error().error_code == code_or_text) ||
                 r.error().message.find(code_or_text) != std::string::npos;
    CHECK(named);
  };

  SECTION("tampered body") {
    expect(verify(secret, ts_text, sig, R"({"id":"evt_1","amount":500})", ts), 401, "invalid_signature");
    expect(verify(secret, ts_text, sig, body + " ", ts), 401, "invalid_signature");
  }
  SECTION("wrong secret") {
    expect(verify("whsec_other", ts_text, sig, body, ts), 401, "invalid_signature");
    expect(verify("", ts_text, sig, body, ts), 401, "invalid_signature");
    expect(verify(secret, ts_text, sign_webhook("", ts, body), body, ts), 401, "invalid_signature");
  }
  SECTION("timestamp is signed: moving it breaks the signature") {
    expect(verify(secret, std::string_view{"1700000001"}, sig, body, ts), 401, "invalid_signature");
  }
  SECTION("one flipped hex digit") {
    std::string bad = sig;
    bad.back() = bad.back() == '0' ? '1' : '0';
    expect(verify(secret, ts_text, bad, body, ts), 401, "invalid_signature");
  }
  SECTION("stale and future timestamps have distinct errors") {
    auto stale = verify(secret, ts_text, sig, body, ts + 301);
    expect(stale, 401, "timestamp_too_old");
    CHECK(stale.error().message.find("too old") != std::string::npos);
    auto future = verify(secret, ts_text, sig, body, ts - 301);
    expect(future, 401, "timestamp_in_future");
    CHECK(future.error().message.find("future") != std::string::npos);
    CHECK(stale.error().message != future.error().message);
    expect(verify(secret, ts_text, sig, body, ts + 61, 60), 401, "timestamp_too_old");
    CHECK(verify(secret, ts_text, sig, body, ts + 60, 60));
    // a genuine but old delivery replayed years later
    expect(verify(secret, ts_text, sig, body, ts + 86400 * 365), 401, "timestamp_too_old");
  }
  SECTION("missing headers are 400") {
    expect(verify(secret, std::nullopt, sig, body, ts), 400, "X-OAG-Timestamp");
    expect(verify(secret, ts_text, std::nullopt, body, ts), 400, "X-OAG-Signature");
    expect(verify(secret, std::nullopt, std::nullopt, body, ts), 400, "missing");
  }
  SECTION("malformed headers are 400") {
    for (const char* t : {"", " ", "abc", "-1700000000", "+1700000000", "1700000000.5", "01700000000",
                          "1e9", "1700000000000000", "17000 00000", "0x10"}) {
      INFO("timestamp '" << t << "'");
      expect(verify(secret, std::string_view{t}, sig, body, ts), 400, "X-OAG-Timestamp");
    }
    std::string hex = sig.substr(7);
    for (const std::string& g : {std::string{""}, hex, "sha1=" + hex, "SHA256=" + hex, "sha256:" + hex,
                                 "sha256=" + hex.substr(1), "sha256=" + hex + "0", "sha256=" + hex.substr(1) + "g",
                                 "sha256= " + hex.substr(1), "v1=" + hex + ",sha256=" + hex}) {
      INFO("signature '" << g << "'");
      expect(verify(secret, ts_text, std::string_view{g}, body, ts), 400, "X-OAG-Signature");
    }
  }
}

TEST_CASE("webhook event ids", "[triggers]") {
  const std::string body = R"({"id":"evt_top","data":{"event":{"id":"evt_nested","n":42,"neg":-7,"f":1.5,"obj":{}}},"list":[{"id":"x0"},{"id":"x1"}],"empty":""})";
  CHECK(webhook_event_id(std::string_view{"hdr-1"}, body, std::string_view{"id"}) == "hdr-1");
  CHECK(webhook_event_id(std::string_view{"  hdr-1\t"}, body, std::nullopt) == "hdr-1");
  CHECK(webhook_event_id(std::string_view{"   "}, body, std::string_view{"id"}) == "evt_top"); // blank header
  CHECK(webhook_event_id(std::nullopt, body, std::string_view{"id"}) == "evt_top");
  CHECK(webhook_event_id(std::nullopt, body, std::string_view{"data.event.id"}) == "evt_nested");
  CHECK(webhook_event_id(std::nullopt, body, std::string_view{"data.event.n"}) == "42");
  CHECK(webhook_event_id(std::nullopt, body, std::string_view{"data.event.neg"}) == "-7");
  CHECK(webhook_event_id(std::nullopt, body, std::string_view{"list.1.id"}) == "x1");
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"list.2.id"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"data.event.f"}));   // not an integer
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"data.event.obj"})); // not a scalar
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"empty"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"data.missing.id"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"id.deeper"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{"data..id"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::string_view{""}));
  CHECK_FALSE(webhook_event_id(std::nullopt, body, std::nullopt));
  CHECK_FALSE(webhook_event_id(std::nullopt, "not json {", std::string_view{"id"}));
  CHECK_FALSE(webhook_event_id(std::nullopt, R"(["id"])", std::string_view{"id"}));

  // long ids are bounded, deterministically, and stay distinct
  std::string long_a(500, 'a'), long_b = std::string(499, 'a') + "b";
  auto a = webhook_event_id(std::string_view{long_a}, "", std::nullopt);
  auto b = webhook_event_id(std::string_view{long_b}, "", std::nullopt);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->size() <= max_event_id_length);
  CHECK(a->rfind("sha256:", 0) == 0);
  CHECK(*a == *webhook_event_id(std::string_view{long_a}, "", std::nullopt));
  CHECK(*a != *b);
  std::string exact(max_event_id_length, 'z');
  CHECK(webhook_event_id(std::string_view{exact}, "", std::nullopt) == exact);
  CHECK(webhook_event_id(std::nullopt, json{{"id", long_a}}.dump(), std::string_view{"id"}) == a);
}

// ---------------------------------------------------------------------------
// Approval buttons
// ---------------------------------------------------------------------------

TEST_CASE("approval callback data round trip within 64 bytes", "[triggers]") {
  const std::string key = crypto::random_bytes(32);
  for (int i = 0; i < 50; ++i) {
    auto id = crypto::time_ordered_id("apr_");
    for (bool approve : {true, false}) {
      auto data = approval_callback_data(key, id, approve);
      REQUIRE(data);
      CHECK(data->size() <= max_callback_data);
      CHECK(data->rfind(approve ? "a:" : "r:", 0) == 0);
      auto back = parse_approval_callback(key, *data);
      REQUIRE(back);
      CHECK(back->approval_id == id);
      CHECK(back->approve == approve);
    }
  }
  // the longest id fits exactly
  std::string longest(max_approval_id_length, 'Z');
  CHECK(max_approval_id_length == 39);
  auto data = approval_callback_data(key, longest, true);
  REQUIRE(data);
  CHECK(data->size() == max_callback_data);
  CHECK(parse_approval_callback(key, *data));
  // ids with every allowed character, every length
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
  std::mt19937 rng(99);
  for (std::size_t len = 1; len <= max_approval_id_length; ++len) {
    std::string id;
    for (std::size_t k = 0; k < len; ++k) id += alphabet[rng() % alphabet.size()];
    auto d = approval_callback_data(key, id, len % 2 == 0);
    REQUIRE(d);
    CHECK(d->size() <= max_callback_data);
    auto back = parse_approval_callback(key, *d);
    REQUIRE(back);
    CHECK(back->approval_id == id);
  }
  // too long or invalid ids are refused rather than overflowing Telegram's limit
  CHECK_FALSE(approval_callback_data(key, longest + "Z", true));
  CHECK_FALSE(approval_callback_data(key, "", true));
  CHECK_FALSE(approval_callback_data(key, "apr.1", true));
  CHECK_FALSE(approval_callback_data(key, "apr 1", true));
  CHECK_FALSE(approval_callback_data("", "apr_1", true));
}

TEST_CASE("approval callback data cannot be forged or flipped", "[triggers]") {
  const std::string key = "company-key-1";
  auto approve = *approval_callback_data(key, "apr_123", true);
  auto reject = *approval_callback_data(key, "apr_123", false);
  auto tag_of = [](const std::string& d) { return d.substr(d.rfind('.') + 1); };
  CHECK(tag_of(approve) != tag_of(reject));

  auto expect = [](const result<approval_decision>& r, errc code) {
    REQUIRE_FALSE(r);
    CHECK(r.error().code == code);
  };
  // approve ↔ reject flip keeps the tag: refused
  expect(parse_approval_callback(key, "r" + approve.substr(1)), errc::permission_denied);
  expect(parse_approval_callback(key, "a" + reject.substr(1)), errc::permission_denied);
  // another company's key
  expect(parse_approval_callback("company-key-2", approve), errc::permission_denied);
  // the tag moved to another approval
  expect(parse_approval_callback(key, "a:apr_124." + tag_of(approve)), errc::permission_denied);
  // every single-character change of the tag
  const std::string b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto dot = approve.rfind('.');
  for (std::size_t i = dot + 1; i < approve.size(); ++i) {
    std::string forged = approve;
    forged[i] = forged[i] == 'A' ? 'B' : 'A';
    INFO(forged);
    expect(parse_approval_callback(key, forged), errc::permission_denied);
  }
  // garbled
  for (const std::string& g :
       {std::string{""}, std::string{"a"}, std::string{"a:"}, std::string{"x:apr_123."} + tag_of(approve),
        std::string{"a-apr_123."} + tag_of(approve), std::string{"a:apr_123"}, "a:apr_123." + tag_of(approve) + "A",
        "a:apr_123." + tag_of(approve).substr(1), "a:." + tag_of(approve), "a:apr_123.+" + tag_of(approve).substr(1),
        "a:apr 123." + tag_of(approve), std::string{"m:gpt-4o"}, approve + std::string(70, 'x')}) {
    INFO("'" << g << "'");
    expect(parse_approval_callback(key, g), errc::invalid_request);
  }
  CHECK_FALSE(parse_approval_callback("", approve));
}

// ---------------------------------------------------------------------------
// Approval rules
// ---------------------------------------------------------------------------

TEST_CASE("approval rules parse", "[triggers]") {
  auto always = parse_approval_rule(json(true));
  REQUIRE(always);
  CHECK(always->always);
  CHECK(parse_approval_rule(json("always"))->always);
  CHECK(parse_approval_rule(json{{"always", true}})->always);
  CHECK_FALSE(parse_approval_rule(json(false))->always);
  CHECK_FALSE(parse_approval_rule(json("never"))->always);
  CHECK(parse_approval_rule(json::array())->any.empty());

  auto one = parse_approval_rule(json::parse(R"({"when":{"path":"amount","op":">=","value":100}})"));
  REQUIRE(one);
  CHECK_FALSE(one->always);
  REQUIRE(one->any.size() == 1);
  CHECK(one->any[0].path == "amount");
  CHECK(one->any[0].op == compare_op::ge);
  CHECK(one->any[0].value == 100);

  auto many = parse_approval_rule(json::parse(
      R"([{"when":[{"path":"amount","op":">","value":1000},{"path":"currency","op":"!=","value":"EUR"}]},
          {"when":{"path":"to.country","op":"==","value":"KP"}}])"));
  REQUIRE(many);
  CHECK(many->any.size() == 3);

  struct bad_row {
    const char* rule;
    const char* param;
  };
  const bad_row bad[] = {
      {R"("sometimes")", ""},
      {R"(42)", ""},
      {R"({})", ""},
      {R"({"if":{}})", "if"},
      {R"({"always":"yes"})", "always"},
      {R"({"when":[]})", "when"},
      {R"({"when":{"op":">","value":1}})", "when.path"},
      {R"({"when":{"path":"a","value":1}})", "when.op"},
      {R"({"when":{"path":"a","op":">"}})", "when.value"},
      {R"({"when":{"path":"a","op":"=>","value":1}})", "when.op"},
      {R"({"when":{"path":"a","op":">","value":null}})", "when.value"},
      {R"({"when":{"path":"a","op":">","value":[1]}})", "when.value"},
      {R"({"when":{"path":"a","op":">","value":true}})", "when.op"},
      {R"({"when":{"path":"a..b","op":">","value":1}})", "when.path"},
      {R"({"when":{"path":"","op":">","value":1}})", "when.path"},
      {R"({"when":{"path":7,"op":">","value":1}})", "when.path"},
      {R"({"when":{"path":"a","op":">","value":1,"extra":1}})", "when.extra"},
      {R"({"when":"amount > 5"})", "when"},
      {R"([true, {"when":[{"path":"a","op":"<","value":1},{"path":"b","op":"~","value":1}]}])", "[1].when[1].op"},
      {R"([[true]])", "[0]"},
  };
  for (const auto& r : bad) {
    INFO(r.rule);
    auto p = parse_approval_rule(json::parse(r.rule));
    REQUIRE_FALSE(p);
    CHECK(p.error().code == errc::invalid_request);
    CHECK(p.error().param.value_or("") == r.param);
  }
}

TEST_CASE("approval rules decide", "[triggers]") {
  auto rule = [](const char* text) {
    auto r = parse_approval_rule(json::parse(text));
    if (!r) FAIL(r.error().message);
    return r.value();
  };
  auto args = [](const char* text) { return json::parse(text); };

  auto threshold = rule(R"({"when":{"path":"amount","op":">=","value":100}})");
  CHECK(needs_approval(threshold, args(R"({"amount":100})")));
  CHECK(needs_approval(threshold, args(R"({"amount":100.5})")));
  CHECK(needs_approval(threshold, args(R"({"amount":1e6})")));
  CHECK_FALSE(needs_approval(threshold, args(R"({"amount":99})")));
  CHECK_FALSE(needs_approval(threshold, args(R"({"amount":99.999})")));
  CHECK_FALSE(needs_approval(threshold, args(R"({"amount":-1000})")));
  CHECK_FALSE(needs_approval(threshold, args(R"({"other":1000})"))); // absent: rule does not apply
  CHECK_FALSE(needs_approval(threshold, args(R"({"amount":null})")));
  CHECK_FALSE(needs_approval(threshold, args(R"([])")));
  // a numeric string is compared as a number; other types fail closed
  CHECK(needs_approval(threshold, args(R"({"amount":"150"})")));
  CHECK_FALSE(needs_approval(threshold, args(R"({"amount":"50"})")));
  CHECK(needs_approval(threshold, args(R"({"amount":"lots"})")));
  CHECK(needs_approval(threshold, args(R"({"amount":{"value":5}})")));
  CHECK(needs_approval(threshold, args(R"({"amount":[5]})")));
  CHECK(needs_approval(threshold, args(R"({"amount":true})")));

  // every operator, integers exactly (beyond double precision)
  struct op_row {
    const char* op;
    bool below, equal, above;
  };
  for (const op_row& r : {op_row{">", false, false, true}, op_row{">=", false, true, true},
                          op_row{"<", true, false, false}, op_row{"<=", true, true, false},
                          op_row{"==", false, true, false}, op_row{"!=", true, false, true}}) {
    INFO(r.op);
    auto rr = rule((std::string(R"({"when":{"path":"n","op":")") + r.op + R"(","value":9007199254740993}})").c_str());
    CHECK(needs_approval(rr, args(R"({"n":9007199254740992})")) == r.below);
    CHECK(needs_approval(rr, args(R"({"n":9007199254740993})")) == r.equal);
    CHECK(needs_approval(rr, args(R"({"n":18446744073709551615})")) == r.above);
    auto rs = rule((std::string(R"({"when":{"path":"s","op":")") + r.op + R"(","value":"m"}})").c_str());
    CHECK(needs_approval(rs, args(R"({"s":"l"})")) == r.below);
    CHECK(needs_approval(rs, args(R"({"s":"m"})")) == r.equal);
    CHECK(needs_approval(rs, args(R"({"s":"n"})")) == r.above);
  }

  auto strings = rule(R"({"when":{"path":"currency","op":"!=","value":"EUR"}})");
  CHECK(needs_approval(strings, args(R"({"currency":"USD"})")));
  CHECK_FALSE(needs_approval(strings, args(R"({"currency":"EUR"})")));
  CHECK(needs_approval(strings, args(R"({"currency":978})"))); // not comparable: fail closed

  auto flag = rule(R"({"when":{"path":"options.dry_run","op":"==","value":false}})");
  CHECK(needs_approval(flag, args(R"({"options":{"dry_run":false}})")));
  CHECK_FALSE(needs_approval(flag, args(R"({"options":{"dry_run":true}})")));
  CHECK(needs_approval(flag, args(R"({"options":{"dry_run":"no"}})")));

  auto either = rule(R"([{"when":{"path":"amount","op":">","value":1000}},
                         {"when":[{"path":"to.country","op":"==","value":"KP"},
                                  {"path":"items.0.qty","op":">=","value":50}]}])");
  CHECK_FALSE(needs_approval(either, args(R"({"amount":10,"to":{"country":"DE"},"items":[{"qty":1}]})")));
  CHECK(needs_approval(either, args(R"({"amount":1001})")));
  CHECK(needs_approval(either, args(R"({"amount":10,"to":{"country":"KP"}})")));
  CHECK(needs_approval(either, args(R"({"amount":10,"items":[{"qty":50}]})")));

  CHECK(needs_approval(rule("true"), args("{}")));
  CHECK(needs_approval(rule(R"([false, "always"])"), args("{}")));
  CHECK_FALSE(needs_approval(rule("false"), args(R"({"amount":1e9})")));
  CHECK_FALSE(needs_approval(rule("[]"), args("{}")));
}
