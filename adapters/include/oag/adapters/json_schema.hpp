#pragma once
/// JSON Schema checks for tool parameters: the subset OpenAI function tools
/// use (plus OpenAPI's `nullable`). Pure functions, thread-safe, no
/// exceptions. Errors are errc::invalid_request whose message starts with a
/// JSON-pointer-like path, e.g. "arguments/city: expected string, got number".
///
/// Supported keywords: type (a name or an array of names; "integer" accepts
/// integral numbers such as 2.0), enum, const, properties, required,
/// additionalProperties (bool or schema), patternProperties,
/// minProperties/maxProperties, items (schema, or array of schemas for
/// tuples), prefixItems, additionalItems, minItems/maxItems, uniqueItems,
/// minimum/maximum, exclusiveMinimum/exclusiveMaximum (number, or the
/// draft-4 boolean form), multipleOf, minLength/maxLength (in Unicode code
/// points), pattern (RE2 syntax, unanchored search), anyOf/oneOf/allOf/not,
/// nullable, $ref to a local JSON pointer ("#", "#/$defs/x",
/// "#/definitions/x", ...), and boolean schemas. Other keywords (format,
/// description, default, ...) are ignored.
///
/// Nesting of schemas, values and $ref hops together is bounded
/// (k_json_schema_max_depth) and so is the work of one validation
/// (k_json_schema_max_steps); beyond either the answer is an error, never
/// a stack overflow or a hang.

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "oag/error.hpp"

namespace oag::adapters {

/// Deepest nesting (subschemas applied, including $ref hops) accepted.
inline constexpr int k_json_schema_max_depth = 64;

/// Most subschema applications one validate_json may make (anyOf/oneOf
/// over $refs could otherwise take exponential time); beyond it the value
/// is rejected.
inline constexpr std::size_t k_json_schema_max_steps = 200'000;

/// Checks that `schema` is usable as the parameters schema of a tool: a JSON
/// object whose "type", if present, is "object", whose known keywords are
/// well-typed at every level, whose patterns compile and whose $refs resolve
/// without a pure $ref cycle. `root` names the schema in messages
/// ("parameters/properties/city/type: ...").
result<void> check_tool_schema(const nlohmann::json& schema,
                               std::string_view root = "parameters");

/// Validates `value` against `schema` (any schema: object or boolean). The
/// schema is checked first, as by check_tool_schema but without the
/// root-must-be-an-object rule; a bad schema is reported as such. `root`
/// names the value in messages ("arguments/tags/0: expected string, got
/// number"). Keys containing '/' or '~' are escaped as in JSON pointers.
result<void> validate_json(const nlohmann::json& schema, const nlohmann::json& value,
                           std::string_view root = "arguments");

} // namespace oag::adapters
