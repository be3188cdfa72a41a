#pragma once
// The response actor: produces one Responses API response (POST
// /v1/responses) through one or more model calls (server-side tools loop
// until the model answers), streamed or not, and stores it.
//
// Stored record (kind `response`, suffix = response id):
//   {"object":"oag.response_record", "response": <the Response object>,
//    "history": [chat messages of the whole chain, this response included],
//    "input_items": [this response's input items, with ids], "boot": "..."}
// Only `response` is ever shown to clients; `history` is what a response
// that names this one as previous_response_id continues from (cumulative,
// so a chain is one read and survives deletion of its older links).
//
// Durability: a stored response is written before it is announced
// (response.created, or the 200 of a background request) as in_progress,
// and written again, final, before its terminal event or JSON answer. A
// response cut by a crash is not resumed: its in_progress record carries
// the boot id of the process that wrote it, and a later process that finds
// such a record reports (and rewrites) it as failed. A store:false response
// is never written and is simply lost.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <nlohmann/json.hpp>

#include "oag/actors/gateway.hpp"
#include "oag/actors/sink.hpp"
#include "oag/adapters/responses_format.hpp"
#include "oag/storage/database.hpp"

namespace oag::actors::responses {

/// A random id of this process, stamped on in_progress records.
const std::string& boot_id();

/// The key of a stored response.
std::string response_key(const std::string& company_id, const std::string& response_id);

/// The key of a conversation item (message kind, conversation 0x00 item).
std::string item_key(const std::string& company_id, const std::string& conversation_id, const std::string& item_id);

/// The prefix of every conversation item id and input item id. Items are
/// keyed by id and listed in key order; time-ordered ids sort by creation
/// only under one prefix, so function calls and their outputs stored in a
/// conversation get msg_… ids too (ids are opaque to clients).
inline constexpr const char* item_prefix = "msg_";

/// A copy of `items` where every item has a fresh time-ordered id (see
/// item_prefix), so stored order is creation order.
nlohmann::json with_new_ids(const nlohmann::json& items);

/// Adds items (which carry their ids) to a conversation in `batch`: message
/// items as thread.message objects (the Assistants store), others verbatim
/// as conversation records. Returns the items as the API lists them.
nlohmann::json put_conversation_items(const std::string& company_id, const std::string& conversation_id,
                                      const nlohmann::json& items, std::int64_t now,
                                      storage::write_batch& batch);

/// Everything a response actor starts from (checked by the caller).
struct response_launch {
  std::string company_id;
  caf::actor tenant;
  std::shared_ptr<response_sink> sink;
  adapters::responses::request req;
  std::string response_id;
  std::int64_t created_at = 0;
  /// Chat messages of earlier turns (previous_response_id chain or the
  /// conversation's items).
  nlohmann::json history = nlohmann::json::array();
  /// The request's input items with their ids (see with_new_ids).
  nlohmann::json input_items = nlohmann::json::array();
};

/// Spawns the actor; it answers through `sink` and quits when done.
void spawn_response(caf::actor_system& sys, std::shared_ptr<const gateway_context> ctx, response_launch launch);

} // namespace oag::actors::responses
