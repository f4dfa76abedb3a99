// The JSON of the command line (apps/json_io.hpp, on nlohmann-json): what json_text prints
// (escaping, full-precision numbers, NaN/Inf as null, key order, invalid UTF-8), and the
// strict reader parse_json (malformed text, duplicate keys, nesting limit: one-line
// std::runtime_error, never a crash).

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "json_io.hpp"

namespace {

using saddle::cli::Json;
using saddle::cli::json_number;
using saddle::cli::json_text;
using saddle::cli::number_array;
using saddle::cli::parse_json;

TEST(JsonText, QuotesAndEscapes) {
  EXPECT_EQ(json_text(Json("plain"), 2), "\"plain\"\n");
  EXPECT_EQ(json_text(Json("a\"b\\c"), 2), "\"a\\\"b\\\\c\"\n");
  EXPECT_EQ(json_text(Json("line\nnext\ttab\r"), 2), "\"line\\nnext\\ttab\\r\"\n");
  EXPECT_EQ(json_text(Json(std::string("\x01\x1f", 2)), 2), "\"\\u0001\\u001f\"\n");
  EXPECT_EQ(json_text(Json("x0+x1=5 <= λ"), 2), "\"x0+x1=5 <= λ\"\n");  // UTF-8 passes through
  // Bytes that are not UTF-8 (a user's file name, say) are replaced, never an exception.
  EXPECT_EQ(json_text(Json(std::string("a\xff"
                                       "b")),
                      0),
            "\"a\xef\xbf\xbd"
            "b\"\n");
}

TEST(JsonText, NumbersRoundTripAndNonFiniteIsNull) {
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(1.0), "1");
  EXPECT_EQ(json_number(0.1), "0.1");
  Json nonfinite = Json::array();
  nonfinite.push_back(std::nan(""));
  nonfinite.push_back(std::numeric_limits<double>::infinity());
  nonfinite.push_back(-std::numeric_limits<double>::infinity());
  EXPECT_EQ(json_text(nonfinite, 0), "[null,null,null]\n");
  const std::vector<double> values = {0.1,
                                      1.0 / 3.0,
                                      -27.999999999989384,
                                      1e-300,
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::max(),
                                      -std::numeric_limits<double>::max(),
                                      123456789012345678.0};
  for (const double v : values) {
    for (const std::string& text : {json_number(v), json_text(Json(v), 0)}) {
      const Json parsed = parse_json(text);
      EXPECT_EQ(parsed.get<double>(), v) << text;  // bit-exact: max_digits10 or shortest round-trip
    }
  }
  // A float is printed as the double it converts to (as the old writer did).
  EXPECT_EQ(parse_json(json_text(Json(0.1f), 0)).get<double>(), static_cast<double>(0.1f));
}

TEST(JsonText, KeysKeepInsertionOrderOnOneLineOrIndented) {
  Json j;
  j["name"] = "equality-qp";
  j["count"] = std::size_t{184};
  j["negative"] = -3;
  j["flag"] = true;
  j["nothing"] = nullptr;
  j["x"] = number_array(std::vector<double>{1.0, 4.0, std::nan("")});
  j["empty"] = number_array(std::vector<double>{});
  j["names"] = std::vector<std::string>{"a", "b\"c"};
  EXPECT_EQ(
      json_text(j, 0),
      "{\"name\":\"equality-qp\",\"count\":184,\"negative\":-3,\"flag\":true,\"nothing\":null,"
      "\"x\":[1,4,null],\"empty\":[],\"names\":[\"a\",\"b\\\"c\"]}\n");
  EXPECT_EQ(json_text(Json{{"b", 1}, {"a", 2}}, 2), "{\n  \"b\": 1,\n  \"a\": 2\n}\n");
  // The layout of the former writer: arrays of scalars on one line, containers of containers
  // one element per line, empty containers as {} and [].
  Json nested;
  nested["x"] = number_array(std::vector<double>{1.0, 0.5});
  nested["items"] = Json::array({Json{{"k", 0.25}}, Json::array(), Json::object()});
  nested["known"] = Json{{"loss", 70.0}, {"names", Json::array({"a", "b"})}};
  EXPECT_EQ(json_text(nested, 2),
            "{\n"
            "  \"x\": [1, 0.5],\n"
            "  \"items\": [\n"
            "    {\n"
            "      \"k\": 0.25\n"
            "    },\n"
            "    [],\n"
            "    {}\n"
            "  ],\n"
            "  \"known\": {\n"
            "    \"loss\": 70,\n"
            "    \"names\": [\"a\", \"b\"]\n"
            "  }\n"
            "}\n");
  EXPECT_EQ(json_text(parse_json(json_text(j, 2)), 0), json_text(j, 0));  // NaN came back as null
}

