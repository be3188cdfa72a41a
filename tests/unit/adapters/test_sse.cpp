#include <catch2/catch.hpp>

#include "oag/adapters/sse.hpp"

namespace {

std::vector<oag::sse::event> parse_all(std::string_view bytes) {
  oag::sse::parser p;
  std::vector<oag::sse::event> out;
  p.feed(bytes, out);
  return out;
}

bool same(const std::vector<oag::sse::event>& a, const std::vector<oag::sse::event>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].name != b[i].name || a[i].data != b[i].data) return false;
  return true;
}

} // namespace

TEST_CASE("SSE parser: events split at every byte offset are identical", "[sse]") {
  // Mixed line ends, a comment, a named event, multi-line data and CJK text
  // (multi-byte UTF-8) so the split points land inside characters and
  // between \r and \n.
  const std::string stream =
      ": keep-alive\r\n"
      "data: {\"content\":\"你好世界\"}\r\n"
      "\r\n"
      "event: message_start\n"
      "data: first line\n"
      "data:second line\n"
      "data:  two spaces\n"
      "\n"
      "id: 7\r\n"
      "data: [DONE]\r\n\r\n";
  const auto whole = parse_all(stream);
  REQUIRE(whole.size() == 3);
  CHECK_FALSE(whole[0].name);
  CHECK(whole[0].data == "{\"content\":\"你好世界\"}");
  CHECK(whole[1].name == std::optional<std::string>("message_start"));
  CHECK(whole[1].data == "first line\nsecond line\n two spaces");
  CHECK(whole[2].data == "[DONE]");

  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    oag::sse::parser p;
    std::vector<oag::sse::event> out;
    p.feed(std::string_view(stream).substr(0, cut), out);
    p.feed(std::string_view(stream).substr(cut), out);
    INFO("split at " << cut);
    REQUIRE(same(out, whole));
    CHECK_FALSE(p.has_partial_event());
  }

  // One byte at a time, too.
  oag::sse::parser p;
  std::vector<oag::sse::event> out;
  for (char c : stream) p.feed(std::string_view(&c, 1), out);
  CHECK(same(out, whole));
}

TEST_CASE("SSE parser: comments, empty events and partial state", "[sse]") {
  oag::sse::parser p;
  std::vector<oag::sse::event> out;
  p.feed(": OPENROUTER PROCESSING\n\n: ping\n\n", out);
  CHECK(out.empty());
  CHECK_FALSE(p.has_partial_event());

  p.feed("data: hel", out);
  CHECK(out.empty());
  CHECK(p.has_partial_event());
  CHECK(p.pending_bytes() == 9);
  p.feed("lo\n", out);
  CHECK(out.empty());
  CHECK(p.has_partial_event());
  p.feed("\n", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].data == "hello");
  CHECK_FALSE(p.has_partial_event());

  // A named event without data is not dispatched (WHATWG rule).
  out.clear();
  p.feed("event: ping\n\n", out);
  CHECK(out.empty());
  // data with no colon: field name only, empty value.
  p.feed("data\n\n", out);
  REQUIRE(out.size() == 1);
  CHECK(out[0].data.empty());
}

TEST_CASE("SSE parser: lone CR line ends and a leading BOM", "[sse]") {
  auto events = parse_all("\xEF\xBB\xBF" "data: a\r\rdata: b\r\r");
  REQUIRE(events.size() == 2);
  CHECK(events[0].data == "a");
  CHECK(events[1].data == "b");
}

TEST_CASE("SSE framing round-trips through the parser", "[sse]") {
  CHECK(oag::sse::frame_data("{\"a\":1}") == "data: {\"a\":1}\n\n");
  CHECK(oag::sse::frame_event("done", "[DONE]") == "event: done\ndata: [DONE]\n\n");
  CHECK(oag::sse::done_frame == "data: [DONE]\n\n");
  CHECK(oag::sse::frame_data("a\nb\r\nc") == "data: a\ndata: b\ndata: c\n\n");
  CHECK(oag::sse::frame_event("x\r\ndata: injected", "p") == "event: xdata: injected\ndata: p\n\n");

  auto events = parse_all(oag::sse::frame_data("line1\nline2") + oag::sse::frame_event("e", "x"));
  REQUIRE(events.size() == 2);
  CHECK(events[0].data == "line1\nline2");
  CHECK(events[1].name == std::optional<std::string>("e"));
}
