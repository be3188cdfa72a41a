/// Fake OpenAI upstream for the benchmark: a small single-threaded Beast
/// HTTP/1.1 server (keep-alive, TCP_NODELAY) fast enough that it never caps
/// the gateways' rates.
///
///   POST .../chat/completions            -> a fixed chat.completion JSON with usage
///   POST .../chat/completions, "stream":true
///                                         -> a short SSE stream (role chunk, three
///                                            content chunks, finish chunk, usage chunk
///                                            when stream_options.include_usage, then
///                                            data: [DONE]), sent chunked
///   POST .../embeddings                   -> a fixed 8-dimension embedding with usage
///   POST .../v1/messages                  -> Anthropic Messages API: a fixed Message
///                                            with usage; with "stream":true the Anthropic
///                                            SSE events (message_start, ping, one text
///                                            block in three deltas, message_delta,
///                                            message_stop), sent chunked
///   anything else                         -> 404 in OpenAI's error shape
///
/// Usage: oag_bench_upstream [PORT]   (0 or absent: an ephemeral port)
/// Prints "listening on 127.0.0.1:PORT" once ready. Binds 127.0.0.1 only.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

namespace {

const std::string k_completion =
    R"({"id":"chatcmpl-bench0001","object":"chat.completion","created":1700000000,)"
    R"("model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[{"index":0,)"
    R"("message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null},)"
    R"("logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":9,)"
    R"("total_tokens":21,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},)"
    R"("completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,)"
    R"("accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}})";

std::string chunk(std::string_view choices, bool usage_null) {
  std::string s =
      R"(data: {"id":"chatcmpl-bench0002","object":"chat.completion.chunk","created":1700000000,)"
      R"("model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[)";
  s += choices;
  s += "]";
  if (usage_null) s += R"(,"usage":null)";
  s += "}\n\n";
  return s;
}

std::string make_sse(bool include_usage) {
  std::string s;
  s += chunk(R"({"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null})", include_usage);
  for (const char* part : {"Hello! ", "How can I ", "help you today?"}) {
    s += chunk(std::string(R"({"index":0,"delta":{"content":")") + part +
                   R"("},"logprobs":null,"finish_reason":null})",
               include_usage);
  }
  s += chunk(R"({"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"})", include_usage);
  if (include_usage) {
    s += R"(data: {"id":"chatcmpl-bench0002","object":"chat.completion.chunk","created":1700000000,)"
         R"("model":"gpt-4o-mini","system_fingerprint":"fp_bench","choices":[],)"
         R"("usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,)"
         R"("prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0}}})"
         "\n\n";
  }
  s += "data: [DONE]\n\n";
  return s;
}

const std::string k_sse = make_sse(false);
const std::string k_sse_usage = make_sse(true);

const std::string k_embedding =
    R"({"object":"list","model":"text-embedding-3-small","data":[{"object":"embedding","index":0,)"
    R"("embedding":[0.0023,-0.0093,0.0157,-0.0045,0.0211,0.0008,-0.0176,0.0032]}],)"
    R"("usage":{"prompt_tokens":8,"total_tokens":8}})";

// Anthropic Messages API (WIRE.md §5): the same answer as the OpenAI one.
const std::string k_message =
    R"({"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-bench",)"
    R"("content":[{"type":"text","text":"Hello! How can I help you today?"}],)"
    R"("stop_reason":"end_turn","stop_sequence":null,)"
    R"("usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":9}})";

std::string anthropic_event(std::string_view name, std::string_view data) {
  std::string s = "event: ";
  s += name;
  s += "\ndata: ";
  s += data;
  s += "\n\n";
  return s;
}

std::string make_anthropic_sse() {
  std::string s;
  s += anthropic_event("message_start",
                       R"({"type":"message_start","message":{"id":"msg_bench0002","type":"message","role":"assistant",)"
                       R"("model":"claude-bench","content":[],"stop_reason":null,"stop_sequence":null,)"
                       R"("usage":{"input_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}})");
  s += anthropic_event("content_block_start",
                       R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  s += anthropic_event("ping", R"({"type": "ping"})");
  for (const char* part : {"Hello! ", "How can I ", "help you today?"}) {
    s += anthropic_event("content_block_delta",
                         std::string(R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":")") +
                             part + R"("}})");
  }
  s += anthropic_event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  s += anthropic_event("message_delta",
                       R"({"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}})");
  s += anthropic_event("message_stop", R"({"type":"message_stop"})");
  return s;
}

