// `oag`: the OMRA AI Gateway daemon.

#include <signal.h>

#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app.hpp"
#include "config.hpp"

namespace {

void setup_logging(const std::string& format, const std::string& level) {
  auto logger = spdlog::stderr_logger_mt("oag");
  spdlog::set_default_logger(logger);
  if (format == "json")
    spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","line":%v})");
  else
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

} // namespace

int main(int argc, char** argv) {
  CLI::App cli{"OAG — OMRA AI Gateway"};
  cli.require_subcommand(1);
  auto* serve = cli.add_subcommand("serve", "Run the gateway daemon");
  std::string config_path = "config/oag.json";
  std::optional<std::string> data_dir;
  std::optional<std::string> listen;
  std::optional<std::string> log_format;
  serve->add_option("--config", config_path, "Config file (JSON)");
  serve->add_option("--data-dir", data_dir, "Directory for RocksDB and generated secrets");
  serve->add_option("--listen", listen, "HOST:PORT to listen on (port 0: ephemeral)");
  serve->add_option("--log-format", log_format, "text or json")->check(CLI::IsMember({"text", "json"}));
  cli.add_subcommand("version", "Print the version")->callback([] { std::cout << "oag 0.1.0\n"; });
  CLI11_PARSE(cli, argc, argv);
  if (!serve->parsed()) return 0;

  // Startup errors are reported once and end the process; past this point
  // nothing throws.
  auto config = oag::runtime::load_config_file(config_path);
  if (!config) {
    std::cerr << "oag: " << config.error().message << "\n";
    return 2;
  }
  auto& cfg = config.value();
  if (data_dir) cfg.data_dir = *data_dir;
  if (log_format) cfg.log_format = *log_format;
  if (listen) {
    auto l = oag::runtime::parse_listen(*listen);
    if (!l) {
      std::cerr << "oag: " << l.error().message << "\n";
      return 2;
    }
    cfg.listen_host = l->first;
    cfg.listen_port = l->second;
  }
  setup_logging(cfg.log_format, cfg.log_level);

  // Signals are taken synchronously by this thread; every other thread
  // inherits the blocked mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto keys = oag::runtime::load_secrets(cfg.data_dir);
  if (!keys) {
    std::cerr << "oag: " << keys.error().message << "\n";
    return 2;
  }
  bool print_admin = keys->admin_token_generated;
  std::string admin_token = keys->admin_token;
  oag::runtime::app daemon(cfg, std::move(keys.value()));
  if (auto r = daemon.start(); !r) {
    std::cerr << "oag: cannot start: " << r.error().message << "\n";
    return 1;
  }
  if (print_admin)
    std::cout << "admin token (generated, stored in " << cfg.data_dir << "/admin_token): " << admin_token << "\n";
  std::cout << "OAG listening on http://" << cfg.listen_host << ":" << daemon.port() << std::endl;

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("signal {}: draining", sig);
  daemon.drain_and_stop();
  spdlog::info("stopped cleanly");
  return 0;
}
