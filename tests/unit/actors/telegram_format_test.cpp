#include <catch2/catch.hpp>

#include <string>

#include "telegram_format.hpp"

using namespace oag;
using namespace oag::actors::telegram;
using nlohmann::json;

namespace {

const std::string token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawA";

approval_view view() {
  approval_view v;
  v.approval_id = "apr_0abc";
  v.agent_name = "Tax bot";
  v.tool = "send_money";
  v.arguments = R"({"amount":150,"to":"DE89"})";
  v.expires_at = 1700000000; // 2023-11-14 22:13:20 UTC
  v.approve_data = "a:apr_0abc.AAAAAAAAAAAAAAAAAAAAAA";
  v.reject_data = "r:apr_0abc.BBBBBBBBBBBBBBBBBBBBBB";
  return v;
}

/// Characters (code points) of a valid UTF-8 text.
std::size_t code_points(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

/// UTF-16 code units, as Telegram counts.
std::size_t utf16_units(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) == 0x80) continue;
    n += c >= 0xF0 ? 2 : 1;
  }
  return n;
}

bool valid_utf8(const std::string& s) {
  try {
    (void)json(s).dump();
    return true;
  } catch (const json::exception&) {
    return false;
  }
}

} // namespace

TEST_CASE("method_url", "[telegram]") {
  CHECK(method_url(default_api_base, token, "sendMessage") ==
        "https://api.telegram.org/bot" + token + "/sendMessage");
  CHECK(method_url("http://127.0.0.1:8081/", "1:x", "getMe") == "http://127.0.0.1:8081/bot1:x/getMe");
  CHECK(method_url("http://h//", "1:x", "getMe") == "http://h/bot1:x/getMe");
}

TEST_CASE("is_bot_token", "[telegram]") {
  CHECK(is_bot_token(token));
  CHECK(is_bot_token("1:" + std::string(30, 'a')));
  CHECK(is_bot_token("1:" + std::string(29, 'a') + "-"));
  CHECK_FALSE(is_bot_token("1:" + std::string(29, 'a')));
  CHECK_FALSE(is_bot_token(":" + std::string(35, 'a')));
  CHECK_FALSE(is_bot_token("12a:" + std::string(35, 'a')));
  CHECK_FALSE(is_bot_token("123" + std::string(35, 'a')));
  CHECK_FALSE(is_bot_token("123:" + std::string(34, 'a') + "/"));
  CHECK_FALSE(is_bot_token("123:" + std::string(34, 'a') + ":"));
  CHECK_FALSE(is_bot_token(""));
}

TEST_CASE("approval_message: text and the Approve / Reject keyboard", "[telegram]") {
  auto v = view();
  json m = approval_message(42, v);
  CHECK(m["chat_id"] == 42);
  CHECK_FALSE(m.contains("parse_mode"));
  const std::string text = m["text"];
  CHECK(text.find("Tax bot") != std::string::npos);
  CHECK(text.find("send_money") != std::string::npos);
  CHECK(text.find("apr_0abc") != std::string::npos);
  CHECK(text.find("2023-11-14 22:13 UTC") != std::string::npos);
  CHECK(text.find("\"amount\": 150") != std::string::npos); // pretty-printed
  const json& kb = m["reply_markup"]["inline_keyboard"];
  REQUIRE(kb.is_array());
  REQUIRE(kb.size() == 1);
  REQUIRE(kb[0].size() == 2);
  CHECK(kb[0][0]["text"].get<std::string>().find("Approve") != std::string::npos);
  CHECK(kb[0][0]["callback_data"] == v.approve_data);
  CHECK(kb[0][1]["text"].get<std::string>().find("Reject") != std::string::npos);
  CHECK(kb[0][1]["callback_data"] == v.reject_data);
  for (const auto& b : kb[0]) CHECK(b.size() == 2); // text + exactly one action
  CHECK(approval_message("@ops", v)["chat_id"] == "@ops");
}

