// The call actor drives one client call: it tries the routed targets in
// order, each through its provider's adapter and provider actor; turns the
// upstream's bytes into the client's responses; and makes the charge
// durable (settle or release at the tenant) BEFORE the client sees the end
// of the response, so an acknowledged call is always a charged call.
//
// Fallback and retry happen only while nothing has reached the client: a
// streamed response's head goes out with its first chunk, so a stream that
// dies before its first token can still move to the next target.

#include "call_actor.hpp"

#include <caf/all.hpp>

#include "oag/adapters/adapter.hpp"
#include "oag/adapters/anthropic_inbound.hpp"
#include "oag/adapters/embeddings_format.hpp"
#include "oag/adapters/sse.hpp"
#include "replies.hpp"

namespace oag::actors {
namespace {

using nlohmann::json;
using steady = std::chrono::steady_clock;

struct call_state {
  std::shared_ptr<const gateway_context> ctx;
  call_spec spec;
  caf::actor self_handle;
  // -- the attempt in flight ---------------------------------------------
  std::size_t target_index = 0;
  int attempt_on_target = 0;
  std::uint32_t attempt_seq = 0;
  bool in_flight = false;
  const adapters::provider_adapter* adapter = nullptr;
  std::unique_ptr<adapters::stream_decoder> decoder;
  std::vector<adapters::stream_event> events; // reused buffer
  int upstream_status = 0;
  adapters::header_list upstream_headers;
  std::string body;          // non-streamed or error body
  bool body_too_large = false;
  bool got_chunk = false;    // this attempt produced a chunk
  bool timed_out = false;    // this attempt hit the first-token deadline
  steady::time_point attempt_started;
  json attempts = json::array();
  // -- the client side ------------------------------------------------------
  bool streaming_to_client = false; // a stream head went out
  bool finished = false;
  bool client_disconnected = false;
  bool stream_done = false;           // upstream sent its terminal event
  std::optional<failure> stream_error; // upstream reported or cut
  std::optional<money::token_usage> usage;
  std::optional<json> held_usage_chunk; // sent after the charge is durable
  std::size_t generated_bytes = 0;      // streamed text, for disconnect charges
  /// Anthropic-format clients get their stream through this encoder.
  std::unique_ptr<adapters::anthropic_stream_encoder> anthropic;
  static inline const char* name = "oag.call";
};

using call_actor = caf::stateful_actor<call_state>;

const call_target& target(const call_state& st) { return st.spec.targets[st.target_index]; }

adapters::header_list route_headers(const call_state& st) {
  std::string v = "rule=" + st.spec.route_rule.value_or("-");
  v += "; target=" + target(st).model_ref;
  // The attempt in flight is recorded when it ends; a stream's head goes
  // out before that, so it counts here too.
  v += "; attempts=" + std::to_string(st.attempts.size() + (st.in_flight ? 1 : 0));
  return {{"x-oag-route", std::move(v)}};
}

void record_attempt(call_state& st, int status, const std::optional<failure>& error) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - st.attempt_started).count();
  json a = {{"provider", target(st).provider_name},
            {"model", target(st).upstream_model},
            {"status", status},
            {"duration_ms", ms}};
  a["error"] = error ? json(error->message) : json(nullptr);
  st.attempts.push_back(std::move(a));
}

std::string entry_status(const call_state& st) {
  if (st.client_disconnected) return "disconnected";
  if (st.stream_error) return "failed";
  return "completed";
}

/// The ledger entry for a charge with the given usage.
storage::ledger_entry make_entry(const call_state& st, const money::token_usage& usage) {
  storage::ledger_entry e;
  const auto& t = target(st);
  e.call_id = st.spec.call_id;
  e.response_id = st.spec.response_id;
  e.kind = st.spec.op == call_spec::operation::chat ? "chat.completion" : "embedding";
  e.model = st.spec.client_model;
  e.provider = t.provider_name;
  e.upstream_model = t.upstream_model;
  e.input_tokens = usage.input_tokens;
  e.cached_input_tokens = usage.cached_input_tokens;
  e.output_tokens = usage.output_tokens;
  e.cost_uot = money::cost_of(usage, t.price);
  e.created_at = st.ctx->now();
  e.status = entry_status(st);
  e.attempts_json = detail::dump_json(st.attempts);
  e.route_rule = st.spec.route_rule.value_or(std::string{});
  return e;
}

