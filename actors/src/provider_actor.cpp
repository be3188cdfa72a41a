// The provider actor: one per upstream endpoint. It owns the endpoint's
// pool of keep-alive connections and its circuit breaker, and starts each
// exchange on the io threads; the exchange's events go straight to the call
// actor as messages, so neither this actor nor the call actor waits on I/O.

#include <algorithm>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "oag/actors/gateway.hpp"
#include "oag/adapters/mock_upstream.hpp"

namespace oag::actors {
namespace {

using steady = std::chrono::steady_clock;

/// Closed → (threshold consecutive failures) → open for `cooldown` →
/// half-open: one probe goes through; its success closes the breaker, its
/// failure opens it again for twice as long (bounded).
struct circuit_breaker {
  static constexpr int threshold = 5;
  static constexpr std::chrono::seconds base_cooldown{5};
  static constexpr std::chrono::seconds max_cooldown{60};
  int consecutive_failures = 0;
  std::optional<steady::time_point> open_until;
  std::chrono::seconds cooldown = base_cooldown;
  bool probe_in_flight = false;

  /// Whether an exchange may start now; marks the probe when half-open.
  bool admit(steady::time_point now) {
    if (!open_until) return true;
    if (now < *open_until || probe_in_flight) return false;
    probe_in_flight = true;
    return true;
  }
  void record(bool healthy, steady::time_point now) {
    if (healthy) {
      consecutive_failures = 0;
      open_until.reset();
      cooldown = base_cooldown;
      probe_in_flight = false;
      return;
    }
    ++consecutive_failures;
    if (probe_in_flight) {
      probe_in_flight = false;
      cooldown = std::min(cooldown * 2, max_cooldown);
      open_until = now + cooldown;
    } else if (!open_until && consecutive_failures >= threshold) {
      open_until = now + cooldown;
    }
  }
};

std::string exchange_key(const std::string& call_id, std::uint32_t attempt) {
  return call_id + "#" + std::to_string(attempt);
}

struct provider_state {
  std::shared_ptr<const gateway_context> ctx;
  adapters::provider_endpoint endpoint;
  std::vector<std::shared_ptr<adapters::upstream_connection>> idle;
  std::unordered_map<std::string, std::shared_ptr<adapters::upstream_connection>> active;
  std::unordered_set<std::string> cancelled;
  circuit_breaker breaker;
  static inline const char* name = "oag.provider";
};

caf::behavior http_provider(caf::stateful_actor<provider_state>* self,
                            std::shared_ptr<const gateway_context> ctx,
                            adapters::provider_endpoint endpoint) {
  self->state.ctx = std::move(ctx);
  self->state.endpoint = std::move(endpoint);
  return {
    [=](upstream_send& msg) {
      auto& st = self->state;
      if (!st.breaker.admit(steady::now())) {
        failure f = make_failure(errc::unavailable, "provider '" + st.endpoint.name +
                                                        "' is failing repeatedly; its circuit breaker is open");
        f.error_code = "circuit_open";
        caf::anon_send(msg.reply_to, upstream_done{msg.attempt, std::move(f)});
        return;
      }
      std::shared_ptr<adapters::upstream_connection> conn;
      // Reuse the most recently idle connection (warmest, least likely to
      // have been closed by the server's idle timeout).
      while (!st.idle.empty() && !conn) {
        auto candidate = std::move(st.idle.back());
        st.idle.pop_back();
        if (candidate->origin().origin() == msg.request.origin.origin()) conn = std::move(candidate);
      }
      if (!conn) conn = adapters::upstream_connection::create(*st.ctx->io, msg.request.origin, st.ctx->tls);
      auto key = exchange_key(msg.call_id, msg.attempt);
      st.active[key] = conn;
      caf::actor me = caf::actor_cast<caf::actor>(self);
      caf::actor call = msg.reply_to;
      auto attempt = msg.attempt;
      std::string call_id = msg.call_id;
      // The head's status decides whether the exchange counts as healthy;
      // the observer's callbacks run in order on one strand.
      auto status = std::make_shared<int>(0);
      adapters::upstream_observer obs;
      obs.on_head = [call, attempt, status](int code, adapters::header_list headers) {
        *status = code;
        caf::anon_send(call, upstream_head{attempt, code, std::move(headers)});
      };
      obs.on_body = [call, attempt](std::string bytes) {
        caf::anon_send(call, upstream_body{attempt, std::move(bytes)});
      };
      obs.on_done = [call, me, call_id, attempt, status](std::optional<failure> error) {
        bool healthy = !error && *status < 500 && *status != 429;
        caf::anon_send(call, upstream_done{attempt, std::move(error)});
        caf::anon_send(me, exchange_finished{call_id, attempt, healthy});
      };
      conn->start(std::move(msg.request), msg.timeouts, std::move(obs),
                  [me](std::shared_ptr<adapters::upstream_connection> c) {
                    caf::anon_send(me, connection_idle{std::move(c)});
                  });
    },
    [=](const upstream_cancel& msg) {
      auto key = exchange_key(msg.call_id, msg.attempt);
      auto it = self->state.active.find(key);
      if (it == self->state.active.end()) return;
      // A cancelled exchange says nothing about the upstream's health.
      self->state.cancelled.insert(key);
      it->second->cancel();
    },
    [=](const cancel_exchanges&) {
      auto& st = self->state;
      for (auto& [key, conn] : st.active) {
        st.cancelled.insert(key);
        conn->cancel();
      }
    },
    [=](const exchange_finished& msg) {
      auto& st = self->state;
      auto key = exchange_key(msg.call_id, msg.attempt);
      st.active.erase(key);
      if (st.cancelled.erase(key) > 0) {
        st.breaker.probe_in_flight = false; // a cancelled probe lets the next one through
        return;
      }
      bool was_open = st.breaker.open_until.has_value();
      st.breaker.record(msg.healthy, steady::now());
      if (!was_open && st.breaker.open_until)
        spdlog::warn("provider '{}': circuit breaker opened after {} consecutive failures", st.endpoint.name,
                     st.breaker.consecutive_failures);
      else if (was_open && !st.breaker.open_until)
        spdlog::info("provider '{}': circuit breaker closed, the probe succeeded", st.endpoint.name);
    },
    [=](connection_idle& msg) {
      auto& st = self->state;
      if (st.idle.size() < st.ctx->settings.max_idle_connections)
        st.idle.push_back(std::move(msg.connection));
    },
  };
}

// The built-in mock: answers in-process with OpenAI wire bytes, delivered
// through the same head/body/done messages a real upstream produces, with
// streams cut into events so the call path is exercised as for HTTP.
// (It takes the endpoint's name only because CAF 0.17 dereferences a null
// argument tuple when a behavior function takes no arguments: UBSan
// reports it.)
caf::behavior mock_provider(caf::event_based_actor*, const std::string& /*name*/) {
  return {
    [=](upstream_send& msg) {
      auto answer = adapters::mock_answer(msg.request);
      auto& call = msg.reply_to;
      caf::anon_send(call, upstream_head{msg.attempt, answer.status, answer.headers});
      if (msg.request.stream && answer.status / 100 == 2) {
        std::size_t pos = 0;
        while (pos < answer.body.size()) {
          auto end = answer.body.find("\n\n", pos);
          end = end == std::string::npos ? answer.body.size() : end + 2;
          caf::anon_send(call, upstream_body{msg.attempt, answer.body.substr(pos, end - pos)});
          pos = end;
        }
      } else if (!answer.body.empty()) {
        caf::anon_send(call, upstream_body{msg.attempt, std::move(answer.body)});
      }
      caf::anon_send(call, upstream_done{msg.attempt, std::nullopt});
    },
    [=](const upstream_cancel&) {},
    [=](const cancel_exchanges&) {},
  };
}

} // namespace

caf::actor spawn_provider(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                          adapters::provider_endpoint endpoint) {
  if (endpoint.kind == "mock") return sys.spawn(mock_provider, endpoint.name);
  return sys.spawn(http_provider, std::move(ctx), std::move(endpoint));
}

} // namespace oag::actors
