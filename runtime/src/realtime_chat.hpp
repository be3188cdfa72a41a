#pragma once
/// The WebSocket chat (GET /v1/realtime/chat) and its tokens
/// (POST /v1/realtime/tokens); the protocol is in docs/REALTIME.md.
///
/// A session is a ws_handler: everything it does runs on its connection's
/// strand. It turns each client message into an internal API call sent to
/// the directory exactly as an HTTP request would be (client_request with
/// the key's hash), with a sink whose every call is posted onto that strand,
/// and translates what comes back (a run's SSE stream) into protocol events.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <caf/actor.hpp>

#include "http_server.hpp"
#include "oag/actors/sink.hpp"

namespace oag::runtime::realtime {

struct service_options {
  std::int64_t token_ttl_s = 60;
  std::size_t max_message_bytes = 1024 * 1024; ///< reported in session.created
};

/// The answer to GET /v1/realtime/chat without an upgrade: 426.
failure upgrade_required();

class service : public std::enable_shared_from_this<service> {
 public:
  /// `signing_key` from derive_token_key; `now` is the gateway's clock
  /// (unix seconds, the test clock when it is on).
  service(caf::actor directory, std::string signing_key, std::function<std::int64_t()> now,
          service_options opts);

  /// POST /v1/realtime/tokens: the sink to give the directory's key check
  /// (route realtime_token_create); its 200 becomes the minted token.
  std::shared_ptr<actors::response_sink> token_sink(std::string key_hash,
                                                    std::shared_ptr<actors::response_sink> inner);

  /// A WebSocket upgrade: 404 unless on /v1/realtime/chat; authenticates
  /// (bearer key or ?token=), asks the directory about the key and accepts
  /// or rejects (401).
  void upgrade(actors::inbound_request req, std::shared_ptr<ws_upgrade> up);

  const caf::actor& directory() const noexcept { return directory_; }
  const service_options& options() const noexcept { return opts_; }
  std::int64_t now() const { return now_(); }

 private:
  /// Marks a token's nonce used; false when it was already.
  bool consume_nonce(const std::string& nonce, std::int64_t expires_at);

  caf::actor directory_;
  std::string key_;
  std::function<std::int64_t()> now_;
  service_options opts_;
  std::mutex mu_; ///< guards used_
  std::unordered_map<std::string, std::int64_t> used_; ///< nonce -> expiry
};

} // namespace oag::runtime::realtime