void finish(call_actor* self) {
  self->state.finished = true;
  self->quit();
}

/// Charges `usage` (or releases when there is none), then runs `then` with
/// nothing or the storage failure.
template <class Then>
void charge(call_actor* self, std::optional<money::token_usage> usage, Then then) {
  auto& st = self->state;
  auto on_error = [=](const caf::error& e) { then(std::optional<failure>{from_caf_error(e)}); };
  auto on_ok = [=](const storage::wallet_record&) { then(std::optional<failure>{}); };
  if (!usage) {
    self->request(st.spec.tenant, caf::infinite, release_call{st.spec.call_id}).then(on_ok, on_error);
    return;
  }
  auto entry = make_entry(st, *usage);
  charge_report report{target(st).model_ref, entry.response_id, entry.input_tokens,
                       entry.cached_input_tokens, entry.output_tokens, entry.cost_uot};
  self->request(st.spec.tenant, caf::infinite, settle_call{st.spec.call_id, std::move(entry)})
      .then(
          [=](const storage::wallet_record&) {
            if (self->state.spec.sink) self->state.spec.sink->charged(report);
            then(std::optional<failure>{});
          },
          on_error);
}

/// Fails a call that has sent nothing to the client yet.
void fail_call(call_actor* self, failure f) {
  charge(self, std::nullopt, [self, f](std::optional<failure>) {
    auto& st = self->state;
    if (st.spec.sink && !st.client_disconnected) {
      auto extra = route_headers(st);
      if (f.retry_after) extra.push_back({"retry-after", *f.retry_after});
      st.spec.sink->respond(http_status_of(f), to_openai_error_body(f), std::move(extra));
    }
    finish(self);
  });
}

/// A usage estimate for a call whose upstream reported none: the prompt and
/// what was generated, at about four bytes per token.
money::token_usage estimated_usage(const call_state& st) {
  money::token_usage u;
  u.input_tokens = (st.spec.prompt_estimate + 1) / 2;
  u.output_tokens = static_cast<std::int64_t>((st.generated_bytes + 3) / 4);
  return u;
}

void start_attempt(call_actor* self);

