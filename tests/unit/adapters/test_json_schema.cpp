#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "oag/adapters/json_schema.hpp"

using namespace oag::adapters;
using nlohmann::json;

namespace {

json j(const char* text) { return json::parse(text); }

void valid(const char* schema, const char* value) {
  INFO("schema " << schema << " value " << value);
  auto r = validate_json(j(schema), j(value));
  if (!r) INFO("error: " << r.error().message);
  CHECK(r);
}

/// Expects a rejection whose message equals `message` exactly.
void invalid(const char* schema, const char* value, const std::string& message) {
  INFO("schema " << schema << " value " << value);
  auto r = validate_json(j(schema), j(value));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  CHECK(oag::http_status_of(r.error()) == 400);
  CHECK(r.error().message == message);
}

/// Expects check_tool_schema to refuse `schema` with a message starting with `prefix`.
void bad_schema(const char* schema, const std::string& prefix) {
  INFO("schema " << schema);
  auto r = check_tool_schema(j(schema));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == oag::errc::invalid_request);
  INFO("message: " << r.error().message);
  CHECK(r.error().message.rfind(prefix, 0) == 0);
}

json nested_object_schema(int levels) {
  json s = {{"type", "string"}};
  for (int i = 0; i < levels; ++i) s = {{"type", "object"}, {"properties", {{"a", s}}}};
  return s;
}

json nested_value(int levels, json leaf = "leaf") {
  json v = std::move(leaf);
  for (int i = 0; i < levels; ++i) v = {{"a", v}};
  return v;
}

} // namespace

TEST_CASE("schema: type names, integer vs number, type arrays", "[json_schema]") {
  valid(R"({"type":"string"})", R"("x")");
  valid(R"({"type":"integer"})", "3");
  valid(R"({"type":"integer"})", "-3");
  valid(R"({"type":"integer"})", "2.0");
  valid(R"({"type":"number"})", "2.5");
  valid(R"({"type":"number"})", "2");
  valid(R"({"type":"boolean"})", "false");
  valid(R"({"type":"null"})", "null");
  valid(R"({"type":"array"})", "[]");
  valid(R"({"type":"object"})", "{}");
  valid(R"({"type":["string","null"]})", "null");
  valid(R"({"type":["string","integer"]})", "7");
  invalid(R"({"type":"string"})", "1", "arguments: expected string, got integer");
  invalid(R"({"type":"integer"})", "2.5", "arguments: expected integer, got number");
  invalid(R"({"type":"number"})", R"("2")", "arguments: expected number, got string");
  invalid(R"({"type":"boolean"})", "0", "arguments: expected boolean, got integer");
  invalid(R"({"type":"object"})", "[]", "arguments: expected object, got array");
  invalid(R"({"type":"array"})", "{}", "arguments: expected array, got object");
  invalid(R"({"type":"null"})", "false", "arguments: expected null, got boolean");
  invalid(R"({"type":["string","null"]})", "1.5",
          "arguments: expected string or null, got number");
}

