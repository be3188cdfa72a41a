// The Responses API and conversations (see responses_api.hpp). Requests are
// checked and their history gathered here, in the company's assistants
// actor; a response is then produced by its own response actor
// (response_actor.hpp), which stores it. Conversations are threads
// (object "conversation", ids conv_…) of the shared message store.

#include "responses_api.hpp"

#include <algorithm>
#include <set>

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include "object_store.hpp"
#include "oag/adapters/responses_format.hpp"
#include "oag/storage/crypto.hpp"
#include "oag/storage/keys.hpp"
#include "replies.hpp"
#include "response_actor.hpp"

namespace oag::actors::responses {
namespace {

using nlohmann::json;
using storage::record_kind;
namespace wire = adapters::responses;

constexpr std::size_t max_items_per_request = 20;

struct call {
  caf::event_based_actor* self;
  const std::shared_ptr<const gateway_context>& ctx;
  const std::string& company;
  const caf::actor& tenant;
  api_request& api;

  void fail(const failure& f) const { detail::respond_failure(api.sink, f); }
  void ok(const json& j) const { detail::respond_json(api.sink, 200, j); }
  storage::database& db() const { return *ctx->db; }
};

failure not_found(const std::string& what, const std::string& id, std::optional<std::string> param = std::nullopt) {
  return make_failure(errc::not_found, what + " with id '" + id + "' not found.", std::move(param));
}

// -- stored responses ---------------------------------------------------------------------

/// Loads a stored response record (nullopt: absent). A record left
/// in_progress by an earlier process is reported, and rewritten, as failed:
/// responses are not resumed after a restart.
result<std::optional<json>> load_response(const call& c, const std::string& id) {
  const auto k = response_key(c.company, id);
  auto doc = objects::get_json(c.db(), k);
  if (!doc) return doc.error();
  if (!*doc || !(**doc).is_object() || !(**doc).contains("response")) return std::optional<json>{};
  json& rec = **doc;
  const std::string status = rec["response"].value("status", std::string{});
  if ((status == "in_progress" || status == "queued") && rec.value("boot", std::string{}) != boot_id()) {
    rec["response"]["status"] = "failed";
    rec["response"]["error"] = {{"code", "server_error"},
                                {"message", "OAG restarted while this response was being produced; it is lost."}};
    for (auto& item : rec["response"]["output"]) item["status"] = "incomplete";
    if (!rec.contains("history")) rec["history"] = json::array();
    rec["boot"] = boot_id();
    if (auto w = c.db().put(k, objects::dump(rec)); !w) return w.error();
  }
  return std::optional<json>{std::move(rec)};
}

/// A page of an in-memory list of items with ids (input items).
json page_of(const json& items, const objects::page_query& q) {
  std::vector<json> v;
  if (items.is_array())
    for (auto& i : items) v.push_back(i);
  if (q.descending) std::reverse(v.begin(), v.end());
  auto index_of = [&](const std::string& id) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < v.size(); ++i)
      if (v[i].value("id", std::string{}) == id) return i;
    return std::nullopt;
  };
  std::size_t begin = 0, end = v.size();
  if (q.after) {
    auto i = index_of(*q.after);
    begin = i ? *i + 1 : v.size();
  }
  if (q.before) {
    auto i = index_of(*q.before);
    end = i ? std::max(*i, begin) : begin;
  }
  bool more = false;
  std::size_t from = begin, to = end;
  if (q.before && !q.after) {
    if (end - begin > q.limit) {
      from = end - q.limit;
      more = true;
    }
  } else if (end - begin > q.limit) {
    to = begin + q.limit;
    more = true;
  }
  json data = json::array();
  for (std::size_t i = from; i < to; ++i) data.push_back(v[i]);
  json out = {{"object", "list"}, {"data", data}, {"has_more", more}};
  out["first_id"] = data.empty() ? json(nullptr) : data.front().value("id", json(nullptr));
  out["last_id"] = data.empty() ? json(nullptr) : data.back().value("id", json(nullptr));
  return out;
}