const std::string k_anthropic_sse = make_anthropic_sse();

const std::string k_not_found =
    R"({"error":{"message":"Unknown request URL","type":"invalid_request_error","param":null,"code":"unknown_url"}})";

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Tolerant check for `"key":true` (with optional whitespace) in a JSON body.
bool json_flag(std::string_view body, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  std::size_t pos = 0;
  while ((pos = body.find(quoted, pos)) != std::string_view::npos) {
    std::size_t i = pos + quoted.size();
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) ++i;
    if (i < body.size() && body[i] == ':') {
      ++i;
      while (i < body.size() && (body[i] == ' ' || body[i] == '\t' || body[i] == '\n' || body[i] == '\r')) ++i;
      if (body.compare(i, 4, "true") == 0) return true;
    }
    pos += quoted.size();
  }
  return false;
}

class connection : public std::enable_shared_from_this<connection> {
 public:
  explicit connection(tcp::socket socket) : stream_(std::move(socket)) {}

  void start() { read(); }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return close();
    res_ = {};
    res_.version(req_.version());
    res_.keep_alive(req_.keep_alive());
    res_.set(http::field::server, "oag-bench-upstream");
    res_.set("x-request-id", "req_bench");
    const std::string_view target{req_.target().data(), req_.target().size()};
    const std::string_view path = target.substr(0, target.find('?'));
    const bool post = req_.method() == http::verb::post;
    if (post && ends_with(path, "/chat/completions")) {
      const std::string& body = req_.body();
      if (json_flag(body, "stream")) {
        res_.result(http::status::ok);
        res_.set(http::field::content_type, "text/event-stream; charset=utf-8");
        res_.set(http::field::cache_control, "no-cache");
        res_.body() = json_flag(body, "include_usage") ? k_sse_usage : k_sse;
        res_.chunked(true);
      } else {
        res_.result(http::status::ok);
        res_.set(http::field::content_type, "application/json");
        res_.body() = k_completion;
        res_.prepare_payload();
      }
    } else if (post && ends_with(path, "/v1/messages")) {
      res_.result(http::status::ok);
      res_.set("request-id", "req_bench");
      if (json_flag(req_.body(), "stream")) {
        res_.set(http::field::content_type, "text/event-stream; charset=utf-8");
        res_.set(http::field::cache_control, "no-cache");
        res_.body() = k_anthropic_sse;
        res_.chunked(true);
      } else {
        res_.set(http::field::content_type, "application/json");
        res_.body() = k_message;
        res_.prepare_payload();
      }
    } else if (post && ends_with(path, "/embeddings")) {
      res_.result(http::status::ok);
      res_.set(http::field::content_type, "application/json");
      res_.body() = k_embedding;
      res_.prepare_payload();
    } else {
      res_.result(http::status::not_found);
      res_.set(http::field::content_type, "application/json");
      res_.body() = k_not_found;
      res_.prepare_payload();
    }
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code e, std::size_t) {
      if (e) return self->close();
      if (!self->res_.keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
};

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& ioc, tcp::endpoint ep) : ioc_(ioc), acceptor_(ioc) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }

  void accept() {
    acceptor_.async_accept(ioc_, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<connection>(std::move(s))->start();
      }
      self->accept();
    });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
};

} // namespace

int main(int argc, char** argv) {
  const auto port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
  try {
    net::io_context ioc{1};
    auto l = std::make_shared<listener>(ioc, tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    l->accept();
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) { ioc.stop(); });
    std::printf("listening on 127.0.0.1:%u\n", l->port());
    std::fflush(stdout);
    ioc.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "oag_bench_upstream: %s\n", e.what());
    return 1;
  }
  return 0;
}