TEST_CASE("schema: properties, required and additionalProperties with nested paths",
          "[json_schema]") {
  const char* weather = R"({
    "type":"object",
    "properties":{
      "city":{"type":"string"},
      "days":{"type":"integer"},
      "where":{"type":"object","properties":{"lat":{"type":"number"}},"required":["lat"]}
    },
    "required":["city"],
    "additionalProperties":false})";
  valid(weather, R"({"city":"Ulaanbaatar"})");
  valid(weather, R"({"city":"Ulaanbaatar","days":3,"where":{"lat":47.9}})");
  invalid(weather, R"({"city":5})", "arguments/city: expected string, got integer");
  invalid(weather, R"({"days":1})", "arguments: missing required property \"city\"");
  invalid(weather, R"({"city":"x","where":{}})",
          "arguments/where: missing required property \"lat\"");
  invalid(weather, R"({"city":"x","where":{"lat":"north"}})",
          "arguments/where/lat: expected number, got string");
  invalid(weather, R"({"city":"x","units":"C"})", "arguments: unexpected property \"units\"");

  // additionalProperties as a schema, patternProperties exempting keys.
  const char* tags = R"({"type":"object","properties":{"id":{"type":"integer"}},
                         "patternProperties":{"^x-":{"type":"string"}},
                         "additionalProperties":{"type":"boolean"}})";
  valid(tags, R"({"id":1,"x-note":"n","flag":true})");
  invalid(tags, R"({"id":1,"flag":"yes"})", "arguments/flag: expected boolean, got string");
  invalid(tags, R"({"x-note":3})", "arguments/x-note: expected string, got integer");

  // Keys with '/' and '~' are escaped as in JSON pointers.
  invalid(R"({"properties":{"a/b~c":{"type":"string"}}})", R"({"a/b~c":1})",
          "arguments/a~1b~0c: expected string, got integer");

  invalid(R"({"minProperties":2})", R"({"a":1})", "arguments: object has fewer than 2 properties");
  invalid(R"({"maxProperties":1})", R"({"a":1,"b":2})",
          "arguments: object has more than 1 properties");
}

TEST_CASE("schema: items, tuples, array sizes and uniqueItems", "[json_schema]") {
  const char* list = R"({"type":"array","items":{"type":"string"},"minItems":1,"maxItems":3})";
  valid(list, R"(["a"])");
  invalid(list, "[]", "arguments: array has fewer than 1 items");
  invalid(list, R"(["a","b","c","d"])", "arguments: array has more than 3 items");
  invalid(list, R"(["a",2])", "arguments/1: expected string, got integer");
  invalid(R"({"properties":{"rows":{"items":{"properties":{"n":{"type":"integer"}}}}}})",
          R"({"rows":[{"n":1},{"n":"two"}]})", "arguments/rows/1/n: expected integer, got string");

  // Tuples: draft-4 array form with additionalItems, and 2020-12 prefixItems.
  const char* pair = R"({"items":[{"type":"string"},{"type":"integer"}],"additionalItems":false})";
  valid(pair, R"(["a",1])");
  invalid(pair, R"([1,1])", "arguments/0: expected string, got integer");
  invalid(pair, R"(["a",1,true])", "arguments/2: no value is allowed here");
  const char* prefix = R"({"prefixItems":[{"type":"string"}],"items":{"type":"integer"}})";
  valid(prefix, R"(["a",1,2])");
  invalid(prefix, R"(["a",1,"b"])", "arguments/2: expected integer, got string");

  const char* unique = R"({"uniqueItems":true})";
  valid(unique, R"([1,2,"1",{"a":1},{"a":2}])");
  invalid(unique, R"([1,2,3,2])", "arguments: array items must be unique (items 1 and 3 are equal)");
  invalid(unique, R"([1.0,5,1])", "arguments: array items must be unique (items 0 and 2 are equal)");
  invalid(unique, R"([{"a":[1]},{"a":[1]}])",
          "arguments: array items must be unique (items 0 and 1 are equal)");
  valid(R"({"uniqueItems":false})", "[1,1]");
}

TEST_CASE("schema: enum and const", "[json_schema]") {
  const char* units = R"({"enum":["celsius","fahrenheit",null]})";
  valid(units, R"("celsius")");
  valid(units, "null");
  invalid(units, R"("kelvin")", R"(arguments: value must be one of ["celsius","fahrenheit",null])");
  valid(R"({"enum":[1,{"a":true}]})", R"({"a":true})");
  valid(R"({"enum":[1]})", "1.0");
  valid(R"({"const":"v1"})", R"("v1")");
  invalid(R"({"const":"v1"})", R"("v2")", R"(arguments: value must be "v1")");
  invalid(R"({"const":[1,2]})", "[2,1]", "arguments: value must be [1,2]");
}