// -- conversations ---------------------------------------------------------------------------

std::string conversation_key(const call& c, const std::string& id) {
  return storage::tenant_key(c.company, record_kind::thread, id);
}

std::string items_prefix(const call& c, const std::string& conv) {
  return storage::tenant_key(c.company, record_kind::message, storage::child_suffix(conv, ""));
}

/// Loads a conversation (threads that are not conversations do not count).
result<std::optional<json>> load_conversation(const call& c, const std::string& id) {
  auto doc = objects::get_json(c.db(), conversation_key(c, id));
  if (!doc) return doc.error();
  if (!*doc || (**doc).value("object", std::string{}) != "conversation") return std::optional<json>{};
  return doc;
}

/// Validates and normalizes conversation items from a request (the same
/// rules as a response's input); failures name `param`[i]….
result<json> check_items(const json& items, const std::string& param) {
  if (!items.is_array()) return make_failure(errc::invalid_request, "'" + param + "' must be an array", param);
  if (items.size() > max_items_per_request)
    return make_failure(errc::invalid_request,
                        "'" + param + "' can hold at most " + std::to_string(max_items_per_request) + " items", param);
  auto parsed = wire::parse_request(json{{"model", "conversation"}, {"input", items}});
  if (!parsed) {
    failure f = parsed.error();
    if (f.param && f.param->rfind("input", 0) == 0) f.param = param + f.param->substr(5);
    auto pos = f.message.find("input[");
    if (pos != std::string::npos) f.message.replace(pos, 5, param);
    return f;
  }
  return with_new_ids(parsed->input_items);
}

/// The conversation's items, oldest first, as Responses items.
result<json> conversation_items(const call& c, const std::string& conv) {
  json items = json::array();
  auto r = c.db().for_each(items_prefix(c, conv), [&](std::string_view, std::string_view v) {
    auto doc = json::parse(v, nullptr, false);
    if (doc.is_discarded()) return true;
    json item = wire::stored_to_item(doc);
    if (!item.is_null()) items.push_back(std::move(item));
    return true;
  });
  if (!r) return r.error();
  return items;
}

