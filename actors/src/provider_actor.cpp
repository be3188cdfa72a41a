// The provider actor: one per upstream endpoint. It owns the endpoint's
// pool of keep-alive connections and starts each exchange on the io
// threads; the exchange's events go straight to the call actor as
// messages, so neither this actor nor the call actor ever waits on I/O.

#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/adapters/mock_upstream.hpp"

namespace oag::actors {
namespace {

struct provider_state {
  std::shared_ptr<const gateway_context> ctx;
  adapters::provider_endpoint endpoint;
  std::vector<std::shared_ptr<adapters::upstream_connection>> idle;
  std::unordered_map<std::string, std::shared_ptr<adapters::upstream_connection>> active;
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
      std::shared_ptr<adapters::upstream_connection> conn;
      // Reuse the most recently idle connection (warmest, least likely to
      // have been closed by the server's idle timeout).
      while (!st.idle.empty() && !conn) {
        auto candidate = std::move(st.idle.back());
        st.idle.pop_back();
        if (candidate->origin().origin() == msg.request.origin.origin()) conn = std::move(candidate);
      }
      if (!conn) conn = adapters::upstream_connection::create(*st.ctx->io, msg.request.origin, st.ctx->tls);
      st.active[msg.call_id] = conn;
      caf::actor me = caf::actor_cast<caf::actor>(self);
      caf::actor call = msg.reply_to;
      std::string call_id = msg.call_id;
      adapters::upstream_observer obs;
      obs.on_head = [call](int status, adapters::header_list headers) {
        caf::anon_send(call, upstream_head{status, std::move(headers)});
      };
      obs.on_body = [call](std::string bytes) { caf::anon_send(call, upstream_body{std::move(bytes)}); };
      obs.on_done = [call, me, call_id](std::optional<failure> error) {
        caf::anon_send(call, upstream_done{std::move(error)});
        caf::anon_send(me, exchange_finished{call_id});
      };
      conn->start(std::move(msg.request), msg.timeouts, std::move(obs),
                  [me](std::shared_ptr<adapters::upstream_connection> c) {
                    caf::anon_send(me, connection_idle{std::move(c)});
                  });
    },
    [=](const upstream_cancel& msg) {
      auto it = self->state.active.find(msg.call_id);
      if (it != self->state.active.end()) it->second->cancel();
    },
    [=](const exchange_finished& msg) { self->state.active.erase(msg.call_id); },
    [=](connection_idle& msg) {
      auto& st = self->state;
      if (st.idle.size() < st.ctx->settings.max_idle_connections)
        st.idle.push_back(std::move(msg.connection));
    },
  };
}

// The built-in mock: answers in-process with OpenAI wire bytes, delivered
// through the same head/body/done messages a real upstream produces, with
// streams cut into small pieces so the call path is exercised as for HTTP.
caf::behavior mock_provider(caf::event_based_actor*) {
  return {
    [=](upstream_send& msg) {
      auto answer = adapters::mock_answer(msg.request);
      auto& call = msg.reply_to;
      caf::anon_send(call, upstream_head{answer.status, answer.headers});
      if (msg.request.stream && answer.status / 100 == 2) {
        // Split at event boundaries, as a real upstream flushes per event.
        std::size_t pos = 0;
        while (pos < answer.body.size()) {
          auto end = answer.body.find("\n\n", pos);
          end = end == std::string::npos ? answer.body.size() : end + 2;
          caf::anon_send(call, upstream_body{answer.body.substr(pos, end - pos)});
          pos = end;
        }
      } else if (!answer.body.empty()) {
        caf::anon_send(call, upstream_body{std::move(answer.body)});
      }
      caf::anon_send(call, upstream_done{});
    },
    [=](const upstream_cancel&) {},
  };
}

} // namespace

caf::actor spawn_provider(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx,
                          adapters::provider_endpoint endpoint) {
  if (endpoint.kind == "mock") return sys.spawn(mock_provider);
  return sys.spawn(http_provider, std::move(ctx), std::move(endpoint));
}

} // namespace oag::actors
