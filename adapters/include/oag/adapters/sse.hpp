#pragma once
/// Server-sent events: an incremental parser for upstream streams (bytes may
/// arrive split anywhere, including inside a multi-byte UTF-8 character)
/// and the framing OAG writes to clients.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace oag::sse {

/// One parsed event.
struct event {
  std::optional<std::string> name; ///< the `event:` field, if any
  std::string data;                ///< `data:` lines joined with '\n'
};

/// Incremental SSE parser. Handles LF, CRLF and lone CR line ends (a CRLF
/// may be split across feeds), comment lines (":" keep-alives), multiple
/// data lines and an optional space after ':'. As in the WHATWG rules, an
/// event is dispatched only when it had at least one `data:` line, and a
/// leading UTF-8 BOM is ignored.
class parser {
 public:
  /// Feeds bytes; appends every event completed by them.
  void feed(std::string_view bytes, std::vector<event>& out);
  /// Bytes buffered that do not yet form a complete event.
  std::size_t pending_bytes() const noexcept { return buffer_.size(); }
  /// True if an event was started but not terminated by a blank line.
  bool has_partial_event() const noexcept;

 private:
  /// Applies one complete line (without its line end) to the current event.
  void process_line(std::string_view line, std::vector<event>& out);

  std::string buffer_;
  event current_;
  bool current_has_fields_ = false;
  bool current_has_data_ = false;
  /// The last line ended with '\r': a '\n' right after it belongs to it.
  bool skip_lf_ = false;
  /// No line has been processed yet (a BOM may lead the first one).
  bool at_start_ = true;
};

/// "data: <payload>\n\n". A payload with line breaks becomes several
/// `data:` lines, so the receiver reassembles it exactly.
std::string frame_data(std::string_view payload);

/// "event: <name>\ndata: <payload>\n\n" (line breaks in `name` are dropped
/// so a name can never inject fields).
std::string frame_event(std::string_view name, std::string_view payload);

/// "data: [DONE]\n\n".
inline constexpr std::string_view done_frame = "data: [DONE]\n\n";

} // namespace oag::sse
