#pragma once
/// The boundary between the HTTP edge and the actors. The edge turns each
/// request into an `inbound_request` and hands the actors a `response_sink`;
/// actors answer only through the sink, whose implementation posts every
/// call onto the connection's strand (actors never touch a socket).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "oag/adapters/http_types.hpp"

namespace oag::actors {

/// A parsed HTTP request. Header names are lower-case.
struct inbound_request {
  std::string method;      ///< "GET", "POST", ...
  std::string target;      ///< as sent, path plus query
  std::string path;        ///< without the query
  std::string query;       ///< after '?', undecoded; empty when none
  adapters::header_list headers;
  std::string body;
  std::string request_id;  ///< from x-request-id or generated
  std::chrono::steady_clock::time_point received{};
};

/// What a finished model call was charged (reported to internal callers,
/// such as runs, that account for their own model calls).
struct charge_report {
  std::string model;          ///< "provider/model" that served the call
  std::string response_id;    ///< the chatcmpl-… id, also in the ledger entry
  std::int64_t input_tokens = 0;
  std::int64_t cached_input_tokens = 0;
  std::int64_t output_tokens = 0;
  std::int64_t cost_uot = 0;  ///< µO₮ charged
};

/// Where an actor writes its answer. Thread-safe; every method may be
/// called from any thread and returns at once (writes are queued).
class response_sink {
 public:
  virtual ~response_sink() = default;

  /// Sends a complete response. Ignored once a response was started.
  virtual void respond(int status, std::string body, adapters::header_list extra = {},
                       std::string content_type = "application/json") = 0;

  /// Starts a streamed response (chunked transfer encoding).
  virtual void start_stream(int status, adapters::header_list extra = {},
                            std::string content_type = "text/event-stream") = 0;

  /// Queues bytes of a started stream. Returns false when the client is gone
  /// or did not read fast enough (the bounded queue overflowed and the
  /// connection was closed): the caller should stop producing.
  virtual bool write(std::string bytes) = 0;

  /// Ends a started stream.
  virtual void end_stream() = 0;

  /// Registers the one function called (on an io thread) if the client
  /// disconnects before the response is complete. If it already has, the
  /// function is called at once.
  virtual void on_disconnect(std::function<void()> fn) = 0;

  /// True once the client is known to be gone.
  virtual bool disconnected() const noexcept = 0;

  /// Called once after the call's charge is durable, before the final bytes
  /// are written. The HTTP edge ignores it; internal callers use it.
  virtual void charged(const charge_report&) {}
};

} // namespace oag::actors
