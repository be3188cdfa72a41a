#pragma once
/// The edge's WebSocket sessions (internal to the edge): http_server.cpp
/// hands over the socket of an accepted upgrade; ws_session.cpp, the only
/// translation unit with Beast's WebSocket headers, runs the session.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http_server.hpp"

namespace oag::runtime::ws {

using strand_t = boost::asio::strand<boost::asio::io_context::executor_type>;
using socket_t = boost::asio::basic_stream_socket<boost::asio::ip::tcp, strand_t>;
using request_t = boost::beast::http::request<boost::beast::http::string_body>;

/// The live sessions of one server, so stop_accepting can close them.
struct registry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::weak_ptr<ws_connection>> live;
  std::uint64_t next = 0;
  std::atomic<bool> stopping{false};
};

/// Completes the handshake of `req` on `socket` (on its strand) and runs
/// the session with `handler`.
void start_session(socket_t socket, request_t req, std::shared_ptr<ws_handler> handler,
                   const websocket_options& opts, std::shared_ptr<registry> reg);

/// Closes every live session with 1001 (going away).
void close_all(registry& reg);

} // namespace oag::runtime::ws