void conversations_route(const call& c) {
  auto& api = c.api;
  const auto now = c.ctx->now();
  if (api.route == route_id::conversations_create) {
    const json& body = api.body;
    if (!body.is_null() && !body.is_object())
      return c.fail(make_failure(errc::invalid_request, "The body must be a JSON object.", "body"));
    if (auto r = objects::only_fields(body, {"items", "metadata"}); !r) return c.fail(r.error());
    auto meta = objects::check_metadata(body.is_object() ? body.value("metadata", json()) : json());
    if (!meta) return c.fail(meta.error());
    json items = json::array();
    if (body.is_object() && body.contains("items") && !body["items"].is_null()) {
      auto checked = check_items(body["items"], "items");
      if (!checked) return c.fail(checked.error());
      items = std::move(*checked);
    }
    const std::string id = crypto::time_ordered_id("conv_");
    json conv = {{"id", id}, {"object", "conversation"}, {"created_at", now}, {"metadata", *meta}};
    storage::write_batch batch;
    batch.put(conversation_key(c, id), objects::dump(conv));
    put_conversation_items(c.company, id, items, now, batch);
    if (auto w = c.db().write(batch); !w) return c.fail(w.error());
    return c.ok(conv);
  }
  const std::string& id = api.params.at(0);
  auto conv = load_conversation(c, id);
  if (!conv) return c.fail(conv.error());
  if (!*conv) return c.fail(not_found("Conversation", id));
  json& cv = **conv;
  switch (api.route) {
    case route_id::conversation_get: return c.ok(cv);
    case route_id::conversation_modify: {
      const json& body = api.body;
      if (!body.is_object() || !body.contains("metadata"))
        return c.fail(make_failure(errc::invalid_request, "'metadata' is required", "metadata"));
      if (auto r = objects::only_fields(body, {"metadata"}); !r) return c.fail(r.error());
      auto meta = objects::check_metadata(body["metadata"]);
      if (!meta) return c.fail(meta.error());
      cv["metadata"] = *meta;
      if (auto w = c.db().put(conversation_key(c, id), objects::dump(cv)); !w) return c.fail(w.error());
      return c.ok(cv);
    }
    case route_id::conversation_delete: {
      storage::write_batch batch;
      batch.del(conversation_key(c, id));
      auto r = c.db().for_each(items_prefix(c, id), [&](std::string_view k, std::string_view) {
        batch.del(k);
        return true;
      });
      if (!r) return c.fail(r.error());
      if (auto w = c.db().write(batch); !w) return c.fail(w.error());
      return c.ok({{"id", id}, {"object", "conversation.deleted"}, {"deleted", true}});
    }
    case route_id::conversation_items_list: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return c.fail(page.error());
      auto list = objects::list_page(c.db(), items_prefix(c, id), *page, [](json&& doc) -> std::optional<json> {
        json item = wire::stored_to_item(doc);
        if (item.is_null()) return std::nullopt;
        return item;
      });
      if (!list) return c.fail(list.error());
      return c.ok(*list);
    }
    case route_id::conversation_items_create: {
      const json& body = api.body;
      if (!body.is_object() || !body.contains("items"))
        return c.fail(make_failure(errc::invalid_request, "'items' is required", "items"));
      if (auto r = objects::only_fields(body, {"items"}); !r) return c.fail(r.error());
      auto items = check_items(body["items"], "items");
      if (!items) return c.fail(items.error());
      storage::write_batch batch;
      json listed = put_conversation_items(c.company, id, *items, now, batch);
      if (auto w = c.db().write(batch); !w) return c.fail(w.error());
      json out = {{"object", "list"}, {"data", listed}, {"has_more", false}};
      out["first_id"] = listed.empty() ? json(nullptr) : listed.front()["id"];
      out["last_id"] = listed.empty() ? json(nullptr) : listed.back()["id"];
      return c.ok(out);
    }
    default: break;
  }
  const std::string& item_id = api.params.at(1);
  const auto ik = item_key(c.company, id, item_id);
  auto stored = objects::get_json(c.db(), ik);
  if (!stored) return c.fail(stored.error());
  json item = *stored ? wire::stored_to_item(**stored) : json(nullptr);
  if (item.is_null()) return c.fail(not_found("Item", item_id));
  switch (api.route) {
    case route_id::conversation_item_get: return c.ok(item);
    case route_id::conversation_item_delete: {
      storage::write_batch batch;
      batch.del(ik);
      if (auto w = c.db().write(batch); !w) return c.fail(w.error());
      return c.ok(cv);
    }
    default: return c.fail(make_failure(errc::not_found, "unknown route"));
  }
}

// -- responses ----------------------------------------------------------------------------------

