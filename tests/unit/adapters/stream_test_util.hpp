#pragma once
/// Helpers for the provider stream tests: decoding a body whole and split
/// at every byte offset, and comparing the resulting events.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "oag/adapters/adapter.hpp"

namespace oag::test {

using decoder_factory = std::function<std::unique_ptr<adapters::stream_decoder>()>;

/// Feeds `body` in the given pieces, then finishes.
inline std::vector<adapters::stream_event> decode_pieces(const decoder_factory& make,
                                                         const std::vector<std::string>& pieces) {
  auto d = make();
  std::vector<adapters::stream_event> out;
  for (const auto& p : pieces) d->feed(p, out);
  d->finish(out);
  return out;
}

/// Decodes the body in one piece.
inline std::vector<adapters::stream_event> decode_whole(const decoder_factory& make,
                                                        const std::string& body) {
  return decode_pieces(make, {body});
}

/// A comparable rendering of events: kind, chunk JSON (without `created`,
/// a clock reading, and `id`, which may be generated per decoder; tests
/// check its stability separately) and error message.
inline std::string render(const std::vector<adapters::stream_event>& events) {
  std::string out;
  for (const auto& e : events) {
    switch (e.what) {
      case adapters::stream_event::type::chunk: {
        nlohmann::json c = e.data;
        if (c.is_object()) {
          c.erase("created");
          c.erase("id");
        }
        out += "chunk " + c.dump() + "\n";
        break;
      }
      case adapters::stream_event::type::done: out += "done\n"; break;
      case adapters::stream_event::type::error: out += "error " + e.error.message + "\n"; break;
    }
  }
  return out;
}

/// True when splitting the body into two pieces at every offset, and into
/// single bytes, gives the same events as feeding it whole.
inline bool split_invariant(const decoder_factory& make, const std::string& body,
                            std::string* first_difference = nullptr) {
  const std::string whole = render(decode_whole(make, body));
  for (std::size_t i = 0; i <= body.size(); ++i) {
    const std::string got = render(decode_pieces(make, {body.substr(0, i), body.substr(i)}));
    if (got != whole) {
      if (first_difference) *first_difference = "split at " + std::to_string(i) + ":\n" + got;
      return false;
    }
  }
  std::vector<std::string> bytes;
  for (char c : body) bytes.emplace_back(1, c);
  if (render(decode_pieces(make, bytes)) != whole) {
    if (first_difference) *first_difference = "byte by byte";
    return false;
  }
  return true;
}

/// The chunk payloads of a list of events (other events are skipped).
inline std::vector<nlohmann::json> chunks_of(const std::vector<adapters::stream_event>& events) {
  std::vector<nlohmann::json> out;
  for (const auto& e : events)
    if (e.what == adapters::stream_event::type::chunk) out.push_back(e.data);
  return out;
}

} // namespace oag::test
