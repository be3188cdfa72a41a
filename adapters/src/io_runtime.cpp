/// The io threads and the shared TLS client context. Asio lives here and in
/// the other Beast translation units only.

#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include <openssl/ssl.h>

#include "oag/adapters/io_runtime_asio.hpp"

namespace oag::adapters {

namespace {

// start()/stop() are rare (process start and shutdown) and may race with
// each other from different owners (signal handler thread vs. main), so one
// process-wide lock is enough and keeps the impl layout in the header fixed.
std::mutex& lifecycle_mutex() {
  static std::mutex m;
  return m;
}

void run_io_thread(boost::asio::io_context& ioc) {
  // A handler that throws must not take the process down or silently end
  // an io thread: log it and keep serving. run() returns normally only
  // when the context is stopped or runs out of work (work guard reset).
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "oag: exception escaped an io handler: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "oag: unknown exception escaped an io handler\n");
    }
  }
}

} // namespace

io_runtime::io_runtime(unsigned threads)
    : impl_(std::make_unique<impl>(threads == 0 ? 1u : threads)) {}

io_runtime::~io_runtime() { stop(); }

void io_runtime::start() {
  std::lock_guard<std::mutex> lock(lifecycle_mutex());
  if (!impl_->threads.empty()) return;
  if (impl_->ioc.stopped()) impl_->ioc.restart();
  // The guard keeps run() from returning while no operation is pending
  // (e.g. before the first connection is accepted).
  impl_->work.emplace(boost::asio::make_work_guard(impl_->ioc));
  impl_->threads.reserve(impl_->threads_wanted);
  for (unsigned i = 0; i < impl_->threads_wanted; ++i) {
    impl_->threads.emplace_back([this] { run_io_thread(impl_->ioc); });
  }
}

void io_runtime::stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mutex());
  impl_->work.reset();
  impl_->ioc.stop();
  const auto self = std::this_thread::get_id();
  for (auto& t : impl_->threads) {
    if (!t.joinable()) continue;
    // stop() called from an io handler must not join its own thread.
    if (t.get_id() == self) {
      t.detach();
    } else {
      t.join();
    }
  }
  impl_->threads.clear();
}

tls_client_context::tls_client_context() : impl_(std::make_unique<impl>()) {}

tls_client_context::~tls_client_context() = default;

result<std::shared_ptr<tls_client_context>> tls_client_context::create(
    std::optional<std::string> extra_ca_file) {
  namespace ssl = boost::asio::ssl;
  std::shared_ptr<tls_client_context> out(new tls_client_context());
  auto& ctx = out->impl_->ctx;
  boost::system::error_code ec;

  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                      ssl::context::no_tlsv1_1 | ssl::context::no_compression,
                  ec);
  if (ec) {
    return make_failure(errc::internal, "could not configure TLS options: " + ec.message());
  }
  // The option bits above are deprecated in OpenSSL 3; the minimum version
  // is the authoritative setting.
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1) {
    return make_failure(errc::internal, "could not require TLS 1.2 or newer");
  }

  ctx.set_default_verify_paths(ec);
  if (ec) {
    return make_failure(errc::internal,
                        "could not load the system CA certificates: " + ec.message());
  }
  if (extra_ca_file && !extra_ca_file->empty()) {
    ctx.load_verify_file(*extra_ca_file, ec);
    if (ec) {
      return make_failure(errc::internal, "could not load CA file " + *extra_ca_file + ": " +
                                              ec.message());
    }
  }
  ctx.set_verify_mode(ssl::verify_peer, ec);
  if (ec) {
    return make_failure(errc::internal, "could not enable peer verification: " + ec.message());
  }
  return out;
}

} // namespace oag::adapters