TEST_CASE("schema: numeric bounds", "[json_schema]") {
  const char* range = R"({"type":"number","minimum":1,"maximum":10})";
  valid(range, "1");
  valid(range, "10");
  valid(range, "5.5");
  invalid(range, "0.5", "arguments: 0.5 is less than the minimum 1");
  invalid(range, "11", "arguments: 11 is greater than the maximum 10");
  const char* open = R"({"exclusiveMinimum":0,"exclusiveMaximum":1})";
  valid(open, "0.5");
  invalid(open, "0", "arguments: 0 must be greater than 0");
  invalid(open, "1", "arguments: 1 must be less than 1");
  // Draft-4 boolean form.
  const char* draft4 = R"({"minimum":0,"exclusiveMinimum":true,"maximum":5,"exclusiveMaximum":true})";
  valid(draft4, "4");
  invalid(draft4, "0", "arguments: 0 must be greater than 0");
  invalid(draft4, "5", "arguments: 5 must be less than 5");
  // Large integers compare exactly (they differ only beyond double precision).
  invalid(R"({"maximum":9007199254740992})", "9007199254740993",
          "arguments: 9007199254740993 is greater than the maximum 9007199254740992");
  invalid(R"({"minimum":-1})", "-9223372036854775808",
          "arguments: -9223372036854775808 is less than the minimum -1");
  valid(R"({"minimum":-1})", "18446744073709551615");
  valid(R"({"multipleOf":0.01})", "0.07");
  valid(R"({"multipleOf":3})", "-9");
  invalid(R"({"multipleOf":3})", "10", "arguments: 10 is not a multiple of 3");
  // Bounds do not apply to other types.
  valid(R"({"minimum":1,"maximum":10,"multipleOf":3})", R"("x")");
}

TEST_CASE("schema: string length in code points and RE2 patterns", "[json_schema]") {
  const char* len = R"({"type":"string","minLength":2,"maxLength":3})";
  valid(len, R"("ab")");
  valid(len, R"("日本語")");         // 3 code points, 9 bytes
  valid(len, R"("😀😀")");           // 2 code points, 8 bytes
  invalid(len, R"("a")", "arguments: string is shorter than 2 characters");
  invalid(len, R"("日本語の")", "arguments: string is longer than 3 characters");
  const char* code = R"({"pattern":"^[A-Z]{3}$"})";
  valid(code, R"("MNT")");
  invalid(code, R"("mnt")", R"(arguments: string does not match the pattern "^[A-Z]{3}$")");
  // Unanchored search, UTF-8 aware.
  valid(R"({"pattern":"b+"})", R"("abbbc")");
  valid(R"({"pattern":"^.$"})", R"("語")");
  valid(code, "42");  // pattern applies to strings only
}

TEST_CASE("schema: anyOf, oneOf, allOf, not", "[json_schema]") {
  const char* any = R"({"anyOf":[{"type":"string"},{"type":"integer","minimum":0}]})";
  valid(any, R"("x")");
  valid(any, "3");
  invalid(any, "-1",
          "arguments: value matches none of the anyOf alternatives (alternative 0: arguments: "
          "expected string, got integer)");
  const char* one = R"({"oneOf":[{"type":"integer"},{"type":"number","minimum":10}]})";
  valid(one, "3");
  valid(one, "10.5");
  invalid(one, "12",
          "arguments: value matches oneOf alternatives 0 and 1; exactly one must match");
  invalid(one, R"("x")",
          "arguments: value matches none of the oneOf alternatives (alternative 0: arguments: "
          "expected integer, got string)");
  const char* all = R"({"allOf":[{"type":"string"},{"maxLength":2}]})";
  valid(all, R"("ab")");
  invalid(all, R"("abc")", "arguments: string is longer than 2 characters");
  const char* neg = R"({"not":{"type":"null"}})";
  valid(neg, "0");
  invalid(neg, "null", "arguments: value must not match the schema under \"not\"");
  // Nested inside properties: the path is the property's.
  invalid(R"({"properties":{"id":{"anyOf":[{"type":"string"}]}}})", R"({"id":1})",
          "arguments/id: value matches none of the anyOf alternatives (alternative 0: "
          "arguments/id: expected string, got integer)");
}