TEST_CASE("approval_message: arguments that are not JSON are shown as given", "[telegram]") {
  auto v = view();
  v.arguments = "not {json";
  CHECK(approval_message(1, v)["text"].get<std::string>().find("not {json") != std::string::npos);
  v.arguments = "";
  CHECK(approval_message(1, v)["text"].get<std::string>().find("{}") != std::string::npos);
  v.arguments = "bad \xff byte";
  const std::string t = approval_message(1, v)["text"];
  CHECK(valid_utf8(t));
}

TEST_CASE("approval_message: long arguments are cut to 4096 on a character boundary", "[telegram]") {
  auto v = view();
  // Two-byte characters and four-byte emoji so a byte cut would split one.
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += "\xC3\xA9\xF0\x9F\x98\x80"; // é😀
  v.arguments = json{{"note", long_text}}.dump();
  json m = approval_message(1, v);
  const std::string text = m["text"];
  CHECK(valid_utf8(text));
  CHECK(utf16_units(text) <= 4096);
  CHECK(code_points(text) <= 4096);
  CHECK(utf16_units(text) >= 4090); // the room is used, not wasted
  CHECK(text.size() >= 3 + 0);
  CHECK(text.substr(text.size() - 3) == "\xE2\x80\xA6"); // ends with the ellipsis
  CHECK(text.find("send_money") != std::string::npos);   // the head survives
  // ASCII: exactly at the limit.
  v.arguments = std::string(10000, 'x');
  const std::string ascii = approval_message(1, v)["text"];
  CHECK(utf16_units(ascii) == 4096);
  // Short arguments are not cut.
  v.arguments = "{\"a\":1}";
  CHECK(approval_message(1, v)["text"].get<std::string>().find("\xE2\x80\xA6") == std::string::npos);
}

TEST_CASE("decided_message", "[telegram]") {
  auto v = view();
  json m = decided_message(-100123, 7, v, "approved", "Ann");
  CHECK(m["chat_id"] == -100123);
  CHECK(m["message_id"] == 7);
  CHECK_FALSE(m.contains("reply_markup"));
  const std::string text = m["text"];
  CHECK(text.find("send_money") != std::string::npos);
  CHECK(text.size() > 18);
  CHECK(text.substr(text.size() - std::string("\xE2\x9C\x85 Approved by Ann").size()) ==
        "\xE2\x9C\x85 Approved by Ann");
  const std::string rejected = decided_message(1, 2, v, "rejected", "@bob")["text"];
  CHECK(rejected.find("\xE2\x9D\x8C Rejected by @bob") != std::string::npos);
  const std::string expired = decided_message(1, 2, v, "expired", "")["text"];
  CHECK(expired.find("\xE2\x8C\x9B Expired") != std::string::npos);
  // The decision line survives arguments that fill the message.
  v.arguments = std::string(10000, 'x');
  const std::string full = decided_message(1, 2, v, "approved", "Ann")["text"];
  CHECK(utf16_units(full) <= 4096);
  CHECK(full.find("Approved by Ann") != std::string::npos);
}

TEST_CASE("answer_callback", "[telegram]") {
  json a = answer_callback("4382bfdwdsb323b2d9", "Approved");
  CHECK(a == json{{"callback_query_id", "4382bfdwdsb323b2d9"}, {"text", "Approved"}});
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "\xC3\xA9";
  const std::string cut = answer_callback("q", long_text)["text"];
  CHECK(code_points(cut) == 200);
  CHECK(valid_utf8(cut));
  CHECK(answer_callback("q", std::string(200, 'x'))["text"].get<std::string>().size() == 200);
}

