// The Assistants v2 object rules and cursor pages, without actors.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>

#include "assistants_objects.hpp"
#include "object_store.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"

using namespace oag;
using nlohmann::json;
namespace as = oag::actors::assistants;
namespace objects = oag::actors::objects;

namespace {

struct scratch_db {
  std::string path;
  std::shared_ptr<storage::database> db;
  scratch_db() {
    char tmpl[] = "/tmp/oag-objects-XXXXXX";
    path = mkdtemp(tmpl);
    db = storage::database::open(path + "/db", storage::durability::wal).value();
  }
  ~scratch_db() {
    db->close();
    std::filesystem::remove_all(path);
  }
};

std::vector<std::string> ids_of(const json& list) {
  std::vector<std::string> out;
  for (auto& d : list["data"]) out.push_back(d["id"]);
  return out;
}

} // namespace

TEST_CASE("list pages are exact at page borders in both orders", "[objects]") {
  scratch_db s;
  const std::string prefix = storage::tenant_prefix("co_1", storage::record_kind::assistant);
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ids.push_back(crypto::time_ordered_id("asst_"));
    REQUIRE(s.db->put(prefix + ids.back(), json{{"id", ids.back()}, {"n", i}}.dump()));
  }
  // Another company's objects never show.
  REQUIRE(s.db->put(storage::tenant_prefix("co_2", storage::record_kind::assistant) + "asst_x", R"({"id":"asst_x"})"));

  objects::page_query q;
  q.limit = 3;
  q.descending = false;
  auto p1 = objects::list_page(*s.db, prefix, q).value();
  CHECK(ids_of(p1) == std::vector<std::string>{ids[0], ids[1], ids[2]});
  CHECK(p1["has_more"] == true);
  CHECK(p1["first_id"] == ids[0]);
  CHECK(p1["last_id"] == ids[2]);
  q.after = ids[2];
  auto p2 = objects::list_page(*s.db, prefix, q).value();
  CHECK(ids_of(p2) == std::vector<std::string>{ids[3], ids[4], ids[5]});
  CHECK(p2["has_more"] == false); // exactly six: nothing past the second page

  objects::page_query d;
  d.limit = 4;
  auto n1 = objects::list_page(*s.db, prefix, d).value();
  CHECK(ids_of(n1) == std::vector<std::string>{ids[5], ids[4], ids[3], ids[2]});
  CHECK(n1["has_more"] == true);
  d.after = ids[2];
  auto n2 = objects::list_page(*s.db, prefix, d).value();
  CHECK(ids_of(n2) == std::vector<std::string>{ids[1], ids[0]});
  CHECK(n2["has_more"] == false);

  // `before` pages back towards the start of the list, in list order.
  objects::page_query b;
  b.limit = 2;
  b.descending = true;
  b.before = ids[1];
  auto back = objects::list_page(*s.db, prefix, b).value();
  CHECK(ids_of(back) == std::vector<std::string>{ids[3], ids[2]});
  CHECK(back["has_more"] == true);
  b.descending = false;
  b.before = ids[4];
  auto back_asc = objects::list_page(*s.db, prefix, b).value();
  CHECK(ids_of(back_asc) == std::vector<std::string>{ids[2], ids[3]});

  // A filter skips objects without breaking has_more.
  objects::page_query f;
  f.limit = 2;
  f.descending = false;
  auto odd = objects::list_page(*s.db, prefix, f, [](json&& doc) -> std::optional<json> {
    if (doc["n"].get<int>() % 2 == 0) return std::nullopt;
    return std::move(doc);
  });
  CHECK(ids_of(odd.value()) == std::vector<std::string>{ids[1], ids[3]});
  CHECK(odd.value()["has_more"] == true);

  auto empty = objects::list_page(*s.db, storage::tenant_prefix("co_9", storage::record_kind::assistant), q).value();
  CHECK(empty["data"].empty());
  CHECK(empty["first_id"].is_null());
  CHECK(empty["has_more"] == false);
}