void create_response(const call& c) {
  auto& api = c.api;
  auto req = wire::parse_request(api.body);
  if (!req) return c.fail(req.error());
  response_launch l;
  if (req->previous_response_id) {
    const auto& prev_id = *req->previous_response_id;
    auto prev = load_response(c, prev_id);
    if (!prev) return c.fail(prev.error());
    if (!*prev) return c.fail(not_found("Previous response", prev_id, "previous_response_id"));
    const std::string status = (**prev)["response"].value("status", std::string{});
    if (status == "in_progress" || status == "queued")
      return c.fail(make_failure(errc::invalid_request,
                                 "Previous response with id '" + prev_id + "' is still in progress.",
                                 "previous_response_id"));
    if ((**prev).contains("history") && (**prev)["history"].is_array()) l.history = (**prev)["history"];
  }
  if (req->conversation_id) {
    const auto& conv_id = *req->conversation_id;
    auto conv = load_conversation(c, conv_id);
    if (!conv) return c.fail(conv.error());
    if (!*conv) return c.fail(not_found("Conversation", conv_id, "conversation"));
    auto items = conversation_items(c, conv_id);
    if (!items) return c.fail(items.error());
    auto messages = wire::items_to_chat_messages(*items, "conversation");
    if (!messages) return c.fail(make_failure(errc::storage_failure, "the conversation's items cannot be read: " +
                                                                         messages.error().message));
    l.history = std::move(*messages);
  }
  // A function_call_output answers a call the model made: in the history,
  // or among the input's own function_call items (OpenAI's rule).
  {
    std::set<std::string> calls;
    if (l.history.is_array())
      for (auto& m : l.history)
        if (m.is_object() && m.contains("tool_calls") && m["tool_calls"].is_array())
          for (auto& tc : m["tool_calls"])
            if (tc.is_object() && tc.contains("id") && tc["id"].is_string()) calls.insert(tc["id"].get<std::string>());
    for (auto& item : req->input_items)
      if (item.value("type", std::string{}) == "function_call" && item.contains("call_id") && item["call_id"].is_string())
        calls.insert(item["call_id"].get<std::string>());
    for (std::size_t i = 0; i < req->input_items.size(); ++i) {
      const auto& item = req->input_items[i];
      if (item.value("type", std::string{}) != "function_call_output") continue;
      const std::string call_id = item.value("call_id", std::string{});
      if (!calls.count(call_id))
        return c.fail(make_failure(errc::invalid_request,
                                   "No tool call found for function call output with call_id " + call_id + ".",
                                   "input[" + std::to_string(i) + "].call_id"));
    }
  }
  // Something must be there to answer: new input, or history to go on from.
  if (req->input_items.empty() && (!l.history.is_array() || l.history.empty()))
    return c.fail(make_failure(errc::invalid_request, "Missing required parameter: 'input'.", std::string{"input"}));
  l.company_id = c.company;
  l.tenant = c.tenant;
  l.sink = std::move(api.sink);
  l.response_id = crypto::time_ordered_id("resp_");
  l.created_at = c.ctx->now();
  l.input_items = with_new_ids(req->input_items);
  l.req = std::move(*req);
  spawn_response(c.self->system(), c.ctx, std::move(l));
}

void responses_route(const call& c) {
  auto& api = c.api;
  if (api.route == route_id::responses_create) return create_response(c);
  const std::string& id = api.params.at(0);
  auto rec = load_response(c, id);
  if (!rec) return c.fail(rec.error());
  if (!*rec) return c.fail(not_found("Response", id));
  switch (api.route) {
    case route_id::response_get: return c.ok((**rec)["response"]);
    case route_id::response_delete: {
      storage::write_batch batch;
      batch.del(response_key(c.company, id));
      if (auto w = c.db().write(batch); !w) return c.fail(w.error());
      return c.ok({{"id", id}, {"object", "response"}, {"deleted", true}});
    }
    case route_id::response_input_items: {
      auto page = objects::parse_page_query(api.query);
      if (!page) return c.fail(page.error());
      return c.ok(page_of((**rec).value("input_items", json::array()), *page));
    }
    default: return c.fail(make_failure(errc::not_found, "unknown route"));
  }
}

} // namespace

void handle(caf::event_based_actor* self, responses_state&, const std::shared_ptr<const gateway_context>& ctx,
            const std::string& company_id, const caf::actor& tenant, api_request& api) {
  call c{self, ctx, company_id, tenant, api};
  try {
    const auto r = api.route;
    if (r >= route_id::responses_create && r <= route_id::response_input_items) return responses_route(c);
    if (r >= route_id::conversations_create && r <= route_id::conversation_item_delete) return conversations_route(c);
    c.fail(make_failure(errc::not_found, "unknown route"));
  } catch (const std::exception& e) {
    // Malformed stored JSON must not take the company's actor down.
    spdlog::error("company {}: responses request failed: {}", company_id, e.what());
    if (api.sink) c.fail(make_failure(errc::internal, "internal error"));
  }
}

} // namespace oag::actors::responses
