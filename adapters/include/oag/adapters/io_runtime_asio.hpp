#pragma once
/// Asio access to the io_runtime, for the few translation units that use
/// Beast (the outbound client and the edge). Include nowhere else.

#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ssl/context.hpp>

#include "oag/adapters/http_client.hpp"

namespace oag::adapters {

struct io_runtime::impl {
  explicit impl(unsigned n) : ioc(static_cast<int>(n)), threads_wanted(n) {}
  boost::asio::io_context ioc;
  unsigned threads_wanted;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work;
  std::vector<std::thread> threads;
};

struct tls_client_context::impl {
  impl() : ctx(boost::asio::ssl::context::tls_client) {}
  boost::asio::ssl::context ctx;
};

} // namespace oag::adapters