TEST(JsonText, StrictAccessorsNameTheKey) {
  const Json j = parse_json(R"({"a": 1.5, "n": null, "s": "t", "v": [1, null]})");
  EXPECT_EQ(saddle::cli::json_number_at(j, "a"), 1.5);
  EXPECT_TRUE(std::isnan(saddle::cli::json_number_or_nan_at(j, "n")));
  EXPECT_EQ(saddle::cli::json_string_at(j, "s"), "t");
  EXPECT_EQ(saddle::cli::json_array_at(j, "v").size(), 2u);
  auto message = [&](auto f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message([&] { saddle::cli::json_number_at(j, "missing"); }), "missing key 'missing'");
  EXPECT_EQ(message([&] { saddle::cli::json_number_at(j, "s"); }), "'s' is not a number");
  EXPECT_EQ(message([&] { saddle::cli::json_number_at(j, "n"); }), "'n' is not a number");
  EXPECT_EQ(message([&] { saddle::cli::json_string_at(j, "a"); }), "'a' is not a string");
  EXPECT_EQ(message([&] { saddle::cli::json_array_at(j, "a"); }), "'a' is not an array");
  EXPECT_EQ(message([&] { saddle::cli::json_member(j["v"], "k"); }),
            "not an object (looking up 'k')");
}

TEST(ParseJson, RejectsMalformedTextWithOneLine) {
  for (const char* bad :
       {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"unterminated", "{\"a\" 1}", "nul",
        "[1] [2]", "{\"a\":1,\"a\":2}", "NaN", "\"tab\there\"", "[1]\n{", "\xff"}) {
    try {
      (void)parse_json(bad);
      ADD_FAILURE() << "no error for " << bad;
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind("JSON: ", 0), 0u) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  EXPECT_EQ(parse_json(" \"\\u00e9\\n\" ").get<std::string>(), "\xc3\xa9\n");
  EXPECT_EQ(parse_json("-0.5e+2").get<double>(), -50.0);
  try {
    (void)parse_json("{\"a\":1,\"a\":2}");
    ADD_FAILURE();
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "JSON: duplicate key 'a'");
  }
  // The same key in two different objects is no duplicate.
  EXPECT_NO_THROW((void)parse_json("{\"a\":{\"a\":1},\"b\":{\"a\":2}}"));
}

// Found by fuzzing the former hand-written reader (docs/testing.md): it recursed once per
// '[' or '{', so 100000 of them overflowed the stack. nlohmann's parser is iterative, but the
// values are walked recursively afterwards (printing, copying, the tests' tree): nesting
// stays bounded at kMaxJsonDepth = 256 levels.
TEST(ParseJson, DeepNestingIsAnErrorNotAStackOverflow) {
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  for (const std::string& deep : {std::string(100000, '['), objects}) {
    try {
      (void)parse_json(deep);
      ADD_FAILURE() << "no error for " << deep.substr(0, 10) << "...";
    } catch (const std::runtime_error& e) {
      EXPECT_EQ(std::string(e.what()), "JSON: nesting deeper than 256 levels");
    }
  }
  // The deepest accepted nesting still parses; one level more does not.
  const std::string ok = std::string(256, '[') + std::string(256, ']');
  EXPECT_TRUE(parse_json(ok).is_array());
  EXPECT_THROW((void)parse_json("[" + ok + "]"), std::runtime_error);
  std::string ok_objects;
  for (int i = 0; i < 255; ++i) ok_objects += "{\"a\":";
  ok_objects += "{}" + std::string(255, '}');
  EXPECT_TRUE(parse_json(ok_objects).is_object());
}

}  // namespace