TEST_CASE("page parameters are checked", "[objects]") {
  CHECK(objects::parse_page_query({{"limit", "0"}}).error().param == std::optional<std::string>{"limit"});
  CHECK(!objects::parse_page_query({{"limit", "101"}}));
  CHECK(!objects::parse_page_query({{"limit", "5x"}}));
  CHECK(!objects::parse_page_query({{"order", "up"}}));
  CHECK(!objects::parse_page_query({{"after", "a\"b"}}));
  auto q = objects::parse_page_query({{"limit", "100"}, {"order", "asc"}, {"after", "msg_1"}}).value();
  CHECK(q.limit == 100);
  CHECK(!q.descending);
  CHECK(*q.after == "msg_1");
  CHECK(objects::parse_page_query({}).value().descending);
}

TEST_CASE("metadata follows OpenAI's limits", "[objects]") {
  json m = json::object();
  for (int i = 0; i < 16; ++i) m["k" + std::to_string(i)] = "v";
  CHECK(objects::check_metadata(m));
  m["k16"] = "v";
  CHECK(!objects::check_metadata(m));
  CHECK(!objects::check_metadata(json{{std::string(65, 'k'), "v"}}));
  CHECK(!objects::check_metadata(json{{"k", std::string(513, 'v')}}));
  CHECK(!objects::check_metadata(json{{"k", 1}}));
  CHECK(objects::check_metadata(nullptr).value() == json::object());
}

TEST_CASE("assistants: create, modify and tool rules", "[assistants]") {
  CHECK(!as::new_assistant(json::object(), "asst_1", 1));
  auto a = as::new_assistant({{"model", "mock/echo"}, {"name", "Bob"}}, "asst_1", 7).value();
  CHECK(a["object"] == "assistant");
  CHECK(a["created_at"] == 7);
  CHECK(a["tools"] == json::array());
  CHECK(a["response_format"] == "auto");
  CHECK(a["instructions"].is_null());

  auto code = as::new_assistant({{"model", "m/x"}, {"tools", {{{"type", "code_interpreter"}}}}}, "a", 1);
  REQUIRE(!code);
  CHECK(code.error().message.find("code_interpreter") != std::string::npos);
  CHECK(*code.error().param == "tools[0].type");
  CHECK(!as::new_assistant({{"model", "m/x"}, {"tools", {{{"type", "file_search"}}}}}, "a", 1));
  CHECK(!as::new_assistant({{"model", "m/x"}, {"tools", {{{"type", "function"}, {"function", {{"name", "bad name"}}}}}}}, "a", 1));
  json dup = {{"type", "function"}, {"function", {{"name", "f"}}}};
  CHECK(!as::new_assistant({{"model", "m/x"}, {"tools", {dup, dup}}}, "a", 1));
  CHECK(!as::new_assistant({{"model", "m/x"}, {"temperature", 3}}, "a", 1));
  CHECK(!as::new_assistant({{"model", "m/x"}, {"colour", "red"}}, "a", 1));
  CHECK(!as::new_assistant({{"model", "m/x"}, {"name", std::string(257, 'n')}}, "a", 1));

  REQUIRE(as::modify_assistant(a, {{"instructions", "Be kind."}, {"metadata", {{"team", "x"}}}}));
  CHECK(a["instructions"] == "Be kind.");
  CHECK(a["name"] == "Bob"); // untouched fields stay
  CHECK(a["metadata"]["team"] == "x");
  REQUIRE(as::modify_assistant(a, {{"name", nullptr}}));
  CHECK(a["name"].is_null());
}

TEST_CASE("messages: content shapes and roles", "[assistants]") {
  auto m = as::new_message({{"role", "user"}, {"content", "hi"}}, "msg_1", "thread_1", 5).value();
  CHECK(m["content"][0]["text"]["value"] == "hi");
  CHECK(m["content"][0]["text"]["annotations"] == json::array());
  CHECK(m["status"] == "completed");
  auto parts = as::new_message({{"role", "user"},
                                {"content", {{{"type", "text"}, {"text", "a"}},
                                             {{"type", "image_url"}, {"image_url", {{"url", "https://x/i.png"}}}}}}},
                               "msg_2", "thread_1", 5)
                   .value();
  CHECK(parts["content"].size() == 2);
  CHECK(parts["content"][1]["image_url"]["url"] == "https://x/i.png");
  CHECK(!as::new_message({{"role", "system"}, {"content", "x"}}, "m", "t", 1));
  CHECK(!as::new_message({{"role", "user"}}, "m", "t", 1));
  CHECK(!as::new_message({{"role", "user"}, {"content", json::array()}}, "m", "t", 1));
  CHECK(!as::new_message({{"role", "user"}, {"content", {{{"type", "image_file"}, {"image_file", {{"file_id", "f"}}}}}}}, "m", "t", 1));
  auto nested = as::new_message({{"role", "user"}, {"content", 5}}, "m", "t", 1, "messages[2]");
  REQUIRE(!nested);
  CHECK(*nested.error().param == "messages[2].content");
}

