// The call actor drives one upstream call: it builds the upstream request
// with the provider's adapter, sends it through the provider actor, turns
// the upstream's bytes into OpenAI responses for the client, and makes the
// charge durable (settle or release at the tenant) BEFORE the client sees
// the end of the response: an acknowledged call is always a charged call.

#include "call_actor.hpp"

#include <caf/all.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/sse.hpp"
#include "oag/adapters/validate.hpp"
#include "replies.hpp"

namespace oag::actors {
namespace {

using nlohmann::json;

struct call_state {
  std::shared_ptr<const gateway_context> ctx;
  call_spec spec;
  const adapters::provider_adapter* adapter = nullptr;
  std::unique_ptr<adapters::stream_decoder> decoder;
  std::vector<adapters::stream_event> events; // reused buffer
  int upstream_status = 0;
  adapters::header_list upstream_headers;
  std::string body;                      // non-streamed or error body
  bool streaming_to_client = false;      // a stream head went out
  bool finished = false;                 // the exchange ended
  bool client_disconnected = false;
  bool stream_done = false;              // upstream sent its terminal event
  std::optional<failure> stream_error;   // upstream reported or cut
  std::optional<money::token_usage> usage;
  std::optional<json> held_usage_chunk;  // sent after the charge is durable
  std::size_t generated_bytes = 0;       // streamed text, for disconnect charges
  static inline const char* name = "oag.call";
};

using call_actor = caf::stateful_actor<call_state>;

std::string entry_status(const call_state& st) {
  if (st.client_disconnected) return "disconnected";
  if (st.stream_error) return "failed";
  return "completed";
}

/// The ledger entry for a charge with the given usage.
storage::ledger_entry make_entry(const call_state& st, const money::token_usage& usage) {
  storage::ledger_entry e;
  e.call_id = st.spec.call_id;
  e.response_id = st.spec.response_id;
  e.kind = st.spec.op == call_spec::operation::chat ? "chat.completion" : "embedding";
  e.model = st.spec.client_model;
  e.provider = st.spec.provider_name;
  e.upstream_model = st.spec.upstream_model;
  e.input_tokens = usage.input_tokens;
  e.cached_input_tokens = usage.cached_input_tokens;
  e.output_tokens = usage.output_tokens;
  e.cost_uot = money::cost_of(usage, st.spec.price);
  e.created_at = st.ctx->now();
  e.status = entry_status(st);
  return e;
}

void finish(call_actor* self) {
  self->state.finished = true;
  self->quit();
}

/// Charges `usage` (or releases when there is none), then runs `then` with
/// success or the storage failure.
template <class Then>
void charge(call_actor* self, std::optional<money::token_usage> usage, Then then) {
  auto& st = self->state;
  if (!usage) {
    self->request(st.spec.tenant, caf::infinite, release_call{st.spec.call_id})
        .then([=](const storage::wallet_record&) { then(std::optional<failure>{}); },
              [=](const caf::error& e) { then(std::optional<failure>{from_caf_error(e)}); });
    return;
  }
  self->request(st.spec.tenant, caf::infinite, settle_call{st.spec.call_id, make_entry(st, *usage)})
      .then([=](const storage::wallet_record&) { then(std::optional<failure>{}); },
            [=](const caf::error& e) { then(std::optional<failure>{from_caf_error(e)}); });
}

void report_upstream_error(call_actor* self, int status) {
  auto& st = self->state;
  if (st.ctx->observer) st.ctx->observer->upstream_error(st.spec.provider_name, status);
}

/// Fails a call that has sent nothing to the client yet.
void fail_before_response(call_actor* self, failure f, std::optional<money::token_usage> usage) {
  charge(self, usage, [self, f](std::optional<failure>) {
    detail::respond_failure(self->state.spec.sink, f);
    finish(self);
  });
}

/// A usage estimate for a stream the client abandoned: what was generated
/// so far, at about four bytes per token, plus the prompt.
money::token_usage estimated_usage(const call_state& st) {
  money::token_usage u;
  u.input_tokens = (st.spec.prompt_estimate + 1) / 2;
  u.output_tokens = static_cast<std::int64_t>((st.generated_bytes + 3) / 4);
  return u;
}

// -- streaming ------------------------------------------------------------

/// Rewrites one upstream chunk for the client; returns false to drop it.
bool rewrite_chunk(call_state& st, json& chunk) {
  if (!chunk.is_object()) return false;
  if (auto u = adapters::usage_of(chunk)) st.usage = u;
  chunk["id"] = st.spec.response_id;
  chunk["model"] = st.spec.client_model;
  auto choices = chunk.find("choices");
  bool has_choices = choices != chunk.end() && choices->is_array() && !choices->empty();
  if (has_choices) {
    for (auto& c : *choices) {
      auto delta = c.find("delta");
      if (delta == c.end() || !delta->is_object()) continue;
      if (auto t = delta->find("content"); t != delta->end() && t->is_string())
        st.generated_bytes += t->get_ref<const std::string&>().size();
      if (auto tc = delta->find("tool_calls"); tc != delta->end() && tc->is_array())
        for (auto& call : *tc)
          if (auto fn = call.find("function"); fn != call.end() && fn->is_object())
            if (auto a = fn->find("arguments"); a != fn->end() && a->is_string())
              st.generated_bytes += a->get_ref<const std::string&>().size();
    }
  }
  if (!has_choices && chunk.contains("usage") && !chunk["usage"].is_null()) {
    // The usage-only chunk goes out last, after the charge is durable.
    if (st.spec.include_usage) st.held_usage_chunk = std::move(chunk);
    return false;
  }
  if (!has_choices) return false; // e.g. Azure's prompt_filter_results-only chunk
  if (!st.spec.include_usage) chunk.erase("usage");
  return true;
}

void end_stream_after_charge(call_actor* self) {
  auto& st = self->state;
  std::optional<money::token_usage> usage = st.usage;
  if (!usage && st.client_disconnected) usage = estimated_usage(st);
  if (!usage && st.stream_done) usage = estimated_usage(st); // upstream gave no usage
  charge(self, usage, [self](std::optional<failure> err) {
    auto& st = self->state;
    auto& sink = st.spec.sink;
    std::string out;
    if (err) {
      out += sse::frame_data(to_openai_error_body(*err));
    } else if (st.stream_error) {
      out += sse::frame_data(to_openai_error_body(*st.stream_error));
    } else {
      if (st.held_usage_chunk) {
        (*st.held_usage_chunk)["id"] = st.spec.response_id;
        (*st.held_usage_chunk)["model"] = st.spec.client_model;
        out += sse::frame_data(detail::dump_json(*st.held_usage_chunk));
      } else if (st.spec.include_usage && st.usage) {
        json u = {{"id", st.spec.response_id},
                  {"object", "chat.completion.chunk"},
                  {"created", st.ctx->now()},
                  {"model", st.spec.client_model},
                  {"choices", json::array()},
                  {"usage",
                   {{"prompt_tokens", st.usage->input_tokens},
                    {"completion_tokens", st.usage->output_tokens},
                    {"total_tokens", st.usage->input_tokens + st.usage->output_tokens},
                    {"prompt_tokens_details", {{"cached_tokens", st.usage->cached_input_tokens}}}}}};
        out += sse::frame_data(detail::dump_json(u));
      }
      out += sse::done_frame;
    }
    if (!st.client_disconnected) {
      sink->write(std::move(out));
      sink->end_stream();
    }
    finish(self);
  });
}

void on_stream_events(call_actor* self) {
  auto& st = self->state;
  std::string out;
  for (auto& ev : st.events) {
    switch (ev.what) {
      case adapters::stream_event::type::chunk:
        if (rewrite_chunk(st, ev.data)) out += sse::frame_data(detail::dump_json(ev.data));
        break;
      case adapters::stream_event::type::done:
        st.stream_done = true;
        break;
      case adapters::stream_event::type::error:
        if (!st.stream_error && !st.stream_done) st.stream_error = ev.error;
        break;
    }
  }
  st.events.clear();
  if (!out.empty() && !st.client_disconnected) {
    if (!st.spec.sink->write(std::move(out))) st.client_disconnected = true;
  }
}

// -- non-streamed -----------------------------------------------------------

void complete_buffered(call_actor* self) {
  auto& st = self->state;
  const bool chat = st.spec.op == call_spec::operation::chat;
  auto parsed = chat ? st.adapter->chat_response(st.body) : st.adapter->embeddings_response(st.body);
  if (!parsed) {
    report_upstream_error(self, st.upstream_status);
    fail_before_response(self, parsed.error(), std::nullopt);
    return;
  }
  auto response = std::make_shared<json>(std::move(parsed.value()));
  auto usage = adapters::usage_of(*response);
  if (!usage) {
    // An upstream that reports no usage is charged by estimate, never free.
    money::token_usage u;
    u.input_tokens = (st.spec.prompt_estimate + 1) / 2;
    if (chat && response->contains("choices"))
      u.output_tokens = static_cast<std::int64_t>((detail::dump_json((*response)["choices"]).size() + 3) / 4);
    usage = u;
  }
  if (chat) (*response)["id"] = st.spec.response_id;
  (*response)["model"] = st.spec.client_model;
  charge(self, usage, [self, response](std::optional<failure> err) {
    auto& st = self->state;
    if (err)
      detail::respond_failure(st.spec.sink, *err);
    else
      detail::respond_json(st.spec.sink, 200, *response);
    finish(self);
  });
}

// -- the actor ------------------------------------------------------------

caf::behavior call_behavior(call_actor* self, std::shared_ptr<const gateway_context> ctx,
                            call_spec spec) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.spec = std::move(spec);
  st.adapter = adapters::find_adapter(st.spec.provider.endpoint.kind);
  if (!st.adapter) {
    fail_before_response(self,
                         make_failure(errc::internal, "no adapter for provider kind " +
                                                          st.spec.provider.endpoint.kind),
                         std::nullopt);
    return {};
  }
  const bool chat = st.spec.op == call_spec::operation::chat;
  auto request = chat ? st.adapter->chat_request(st.spec.body, st.spec.upstream_model, st.spec.stream,
                                                 st.spec.provider.endpoint)
                      : st.adapter->embeddings_request(st.spec.body, st.spec.upstream_model,
                                                       st.spec.provider.endpoint);
  if (!request) {
    fail_before_response(self, request.error(), std::nullopt);
    return {};
  }
  caf::actor me = caf::actor_cast<caf::actor>(self);
  st.spec.sink->on_disconnect([me] { caf::anon_send(me, client_gone{}); });
  self->send(st.spec.provider.actor,
             upstream_send{st.spec.call_id, std::move(request.value()),
                           st.ctx->settings.upstream_timeouts, me});
  return {
    [=](upstream_head& head) {
      auto& st = self->state;
      st.upstream_status = head.status;
      st.upstream_headers = std::move(head.headers);
      if (st.spec.stream && head.status / 100 == 2) {
        st.decoder = st.adapter->chat_stream_decoder();
        if (!st.client_disconnected) {
          st.spec.sink->start_stream(200);
          st.streaming_to_client = true;
        }
      }
    },
    [=](upstream_body& piece) {
      auto& st = self->state;
      if (st.decoder) {
        st.decoder->feed(piece.bytes, st.events);
        on_stream_events(self);
        return;
      }
      if (st.body.size() + piece.bytes.size() > st.ctx->settings.max_upstream_body) {
        self->send(st.spec.provider.actor, upstream_cancel{st.spec.call_id});
        st.upstream_status = -1; // marks "too large" for the done handler
        return;
      }
      if (st.upstream_status != -1) st.body += piece.bytes;
    },
    [=](upstream_done& done) {
      auto& st = self->state;
      if (st.decoder) {
        if (!done.error) st.decoder->finish(st.events);
        on_stream_events(self);
        if (done.error && !st.stream_done && !st.stream_error) st.stream_error = done.error;
        if (!st.stream_done && !st.stream_error)
          st.stream_error = make_failure(errc::upstream_error,
                                         "upstream closed the stream before it was complete");
        if (st.stream_error) report_upstream_error(self, st.upstream_status);
        end_stream_after_charge(self);
        return;
      }
      if (st.upstream_status == -1) {
        report_upstream_error(self, 0);
        fail_before_response(self, make_failure(errc::upstream_error, "upstream response is too large"),
                             std::nullopt);
        return;
      }
      if (done.error) {
        report_upstream_error(self, st.upstream_status);
        if (st.client_disconnected) {
          charge(self, std::nullopt, [self](std::optional<failure>) { finish(self); });
          return;
        }
        fail_before_response(self, *done.error, std::nullopt);
        return;
      }
      if (st.upstream_status / 100 != 2) {
        report_upstream_error(self, st.upstream_status);
        fail_before_response(self, st.adapter->upstream_failure(st.upstream_status, st.upstream_headers, st.body),
                             std::nullopt);
        return;
      }
      complete_buffered(self);
    },
    [=](const client_gone&) {
      auto& st = self->state;
      if (st.client_disconnected || st.finished) return;
      st.client_disconnected = true;
      self->send(st.spec.provider.actor, upstream_cancel{st.spec.call_id});
    },
  };
}

} // namespace

void spawn_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, call_spec spec) {
  sys.spawn(call_behavior, std::move(ctx), std::move(spec));
}

} // namespace oag::actors