TEST_CASE("schema: nullable (OpenAPI) and boolean schemas", "[json_schema]") {
  const char* s = R"({"type":"string","nullable":true,"minLength":2})";
  valid(s, "null");
  valid(s, R"("ab")");
  invalid(s, "1", "arguments: expected string or null, got integer");
  invalid(R"({"type":"string","nullable":false})", "null", "arguments: expected string, got null");
  valid("true", R"({"anything":[1]})");
  invalid("false", "1", "arguments: no value is allowed here");
  invalid(R"({"properties":{"x":false}})", R"({"x":1})", "arguments/x: no value is allowed here");
}

TEST_CASE("schema: $ref to $defs and definitions, recursion", "[json_schema]") {
  const char* s = R"({
    "type":"object",
    "properties":{"home":{"$ref":"#/$defs/address"},"work":{"$ref":"#/definitions/address"}},
    "$defs":{"address":{"type":"object","properties":{"zip":{"type":"string"}},"required":["zip"]}},
    "definitions":{"address":{"$ref":"#/$defs/address"}}})";
  valid(s, R"({"home":{"zip":"14200"},"work":{"zip":"1"}})");
  invalid(s, R"({"home":{"zip":14200}})", "arguments/home/zip: expected string, got integer");
  invalid(s, R"({"work":{}})", "arguments/work: missing required property \"zip\"");

  const char* tree = R"({"$defs":{"node":{"type":"object","properties":{
      "name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}}}}},
    "$ref":"#/$defs/node"})";
  valid(tree, R"({"name":"a","children":[{"name":"b","children":[{"name":"c"}]}]})");
  invalid(tree, R"({"children":[{"children":[{"name":7}]}]})",
          "arguments/children/0/children/0/name: expected string, got integer");
  // Escaped pointer tokens.
  valid(R"({"$defs":{"a/b":{"type":"string"}},"$ref":"#/$defs/a~1b"})", R"("x")");
  invalid(R"({"$defs":{"a b":{"type":"string"}},"$ref":"#/$defs/a%20b"})", "1",
          "arguments: expected string, got integer");
}

