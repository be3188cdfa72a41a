#pragma once
/// Pure building blocks of autonomous agents (issue 5), no actors: topic
/// names and glob patterns with an index of many subscriptions, webhook
/// signatures (HMAC-SHA256 over timestamp + body) and event ids, unforgeable
/// Telegram callback data for approval buttons, and approval rules over a
/// tool's arguments.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::actors::triggers {

// ---------------------------------------------------------------------------
// Topics
// ---------------------------------------------------------------------------

/// Longest topic or topic pattern, in bytes.
inline constexpr std::size_t max_topic_length = 255;

/// A topic is 1..255 bytes of dot-separated segments, each segment one or
/// more of [A-Za-z0-9_-] (no empty segment, no leading/trailing dot).
/// Failure: errc::invalid_request naming what is wrong.
result<void> check_topic(std::string_view topic);

/// A pattern is a topic whose segments may also be `*` (exactly one
/// segment) or `**` (zero or more segments); wildcards are whole segments
/// only (`a*` and `***` are refused). Examples: `orders.*.created`,
/// `tax.**`, `**`, `a.**.b`.
result<void> check_topic_pattern(std::string_view pattern);

/// Whether `topic` matches `pattern` (both assumed valid; invalid input
/// simply compares segment by segment). Worst case O(segments(pattern) ×
/// segments(topic)), never exponential however many `**` the pattern has.
bool topic_matches(std::string_view pattern, std::string_view topic);

/// An index of subscriptions (pattern, subscriber id) answering "which
/// subscribers match this topic" without testing every pattern: a segment
/// trie with literal, `*` and `**` edges, matched by simulating all live
/// trie positions at once (each node visited at most once per topic
/// segment, so the cost is bounded by segments × trie nodes, typically far
/// less). Not thread-safe for writers; concurrent `match` calls on an
/// unchanging index are fine.
class topic_index {
 public:
  topic_index();
  ~topic_index();
  topic_index(topic_index&&) noexcept;
  topic_index& operator=(topic_index&&) noexcept;
  topic_index(const topic_index&) = delete;
  topic_index& operator=(const topic_index&) = delete;

  /// Subscribes `subscriber` to `pattern`. Adding the same pair twice is a
  /// no-op. Fails (errc::invalid_request) on an invalid pattern or an empty
  /// subscriber id, leaving the index unchanged.
  result<void> add(std::string_view pattern, std::string_view subscriber);

  /// Removes one subscription; true if it existed. Trie nodes left empty
  /// are freed.
  bool remove(std::string_view pattern, std::string_view subscriber);

  /// Removes every subscription of `subscriber`; returns how many.
  std::size_t remove_subscriber(std::string_view subscriber);

  /// The patterns `subscriber` is subscribed to, sorted.
  std::vector<std::string> patterns_of(std::string_view subscriber) const;

  /// Subscriber ids with at least one pattern matching `topic`, sorted and
  /// deduplicated. An invalid topic matches nothing.
  std::vector<std::string> match(std::string_view topic) const;

  /// Number of distinct (pattern, subscriber) subscriptions.
  std::size_t size() const noexcept { return size_; }

  /// Number of distinct patterns with at least one subscriber.
  std::size_t pattern_count() const noexcept { return patterns_; }

 private:
  struct node;
  std::unique_ptr<node> root_;
  /// subscriber → its patterns (for remove_subscriber / patterns_of)
  std::unordered_map<std::string, std::unordered_set<std::string>> by_subscriber_;
  std::size_t size_ = 0;
  std::size_t patterns_ = 0;
};

// ---------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------

/// Header carrying the unix-seconds timestamp of a webhook delivery.
inline constexpr std::string_view timestamp_header_name = "X-OAG-Timestamp";
/// Header carrying `sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`.
inline constexpr std::string_view signature_header_name = "X-OAG-Signature";
/// Header carrying the sender's event id (idempotency key).
inline constexpr std::string_view event_id_header_name = "X-OAG-Event-Id";

/// The `X-OAG-Signature` value for a delivery: "sha256=" + lower-case hex of
/// HMAC-SHA256(secret, decimal(timestamp) + "." + body).
std::string sign_webhook(std::string_view secret, std::int64_t timestamp, std::string_view body);

/// Verifies a webhook delivery. Checks, in order:
/// 1. both headers present and well formed, else errc::invalid_request (400):
///    the timestamp is canonical decimal unix seconds (digits only, no sign,
///    no leading zero, at most 12 digits; surrounding spaces/tabs ignored),
///    the signature exactly `sha256=` + 64 hex digits (hex case-insensitive);
/// 2. the signature, compared in constant time, else errc::invalid_api_key
///    (401, OpenAI code "invalid_signature"); an empty secret never verifies;
/// 3. the timestamp within `tolerance_s` seconds of `now`, else
///    errc::invalid_api_key (401) with code "timestamp_too_old" (replay) or
///    "timestamp_in_future".
/// The signature is checked before the time window, so only a holder of the
/// secret (or a replayer of a genuine delivery) learns about the window.
result<void> verify_webhook(std::string_view secret, std::optional<std::string_view> timestamp_header,
                            std::optional<std::string_view> signature_header, std::string_view body,
                            std::int64_t now, std::int64_t tolerance_s = 300);

