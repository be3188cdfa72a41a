#include "oag/adapters/sse.hpp"

namespace oag::sse {

void parser::feed(std::string_view bytes, std::vector<event>& out) {
  buffer_.append(bytes.data(), bytes.size());
  // Lines are cut only at CR/LF bytes, which never occur inside a multi-byte
  // UTF-8 sequence, so a character split across feeds is simply kept in the
  // buffer until its line is complete.
  std::size_t pos = 0;
  const std::size_t n = buffer_.size();
  while (pos < n) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (buffer_[pos] == '\n') {
        ++pos;
        continue;
      }
    }
    std::size_t end = pos;
    while (end < n && buffer_[end] != '\n' && buffer_[end] != '\r') ++end;
    if (end == n) break;  // incomplete line: keep it for the next feed
    const bool cr = buffer_[end] == '\r';
    process_line(std::string_view(buffer_).substr(pos, end - pos), out);
    pos = end + 1;
    // A CR may be the first half of CRLF whose LF has not arrived yet.
    if (cr) skip_lf_ = true;
  }
  buffer_.erase(0, pos);
}

void parser::process_line(std::string_view line, std::vector<event>& out) {
  if (at_start_) {
    at_start_ = false;
    if (line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  }
  if (line.empty()) {
    if (current_has_data_) out.push_back(std::move(current_));
    current_ = event{};
    current_has_fields_ = false;
    current_has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  std::string_view field = line;
  std::string_view value;
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  current_has_fields_ = true;
  if (field == "data") {
    if (current_has_data_) current_.data += '\n';
    current_.data.append(value.data(), value.size());
    current_has_data_ = true;
  } else if (field == "event") {
    current_.name = std::string(value);
  }
  // `id`, `retry` and unknown fields carry nothing OAG uses.
}

bool parser::has_partial_event() const noexcept {
  return current_has_fields_ || !buffer_.empty();
}

namespace {

void append_lines(std::string& out, std::string_view field, std::string_view payload) {
  std::size_t pos = 0;
  while (true) {
    std::size_t end = payload.find_first_of("\r\n", pos);
    out += field;
    out += ": ";
    out.append(payload.substr(pos, end == std::string_view::npos ? std::string_view::npos
                                                                 : end - pos));
    out += '\n';
    if (end == std::string_view::npos) break;
    pos = end + 1;
    if (payload[end] == '\r' && pos < payload.size() && payload[pos] == '\n') ++pos;
  }
}

} // namespace

std::string frame_data(std::string_view payload) {
  std::string out;
  out.reserve(payload.size() + 8);
  append_lines(out, "data", payload);
  out += '\n';
  return out;
}

std::string frame_event(std::string_view name, std::string_view payload) {
  std::string out;
  out.reserve(name.size() + payload.size() + 16);
  out += "event: ";
  for (char c : name)
    if (c != '\r' && c != '\n') out += c;
  out += '\n';
  append_lines(out, "data", payload);
  out += '\n';
  return out;
}

} // namespace oag::sse