TEST_CASE("parse_update: a callback query", "[telegram]") {
  auto r = parse_update(R"({"update_id":1000,"callback_query":{"id":"4382bfdwdsb323b2d9",
      "from":{"id":42,"is_bot":false,"first_name":"Ann","last_name":"Lee"},
      "message":{"message_id":7,"chat":{"id":-1001234567890,"type":"supergroup"},"date":1700000000,"text":"x"},
      "chat_instance":"-123","data":"a:apr_1.tag"}})");
  REQUIRE(r);
  REQUIRE(*r);
  const auto& q = **r;
  CHECK(q.update_id == 1000);
  CHECK(q.id == "4382bfdwdsb323b2d9");
  CHECK(q.data == "a:apr_1.tag");
  CHECK(q.from_id == 42);
  CHECK(q.from_name == "Ann Lee");
  REQUIRE(q.chat_id);
  CHECK(*q.chat_id == -1001234567890);
  CHECK(q.message_id == std::optional<std::int64_t>{7});

  auto user = parse_update(
      R"({"update_id":1,"callback_query":{"id":"q","from":{"id":5,"first_name":"Bob","username":"bobby"},"chat_instance":"1"}})");
  REQUIRE(user);
  REQUIRE(*user);
  CHECK((*user)->from_name == "@bobby");
  CHECK((*user)->data.empty());
  CHECK_FALSE((*user)->chat_id);
  CHECK_FALSE((*user)->message_id);
}

TEST_CASE("parse_update: other updates are ignored, garbage refused", "[telegram]") {
  auto msg = parse_update(R"({"update_id":5,"message":{"message_id":1,"chat":{"id":1,"type":"private"},"date":1}})");
  REQUIRE(msg);
  CHECK_FALSE(*msg);
  auto bare = parse_update(R"({"update_id":6})");
  REQUIRE(bare);
  CHECK_FALSE(*bare);
  for (const char* body : {"", "not json", "[1]", "{}", R"({"update_id":"5"})", R"({"update_id":1.5})",
                           R"({"update_id":1,"callback_query":"x"})",
                           R"({"update_id":1,"callback_query":{"data":"a"}})",
                           R"({"update_id":1,"callback_query":{"id":7}})"}) {
    INFO(body);
    auto r = parse_update(body);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_request);
  }
}

TEST_CASE("parse_reply", "[telegram]") {
  auto ok = parse_reply(200, R"({"ok":true,"result":{"message_id":7}})");
  REQUIRE(ok);
  CHECK(*ok == json{{"message_id", 7}});
  auto t = parse_reply(200, R"({"ok":true,"result":true})");
  REQUIRE(t);
  CHECK(*t == true);

  auto err = parse_reply(400, R"({"ok":false,"error_code":400,"description":"Bad Request: chat not found"})");
  REQUIRE_FALSE(err);
  CHECK(err.error().code == errc::upstream_error);
  CHECK(err.error().message.find("chat not found") != std::string::npos);
  CHECK(err.error().message.find("400") != std::string::npos);

  auto limited = parse_reply(429, R"({"ok":false,"error_code":429,"description":"Too Many Requests: retry after 5",
                                      "parameters":{"retry_after":5}})");
  REQUIRE_FALSE(limited);
  CHECK(limited.error().retry_after == std::optional<std::string>{"5"});

  // Whatever Telegram says, the token never shows.
  auto leak = parse_reply(
      401, R"({"ok":false,"error_code":401,"description":"Unauthorized: https://api.telegram.org/bot)" + token +
               R"(/sendMessage"})");
  REQUIRE_FALSE(leak);
  CHECK(leak.error().message.find(token) == std::string::npos);
  CHECK(leak.error().message.find(token.substr(10)) == std::string::npos);
  CHECK(leak.error().message.find("Unauthorized") != std::string::npos);

  for (auto [status, body] : {std::pair<int, const char*>{502, "<html>Bad Gateway</html>"},
                              {200, ""},
                              {200, "[]"},
                              {200, R"({"result":1})"},
                              {200, R"({"ok":"true","result":1})"}}) {
    INFO(body);
    auto r = parse_reply(status, body);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::upstream_error);
    CHECK(r.error().message.find("api.telegram.org") == std::string::npos);
  }
}