/// What to do after a failed attempt: retry the target, move to the next,
/// or give up with `f`.
void attempt_failed(call_actor* self, failure f, int status, bool retryable) {
  auto& st = self->state;
  st.in_flight = false;
  record_attempt(st, status, f);
  if (st.ctx->observer) st.ctx->observer->upstream_error(target(st).provider_name, status);
  if (st.client_disconnected) {
    charge(self, std::nullopt, [self](std::optional<failure>) { finish(self); });
    return;
  }
  if (!retryable) return fail_call(self, std::move(f));
  const auto& rp = st.spec.retry;
  bool circuit_open = f.error_code && *f.error_code == "circuit_open";
  if (!circuit_open && st.attempt_on_target + 1 < rp.max_attempts_per_target) {
    ++st.attempt_on_target;
    auto delay = rp.backoff * (1 << std::min(st.attempt_on_target - 1, 10));
    if (f.retry_after) {
      // Honour the upstream's retry-after (seconds), within max_backoff.
      long secs = std::strtol(f.retry_after->c_str(), nullptr, 10);
      if (secs > 0) delay = std::max<std::chrono::milliseconds>(delay, std::chrono::seconds(secs));
    }
    delay = std::min(delay, rp.max_backoff);
    self->delayed_send(self, delay, call_timer{call_timer::kind::retry, st.attempt_seq});
    return;
  }
  if (st.target_index + 1 < st.spec.targets.size()) {
    ++st.target_index;
    st.attempt_on_target = 0;
    start_attempt(self);
    return;
  }
  fail_call(self, std::move(f));
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
  // Without reported usage: a finished stream, or one the client abandoned
  // after tokens were generated, is charged by estimate; a stream the
  // upstream broke is charged only what the upstream reported.
  if (!usage && (st.stream_done || (st.client_disconnected && st.got_chunk))) usage = estimated_usage(st);
  charge(self, usage, [self](std::optional<failure> err) {
    auto& st = self->state;
    auto& sink = st.spec.sink;
    std::string out;
    if (st.anthropic) {
      if (err || st.stream_error) out += st.anthropic->error(err ? *err : *st.stream_error);
      else out += st.anthropic->finish(st.usage);
    } else if (err) {
      out += sse::frame_data(to_openai_error_body(*err));
    } else if (st.stream_error) {
      out += sse::frame_data(to_openai_error_body(*st.stream_error));
    } else {
      if (st.held_usage_chunk) {
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
      if (!st.streaming_to_client) sink->start_stream(200, route_headers(st));
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
        st.got_chunk = true;
        if (!rewrite_chunk(st, ev.data)) break;
        if (st.anthropic) out += st.anthropic->on_chunk(ev.data);
        else out += sse::frame_data(detail::dump_json(ev.data));
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
  if (out.empty() || st.client_disconnected) return;
  if (!st.streaming_to_client) {
    st.spec.sink->start_stream(200, route_headers(st));
    st.streaming_to_client = true;
  }
  if (!st.spec.sink->write(std::move(out))) st.client_disconnected = true;
}

// -- non-streamed -----------------------------------------------------------

void complete_buffered(call_actor* self) {
  auto& st = self->state;
  const bool chat = st.spec.op == call_spec::operation::chat;
  auto parsed = chat ? st.adapter->chat_response(st.body) : st.adapter->embeddings_response(st.body);
  if (!parsed) return attempt_failed(self, parsed.error(), st.upstream_status, true);
  st.in_flight = false;
  record_attempt(st, st.upstream_status, std::nullopt);
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
  else adapters::apply_encoding_format(st.spec.body, *response); // base64 when the client asked for it
  (*response)["model"] = st.spec.client_model;
  charge(self, usage, [self, response](std::optional<failure> err) {
    auto& st = self->state;
    if (err) {
      detail::respond_failure(st.spec.sink, *err);
    } else if (st.spec.format == client_format::anthropic) {
      st.spec.sink->respond(200, detail::dump_json(adapters::openai_response_to_anthropic(*response, st.spec.client_model)),
                            route_headers(st));
    } else {
      st.spec.sink->respond(200, detail::dump_json(*response), route_headers(st));
    }
    finish(self);
  });
}

// -- attempts ---------------------------------------------------------------

void start_attempt(call_actor* self) {
  auto& st = self->state;
  const auto& t = target(st);
  st.adapter = adapters::find_adapter(t.provider.endpoint.kind);
  st.decoder.reset();
  st.upstream_status = 0;
  st.upstream_headers.clear();
  st.body.clear();
  st.body_too_large = false;
  st.got_chunk = false;
  st.timed_out = false;
  st.stream_done = false;
  st.stream_error.reset();
  st.usage.reset();
  st.held_usage_chunk.reset();
  st.attempt_started = steady::now();
  ++st.attempt_seq;
  if (!st.adapter)
    return attempt_failed(self, make_failure(errc::internal, "no adapter for provider kind " + t.provider.endpoint.kind),
                          0, true);
  const bool chat = st.spec.op == call_spec::operation::chat;
  adapters::chat_context cc;
  cc.max_output_tokens = t.max_output_tokens;
  auto request = chat ? st.adapter->chat_request(st.spec.body, t.upstream_model, st.spec.stream, t.provider.endpoint, cc)
                      : st.adapter->embeddings_request(st.spec.body, t.upstream_model, t.provider.endpoint);
  if (!request) {
    // The request cannot be expressed for this provider: another target may
    // take it; a request that is simply invalid fails on every target alike.
    bool next_may_help = st.target_index + 1 < st.spec.targets.size();
    record_attempt(st, 0, request.error());
    if (!next_may_help) return fail_call(self, request.error());
    ++st.target_index;
    st.attempt_on_target = 0;
    return start_attempt(self);
  }
  st.in_flight = true;
  self->send(t.provider.actor, upstream_send{st.spec.call_id, st.attempt_seq, std::move(request.value()),
                                             st.ctx->settings.upstream_timeouts, st.self_handle});
  if (st.spec.stream && st.spec.retry.first_token_timeout)
    self->delayed_send(self, *st.spec.retry.first_token_timeout,
                       call_timer{call_timer::kind::first_token, st.attempt_seq});
}

void on_done(call_actor* self, upstream_done& done) {
  auto& st = self->state;
  if (st.decoder) {
    if (!done.error) st.decoder->finish(st.events);
    on_stream_events(self);
    if (st.stream_done) {
      st.in_flight = false;
      record_attempt(st, st.upstream_status, std::nullopt);
      return end_stream_after_charge(self);
    }
    failure f = st.stream_error ? *st.stream_error
                : done.error    ? *done.error
                                : make_failure(errc::upstream_error, "upstream closed the stream before it was complete");
    if (st.timed_out) f = make_failure(errc::upstream_timeout, "no token from the upstream within the first-token timeout");
    if (!st.streaming_to_client && !st.client_disconnected) return attempt_failed(self, f, st.upstream_status, true);
    // Bytes reached the client: the stream ends with an error, no [DONE].
    st.in_flight = false;
    record_attempt(st, st.upstream_status, f);
    if (st.ctx->observer) st.ctx->observer->upstream_error(target(st).provider_name, st.upstream_status);
    st.stream_error = f;
    return end_stream_after_charge(self);
  }
  if (st.body_too_large)
    return attempt_failed(self, make_failure(errc::upstream_error, "upstream response is too large"), st.upstream_status,
                          false);
  if (done.error) {
    failure f = *done.error;
    if (st.timed_out) f = make_failure(errc::upstream_timeout, "no token from the upstream within the first-token timeout");
    return attempt_failed(self, std::move(f), st.upstream_status, true);
  }
  if (st.upstream_status / 100 != 2) {
    auto f = st.adapter->upstream_failure(st.upstream_status, st.upstream_headers, st.body);
    return attempt_failed(self, std::move(f), st.upstream_status, st.spec.retry.on_status.end() !=
                                                                      std::find(st.spec.retry.on_status.begin(),
                                                                                st.spec.retry.on_status.end(),
                                                                                st.upstream_status));
  }
  complete_buffered(self);
}

// -- the actor ------------------------------------------------------------

caf::behavior call_behavior(call_actor* self, std::shared_ptr<const gateway_context> ctx, call_spec spec) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.spec = std::move(spec);
  st.self_handle = caf::actor_cast<caf::actor>(self);
  if (st.spec.format == client_format::anthropic && st.spec.stream)
    st.anthropic = std::make_unique<adapters::anthropic_stream_encoder>(st.spec.client_model);
  caf::actor me = st.self_handle;
  st.spec.sink->on_disconnect([me] { caf::anon_send(me, client_gone{}); });
  start_attempt(self);
  return {
    [=](upstream_head& head) {
      auto& st = self->state;
      if (head.attempt != st.attempt_seq || !st.in_flight) return;
      st.upstream_status = head.status;
      st.upstream_headers = std::move(head.headers);
      if (st.spec.stream && head.status / 100 == 2) st.decoder = st.adapter->chat_stream_decoder();
    },
    [=](upstream_body& piece) {
      auto& st = self->state;
      if (piece.attempt != st.attempt_seq || !st.in_flight) return;
      if (st.decoder) {
        st.decoder->feed(piece.bytes, st.events);
        on_stream_events(self);
        return;
      }
      if (st.body.size() + piece.bytes.size() > st.ctx->settings.max_upstream_body) {
        if (!st.body_too_large)
          self->send(target(st).provider.actor, upstream_cancel{st.spec.call_id, st.attempt_seq});
        st.body_too_large = true;
        return;
      }
      st.body += piece.bytes;
    },
    [=](upstream_done& done) {
      auto& st = self->state;
      if (done.attempt != st.attempt_seq || !st.in_flight) return;
      on_done(self, done);
    },
    [=](const call_timer& t) {
      auto& st = self->state;
      if (st.finished || t.attempt != st.attempt_seq) return;
      if (t.what == call_timer::kind::retry) {
        if (!st.in_flight && !st.client_disconnected) start_attempt(self);
        return;
      }
      if (st.in_flight && !st.got_chunk) {
        st.timed_out = true;
        self->send(target(st).provider.actor, upstream_cancel{st.spec.call_id, st.attempt_seq});
      }
    },
    [=](const client_gone&) {
      auto& st = self->state;
      if (st.client_disconnected || st.finished) return;
      st.client_disconnected = true;
      if (st.in_flight) {
        self->send(target(st).provider.actor, upstream_cancel{st.spec.call_id, st.attempt_seq});
      } else {
        // Waiting for a retry: nothing is in flight, nothing was generated.
        charge(self, std::nullopt, [self](std::optional<failure>) { finish(self); });
      }
    },
  };
}

} // namespace

void spawn_call(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, call_spec spec) {
  sys.spawn(call_behavior, std::move(ctx), std::move(spec));
}

} // namespace oag::actors