/// Longest event id kept verbatim; longer ids become "sha256:" + hex digest
/// of the id, so an idempotency key is always bounded.
inline constexpr std::size_t max_event_id_length = 200;

/// The event id of a delivery, for idempotency: the `X-OAG-Event-Id` header
/// if present and non-blank (trimmed), else the value at `json_field` (a
/// path like "id" or "data.event.id", see find_json_path) in the body when
/// the body is JSON and the value is a non-empty string or an integer, else
/// nullopt (no idempotency key: every delivery is a new event).
std::optional<std::string> webhook_event_id(std::optional<std::string_view> header, std::string_view body,
                                            std::optional<std::string_view> json_field);

/// Validates a JSON field path: 1..255 bytes of dot-separated non-empty
/// segments (object keys; a segment of digits also indexes an array).
result<void> check_json_path(std::string_view path);

/// The value at `path` in `doc` (see check_json_path), or nullptr. A segment
/// is looked up as an object key; on an array, a decimal segment is an index.
const nlohmann::json* find_json_path(const nlohmann::json& doc, std::string_view path);

// ---------------------------------------------------------------------------
// Approval buttons (Telegram callback_data)
// ---------------------------------------------------------------------------

/// Telegram's limit on callback_data, in bytes (WIRE.md §9).
inline constexpr std::size_t max_callback_data = 64;
/// Bytes of the truncated HMAC tag (128 bits), 22 base64url characters.
inline constexpr std::size_t approval_tag_bytes = 16;
/// Longest approval id that fits: 64 − 2 ("a:") − 1 (".") − 22 (tag) = 39.
/// Ids are 1..39 bytes of [A-Za-z0-9_-], e.g. crypto::time_ordered_id("apr_")
/// (28 bytes).
inline constexpr std::size_t max_approval_id_length = max_callback_data - 2 - 1 - 22;

/// Validates an approval id for use in callback data (see max_approval_id_length).
result<void> check_approval_id(std::string_view approval_id);

/// Callback data for an Approve (`approve` true) or Reject button:
/// "a:" or "r:" + approval id + "." + base64url(no padding) of the first 16
/// bytes of HMAC-SHA256(key, "oag-approval\0" + "a"|"r" + ":" + id). Always
/// ≤ 64 bytes. Fails (errc::invalid_request) on an invalid approval id or an
/// empty key.
result<std::string> approval_callback_data(std::string_view key, std::string_view approval_id, bool approve);

/// What a verified approval button says.
struct approval_decision {
  std::string approval_id; ///< the approval the button belongs to
  bool approve = false;    ///< Approve (true) or Reject (false)
};

/// Parses and verifies callback data made by approval_callback_data with
/// the same key. Garbled data → errc::invalid_request (400); a well-formed
/// datum whose tag does not verify (forged, other company's key, approve
/// flipped to reject or vice versa) → errc::permission_denied (403). The tag
/// is compared in constant time.
result<approval_decision> parse_approval_callback(std::string_view key, std::string_view data);

// ---------------------------------------------------------------------------
// Approval rules
// ---------------------------------------------------------------------------

/// Comparison operator of an approval condition.
enum class compare_op : std::uint8_t { gt, ge, lt, le, eq, ne };

/// One condition over a tool's JSON arguments: `<value at path> <op> value`.
struct approval_condition {
  std::string path;     ///< JSON field path in the arguments (check_json_path)
  compare_op op = compare_op::eq;
  nlohmann::json value; ///< number, string, or boolean (booleans: == and != only)
};

/// When a gated tool needs a human's approval: always, never, or when any of
/// the conditions holds (OR).
struct approval_rule {
  bool always = false;                        ///< every call needs approval
  std::vector<approval_condition> any;        ///< OR-ed conditions (if not always)
};

/// Parses an approval rule. Accepted forms (and arrays of them, OR-ed):
/// - `true` or `"always"`: always; `false` or `"never"`: never;
/// - `{"always": true}`;
/// - `{"when": {"path":"amount","op":">=","value":100}}` or
///   `{"when": [cond, cond, …]}` (OR-ed); ops `>` `>=` `<` `<=` `==` `!=`.
/// Errors are errc::invalid_request with `param` set to the JSON path at
/// fault (e.g. "[1].when.op").
result<approval_rule> parse_approval_rule(const nlohmann::json& rule);

/// Whether a call with `arguments` needs approval under `rule`. A condition
/// whose path is absent does not hold. A condition whose argument is present
/// but not comparable with the rule's value (an object, a string for a
/// numeric rule unless the string is itself a JSON number, a number for a
/// string rule, …) holds: the gate fails closed, so a model cannot slip past
/// a threshold by changing an argument's type. Numbers compare exactly when
/// both are integers, else as doubles; strings compare by bytes.
bool needs_approval(const approval_rule& rule, const nlohmann::json& arguments);

} // namespace oag::actors::triggers
