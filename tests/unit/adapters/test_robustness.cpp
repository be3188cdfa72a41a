#include <catch2/catch.hpp>

#include <random>

#include "oag/adapters/catalog.hpp"
#include "oag/adapters/mock_upstream.hpp"
#include "oag/adapters/openai_adapter.hpp"
#include "oag/adapters/validate.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

/// Random JSON built from the vocabulary of the request schema, so the
/// validators' deeper branches see wrong types and shapes, not just noise.
class generator {
 public:
  explicit generator(unsigned seed) : rng_(seed) {}

  json value(int depth) {
    switch (pick(depth > 3 ? 6 : 9)) {
      case 0: return nullptr;
      case 1: return pick(2) == 0;
      case 2: return static_cast<std::int64_t>(pick(300)) - 100;
      case 3: return std::uniform_real_distribution<double>(-3, 3)(rng_);
      case 4: return word();
      case 5: return std::string("\xff\xfe bad utf8 \xc3");
      case 6: {
        json a = json::array();
        for (int i = 0, n = pick(4); i < n; ++i) a.push_back(value(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (int i = 0, n = pick(5); i < n; ++i) o[key()] = value(depth + 1);
        return o;
      }
    }
  }

  json chat_body() {
    json b = {{"model", "m"}, {"messages", json::array()}};
    for (int i = 0, n = 1 + pick(3); i < n; ++i) {
      json m = {{"role", role()}};
      for (int k = 0, kn = pick(4); k < kn; ++k) m[key()] = value(1);
      b["messages"].push_back(m);
    }
    for (int i = 0, n = pick(4); i < n; ++i) b[key()] = value(1);
    return b;
  }

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

 private:
  std::string key() {
    static const char* keys[] = {"model", "messages", "role", "content", "type", "text", "tool_calls",
                                 "id", "function", "name", "arguments", "tools", "tool_choice",
                                 "stream", "stream_options", "include_usage", "n", "stop",
                                 "max_tokens", "temperature", "response_format", "json_schema",
                                 "input", "dimensions", "encoding_format", "image_url", "url",
                                 "tool_call_id", "allowed_tools", "mode", "usage", "choices",
                                 "error", "message", "models", "output", "x"};
    return keys[pick(static_cast<int>(std::size(keys)))];
  }
  std::string role() {
    static const char* roles[] = {"system", "developer", "user", "assistant", "tool", "function", "bot"};
    return roles[pick(7)];
  }
  std::string word() {
    static const char* words[] = {"", "auto", "function", "text", "#mock:tool=f:{\"a\":1}",
                                  "#mock:error=429", "#mock:error=9", "hello world", "你好", "[DONE]"};
    return words[pick(10)];
  }
  std::mt19937 rng_;
};

} // namespace

TEST_CASE("validators, estimators and the mock never throw on odd JSON", "[robustness]") {
  generator g(12345);
  for (int i = 0; i < 3000; ++i) {
    json body = g.pick(3) == 0 ? g.value(0) : g.chat_body();
    INFO(body.dump(-1, ' ', false, json::error_handler_t::replace));
    REQUIRE_NOTHROW(validate_chat_request(body));
    REQUIRE_NOTHROW(validate_embeddings_request(body));
    REQUIRE_NOTHROW(estimate_prompt_tokens(body));
    REQUIRE_NOTHROW(requested_output_tokens(body));
    REQUIRE_NOTHROW(usage_of(body));
    REQUIRE_NOTHROW(catalog::parse(body));
    CHECK(estimate_prompt_tokens(body) >= 16);
    provider_endpoint ep;
    ep.kind = "mock";
    for (bool stream : {false, true}) {
      REQUIRE_NOTHROW([&] {
        auto req = openai_adapter().chat_request(body, "echo", stream, ep);
        if (!req) return;
        auto answer = mock_answer(*req);
        if (answer.status == 200 && !stream) {
          CHECK(openai_adapter().chat_response(answer.body));
        } else if (answer.status == 200) {
          auto d = make_openai_stream_decoder();
          std::vector<stream_event> events;
          d->feed(answer.body, events);
          d->finish(events);
          REQUIRE_FALSE(events.empty());
          CHECK(events.back().what == stream_event::type::done);
        } else {
          (void)openai_adapter().upstream_failure(answer.status, answer.headers, answer.body);
        }
      }());
    }
    REQUIRE_NOTHROW([&] {
      auto req = openai_adapter().embeddings_request(body, "embed", ep);
      if (req) (void)mock_answer(*req);
    }());
  }
}

TEST_CASE("the stream decoder survives random bytes", "[robustness]") {
  std::mt19937 rng(7);
  const std::string alphabet = "data: {}[]\"\n\r:DONEerror,";
  for (int i = 0; i < 500; ++i) {
    std::string bytes;
    for (int k = 0, n = static_cast<int>(rng() % 200); k < n; ++k)
      bytes += (rng() % 8 == 0) ? static_cast<char>(rng() % 256) : alphabet[rng() % alphabet.size()];
    auto d = make_openai_stream_decoder();
    std::vector<stream_event> out;
    REQUIRE_NOTHROW(d->feed(bytes, out));
    REQUIRE_NOTHROW(d->finish(out));
    // Whatever came in, the stream ends in exactly one terminal event.
    REQUIRE_FALSE(out.empty());
    CHECK(out.back().what != stream_event::type::chunk);
    std::size_t terminals = 0;
    for (auto& e : out) terminals += e.what != stream_event::type::chunk;
    CHECK(terminals == 1);
    REQUIRE_NOTHROW(openai_adapter().chat_response(bytes));
    REQUIRE_NOTHROW(openai_adapter().upstream_failure(500, {}, bytes));
  }
}