TEST_CASE("runs: overrides, instructions and checks", "[assistants]") {
  auto a = as::new_assistant({{"model", "mock/echo"}, {"instructions", "Persona."},
                              {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}}}},
                             "asst_1", 1)
               .value();
  auto r = as::new_run({{"assistant_id", "asst_1"}}, a, "run_1", "thread_1", 10, 610).value();
  CHECK(r["status"] == "queued");
  CHECK(r["instructions"] == "Persona.");
  CHECK(r["model"] == "mock/echo");
  CHECK(r["expires_at"] == 610);
  CHECK(r["tools"].size() == 1);
  auto o = as::new_run({{"model", "fake/x"}, {"instructions", "Other."}, {"additional_instructions", "Also this."},
                        {"temperature", 0.5}, {"tools", json::array()},
                        {"truncation_strategy", {{"type", "last_messages"}, {"last_messages", 2}}}},
                       a, "run_2", "thread_1", 10, 610)
               .value();
  CHECK(o["model"] == "fake/x");
  CHECK(o["instructions"] == "Other.\n\nAlso this.");
  CHECK(o["temperature"] == 0.5);
  CHECK(o["tools"].empty());
  CHECK(o["truncation_strategy"]["last_messages"] == 2);
  CHECK(!as::new_run({{"tool_choice", {{"type", "function"}, {"function", {{"name", "g"}}}}}}, a, "r", "t", 1, 2));
  CHECK(as::new_run({{"tool_choice", {{"type", "function"}, {"function", {{"name", "f"}}}}}}, a, "r", "t", 1, 2));
  CHECK(!as::new_run({{"tool_choice", "sometimes"}}, a, "r", "t", 1, 2));
  CHECK(!as::new_run({{"max_completion_tokens", 0}}, a, "r", "t", 1, 2));
  CHECK(!as::new_run({{"max_completion_tokens", 255}}, a, "r", "t", 1, 2));
  CHECK(as::new_run({{"max_prompt_tokens", 256}}, a, "r", "t", 1, 2));
  CHECK(!as::new_run({{"truncation_strategy", {{"type", "last_messages"}}}}, a, "r", "t", 1, 2));
}

TEST_CASE("tool outputs must answer every waiting call once", "[assistants]") {
  json run = json::parse(R"({"required_action":{"type":"submit_tool_outputs",
      "submit_tool_outputs":{"tool_calls":[{"id":"call_1"},{"id":"call_2"}]}}})");
  auto both = json{{"tool_outputs", {{{"tool_call_id", "call_1"}, {"output", "a"}}, {{"tool_call_id", "call_2"}, {"output", "b"}}}}};
  CHECK(as::check_tool_outputs(both, run).value().size() == 2);
  // A missing or null output counts as an empty one.
  auto bare = as::check_tool_outputs(json::parse(R"({"tool_outputs":[{"tool_call_id":"call_1"},{"tool_call_id":"call_2","output":null}]})"), run).value();
  CHECK(bare[0]["output"] == "");
  CHECK(bare[1]["output"] == "");
  auto missing = as::check_tool_outputs({{"tool_outputs", {{{"tool_call_id", "call_1"}, {"output", "a"}}}}}, run);
  REQUIRE(!missing);
  CHECK(missing.error().message.find("call_2") != std::string::npos);
  CHECK(!as::check_tool_outputs({{"tool_outputs", {{{"tool_call_id", "call_9"}, {"output", "a"}}}}}, run));
  CHECK(!as::check_tool_outputs({{"tool_outputs", {{{"tool_call_id", "call_1"}, {"output", "a"}},
                                                   {{"tool_call_id", "call_1"}, {"output", "b"}}}}},
                                run));
  CHECK(!as::check_tool_outputs({{"tool_outputs", {{{"tool_call_id", "call_1"}, {"output", 5}}}}}, run));
  CHECK(!as::check_tool_outputs({{"tool_outputs", json::array()}}, run));
  CHECK(as::is_terminal("expired"));
  CHECK(!as::is_terminal("requires_action"));
}