TEST_CASE("schema: nesting depth is bounded, never a stack overflow", "[json_schema]") {
  // A recursive schema with a value nested deeper than the limit.
  const json recursive = j(R"({"type":"object","properties":{"a":{"$ref":"#"}}})");
  CHECK(validate_json(recursive, nested_value(10, json::object())));
  auto deep = validate_json(recursive, nested_value(300, json::object()));
  REQUIRE_FALSE(deep);
  CHECK(deep.error().code == oag::errc::invalid_request);
  CHECK(deep.error().message.find("nesting exceeds 64 levels") != std::string::npos);
  CHECK(deep.error().message.rfind("arguments/a/a/a/", 0) == 0);

  // A loop through allOf never consumes the value: stopped by the bound.
  auto loop = validate_json(j(R"({"$defs":{"x":{"allOf":[{"$ref":"#/$defs/x"}]}},"$ref":"#/$defs/x"})"),
                            j("1"));
  REQUIRE_FALSE(loop);
  CHECK(loop.error().message.find("nesting exceeds") != std::string::npos);

  // A depth stop inside "not" does not turn into a pass.
  auto negated = validate_json(j(R"({"not":{"$ref":"#/$defs/x"},"$defs":{"x":{"allOf":[{"$ref":"#/$defs/x"}]}}})"),
                               j("1"));
  REQUIRE_FALSE(negated);
  CHECK(negated.error().message.find("nesting exceeds") != std::string::npos);

  // A schema nested deeper than the limit is refused by both functions.
  CHECK(check_tool_schema(nested_object_schema(30)));
  auto too_deep = check_tool_schema(nested_object_schema(100));
  REQUIRE_FALSE(too_deep);
  CHECK(too_deep.error().message.find("schema nesting exceeds 64 levels") != std::string::npos);
  auto v = validate_json(nested_object_schema(100), nested_value(100));
  REQUIRE_FALSE(v);
  CHECK(v.error().message.rfind("invalid schema: schema/properties/a/", 0) == 0);
}

TEST_CASE("schema: exponential combinators stop at the work budget", "[json_schema]") {
  // d0 -> anyOf[d1, d1] -> anyOf[d2, d2] ... : 2^30 paths, a linear-size schema.
  json defs = json::object();
  for (int i = 0; i < 30; ++i) {
    const std::string next = "#/$defs/d" + std::to_string(i + 1);
    defs["d" + std::to_string(i)] = {{"anyOf", {{{"$ref", next}}, {{"$ref", next}}}}};
  }
  defs["d30"] = {{"type", "string"}};
  const json schema = {{"$defs", defs}, {"$ref", "#/$defs/d0"}};
  CHECK(validate_json(schema, "fine"));
  const auto t0 = std::chrono::steady_clock::now();
  auto r = validate_json(schema, 1);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("validation needs more than 200000 steps") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  // Large but ordinary values stay well within the budget.
  json many = json::array();
  for (int i = 0; i < 20000; ++i) many.push_back({{"id", i}, {"name", "n"}});
  CHECK(validate_json(j(R"({"type":"array","items":{"type":"object","properties":{
      "id":{"type":"integer"},"name":{"type":"string"}},"required":["id"]}})"), many));
}

TEST_CASE("check_tool_schema accepts typical tool schemas", "[json_schema]") {
  CHECK(check_tool_schema(j(R"({"type":"object","properties":{}})")));
  CHECK(check_tool_schema(j("{}")));
  CHECK(check_tool_schema(j(R"({
    "type":"object",
    "description":"ignored", "x-vendor":{"type":12},
    "properties":{
      "location":{"type":"string","description":"City","pattern":"^\\w+","format":"city"},
      "unit":{"type":["string","null"],"enum":["c","f",null]},
      "limit":{"type":"integer","minimum":1,"maximum":100,"exclusiveMaximum":false,"multipleOf":1},
      "tags":{"type":"array","items":{"type":"string"},"uniqueItems":true,"minItems":0},
      "meta":{"anyOf":[{"type":"object","additionalProperties":{"type":"string"}},{"type":"null"}]},
      "type":{"type":"string","nullable":true}
    },
    "required":["location"],
    "additionalProperties":false})")));
}

TEST_CASE("check_tool_schema rejections name the keyword path", "[json_schema]") {
  bad_schema(R"("object")", "parameters: a tool parameters schema must be a JSON object");
  bad_schema("true", "parameters: a tool parameters schema must be a JSON object");
  bad_schema(R"({"type":"string"})", "parameters/type: a tool parameters schema must have type");
  bad_schema(R"({"type":"object","properties":[]})",
             "parameters/properties: expected an object of schemas");
  bad_schema(R"({"properties":{"a":{"type":"text"}}})",
             "parameters/properties/a/type: unknown type \"text\"");
  bad_schema(R"({"properties":{"a":{"type":["string","string"]}}})",
             "parameters/properties/a/type: type \"string\" is listed twice");
  bad_schema(R"({"properties":{"a":{"type":[]}}})", "parameters/properties/a/type: expected");
  bad_schema(R"({"properties":{"a":3}})",
             "parameters/properties/a: a schema must be an object or a boolean, got integer");
  bad_schema(R"({"required":"city"})", "parameters/required: expected an array of property names");
  bad_schema(R"({"required":[1]})", "parameters/required: expected an array of property names");
  bad_schema(R"({"additionalProperties":"no"})",
             "parameters/additionalProperties: expected a schema");
  bad_schema(R"({"properties":{"a":{"items":[1]}}})",
             "parameters/properties/a/items/0: a schema must be an object or a boolean");
  bad_schema(R"({"properties":{"a":{"enum":[]}}})",
             "parameters/properties/a/enum: expected a non-empty array");
  bad_schema(R"({"properties":{"a":{"minimum":"1"}}})",
             "parameters/properties/a/minimum: expected a number");
  bad_schema(R"({"properties":{"a":{"exclusiveMaximum":"1"}}})",
             "parameters/properties/a/exclusiveMaximum: expected a number");
  bad_schema(R"({"properties":{"a":{"multipleOf":0}}})",
             "parameters/properties/a/multipleOf: expected a number greater than 0");
  bad_schema(R"({"properties":{"a":{"maxLength":-1}}})",
             "parameters/properties/a/maxLength: expected a non-negative integer");
  bad_schema(R"({"properties":{"a":{"minItems":1.5}}})",
             "parameters/properties/a/minItems: expected a non-negative integer");
  bad_schema(R"({"properties":{"a":{"pattern":"(unclosed"}}})",
             "parameters/properties/a/pattern: not a supported regular expression");
  // Lookahead is ECMA-262 but not RE2: refused up front, not at call time.
  bad_schema(R"J({"properties":{"a":{"pattern":"^(?=x)"}}})J",
             "parameters/properties/a/pattern: not a supported regular expression");
  bad_schema(R"({"patternProperties":{"[":{}}})",
             "parameters/patternProperties/[: not a supported regular expression");
  bad_schema(R"({"properties":{"a":{"uniqueItems":"yes"}}})",
             "parameters/properties/a/uniqueItems: expected true or false");
  bad_schema(R"({"properties":{"a":{"nullable":1}}})",
             "parameters/properties/a/nullable: expected true or false");
  bad_schema(R"({"properties":{"a":{"anyOf":[]}}})",
             "parameters/properties/a/anyOf: expected at least one schema");
  bad_schema(R"({"properties":{"a":{"oneOf":{}}}})",
             "parameters/properties/a/oneOf: expected an array of schemas");
  bad_schema(R"({"properties":{"a":{"not":1}}})", "parameters/properties/a/not: expected a schema");
  bad_schema(R"({"$defs":{"x":{"type":1}}})", "parameters/$defs/x/type: expected a type name");
  bad_schema(R"({"$defs":{"x":{"type":["string",1]}}})", "parameters/$defs/x/type: unknown type 1");
  bad_schema(R"({"properties":{"a":{"$ref":"#/$defs/missing"}}})",
             "parameters/properties/a/$ref: \"#/$defs/missing\" does not resolve");
  bad_schema(R"({"properties":{"a":{"$ref":"https://example.com/s.json"}}})",
             "parameters/properties/a/$ref: \"https://example.com/s.json\" does not resolve");
  bad_schema(R"({"properties":{"a":{"$ref":"#/required"}},"required":["a"]})",
             "parameters/properties/a/$ref: \"#/required\" does not point to a schema");
  bad_schema(R"({"properties":{"a":{"$ref":7}}})", "parameters/properties/a/$ref: expected a string");
  bad_schema(R"({"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}})",
             "parameters/$defs/a/$ref: \"#/$defs/b\" is part of a $ref cycle");
  bad_schema(R"({"$defs":{"a":{"$ref":"#/$defs/a"}}})",
             "parameters/$defs/a/$ref: \"#/$defs/a\" is part of a $ref cycle");
  // A $ref target outside the checked keywords is checked under its own path.
  bad_schema(R"({"x-lib":{"s":{"type":"nope"}},"properties":{"a":{"$ref":"#/x-lib/s"}}})",
             "parameters/x-lib/s/type: unknown type \"nope\"");
}

TEST_CASE("validate_json reports a bad schema as such", "[json_schema]") {
  auto r = validate_json(j(R"({"properties":{"a":{"type":"str"}}})"), j(R"({"a":"x"})"));
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "invalid schema: schema/properties/a/type: unknown type \"str\"");
  auto custom = validate_json(j(R"({"type":"string"})"), j("1"), "tool_call.arguments");
  REQUIRE_FALSE(custom);
  CHECK(custom.error().message == "tool_call.arguments: expected string, got integer");
}
