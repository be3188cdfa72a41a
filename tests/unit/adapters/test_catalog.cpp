#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "oag/adapters/catalog.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

std::string error_of(const char* text) {
  auto r = catalog::parse(json::parse(text));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  return r.error().message;
}

} // namespace

TEST_CASE("catalog parses prices exactly", "[catalog]") {
  auto r = catalog::parse(json::parse(R"({"models":{
    "openai/gpt-4o-mini":{"input":0.15,"cached_input":0.075,"output":0.6,
                          "max_output_tokens":16384,"context_window":128000,"embeddings":false},
    "openai/text-embedding-3-small":{"input":0.02,"embeddings":true},
    "mock/echo":{"input":1,"output":2}}})"));
  REQUIRE(r);
  auto m = r->find("openai", "gpt-4o-mini");
  REQUIRE(m);
  CHECK(m->price.input_musd_per_mtok == 150000);
  CHECK(m->price.cached_input_musd_per_mtok == 75000);
  CHECK(m->price.output_musd_per_mtok == 600000);
  CHECK(m->max_output_tokens == 16384);
  CHECK(m->context_window == 128000);
  CHECK_FALSE(m->embeddings);

  auto e = r->find("openai", "text-embedding-3-small");
  REQUIRE(e);
  CHECK(e->embeddings);
  CHECK(e->price.output_musd_per_mtok == 0);
  CHECK(e->price.cached_input_musd_per_mtok == 20000);  // defaults to the input rate

  auto echo = r->find("mock", "echo");
  REQUIRE(echo);
  CHECK(echo->price.input_musd_per_mtok == 1000000);
  CHECK(echo->max_output_tokens == 4096);  // default
  CHECK_FALSE(r->find("mock", "nope"));
  CHECK_FALSE(r->find("openai", "gpt-4o"));
  CHECK(r->all().size() == 3);

  catalog c = *r;
  c.set("x/y", model_info{});
  CHECK(c.find("x", "y"));
}

TEST_CASE("catalog errors name the JSON path", "[catalog]") {
  CHECK(error_of("[]").find("JSON object") != std::string::npos);
  CHECK(error_of("{}").find("models") != std::string::npos);
  CHECK(error_of(R"({"models":[]})").find("models") != std::string::npos);
  CHECK(error_of(R"({"models":{},"extra":1})").find("extra") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":"2.5","output":10}}})")
            .find("models[\"openai/gpt-4o\"].input") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":-1,"output":10}}})")
            .find("models[\"openai/gpt-4o\"].input") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"output":10}}})")
            .find("models[\"openai/gpt-4o\"].input") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":1}}})")
            .find("models[\"openai/gpt-4o\"].output") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":1,"ouput":2}}})")
            .find("models[\"openai/gpt-4o\"].ouput") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":1,"output":2,"max_output_tokens":1.5}}})")
            .find("models[\"openai/gpt-4o\"].max_output_tokens") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":1,"output":2,"context_window":0}}})")
            .find("models[\"openai/gpt-4o\"].context_window") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/gpt-4o":{"input":1,"output":2,"embeddings":"no"}}})")
            .find("models[\"openai/gpt-4o\"].embeddings") != std::string::npos);
  CHECK(error_of(R"({"models":{"gpt-4o":{"input":1,"output":2}}})")
            .find("models[\"gpt-4o\"]") != std::string::npos);
  CHECK(error_of(R"({"models":{"openai/x":5}})").find("models[\"openai/x\"]") != std::string::npos);

  auto r = catalog::parse(json::parse(R"({"models":{"a/b":{"input":true,"output":1}}})"));
  REQUIRE_FALSE(r);
  CHECK(r.error().param == std::optional<std::string>("models[\"a/b\"].input"));
}

TEST_CASE("config/prices.json parses and covers the required models", "[catalog]") {
  // The checkout's root comes from CMake (__FILE__ may be relative under ccache).
  std::ifstream f(std::string{OAG_SOURCE_DIR} + "/config/prices.json");
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  json doc = json::parse(ss.str(), nullptr, false);
  REQUIRE_FALSE(doc.is_discarded());
  auto r = catalog::parse(doc);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  for (const char* m : {"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini",
                        "text-embedding-3-small", "text-embedding-3-large"}) {
    INFO(m);
    auto info = r->find("openai", m);
    REQUIRE(info);
    CHECK(info->price.input_musd_per_mtok > 0);
  }
  CHECK(r->find("openai", "gpt-4o-mini")->price.input_musd_per_mtok == 150000);
  CHECK(r->find("openai", "text-embedding-3-small")->embeddings);
  CHECK(r->find("openai", "text-embedding-3-large")->embeddings);
  auto echo = r->find("mock", "echo");
  REQUIRE(echo);
  CHECK(echo->price.input_musd_per_mtok == 100000);
  CHECK(echo->price.cached_input_musd_per_mtok == 50000);
  CHECK(echo->price.output_musd_per_mtok == 200000);
  CHECK(echo->max_output_tokens == 4096);
  REQUIRE(r->find("mock", "embed"));
  CHECK(r->find("mock", "embed")->embeddings);
}
