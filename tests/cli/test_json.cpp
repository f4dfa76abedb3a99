// The JSON writer of the command line (apps/json.hpp, header-only) against the test reader
// (mini_json.hpp): escaping, full-precision numbers, NaN/Inf as null, nesting, misuse.

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../../apps/json.hpp"
#include "mini_json.hpp"

namespace {

using saddle::cli::json_number;
using saddle::cli::json_quote;
using saddle::cli::JsonWriter;

TEST(JsonWriter, QuotesAndEscapes) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_quote("line\nnext\ttab\r"), "\"line\\nnext\\ttab\\r\"");
  EXPECT_EQ(json_quote(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_quote("x0+x1=5 <= λ"), "\"x0+x1=5 <= λ\"");  // UTF-8 passes through
}

TEST(JsonWriter, NumbersRoundTripAndNonFiniteIsNull) {
  EXPECT_EQ(json_number(std::nan("")), "null");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(-std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(1.0), "1");
  EXPECT_EQ(json_number(0.1), "0.1");
  const std::vector<double> values = {0.1,
                                      1.0 / 3.0,
                                      -27.999999999989384,
                                      1e-300,
                                      std::numeric_limits<double>::denorm_min(),
                                      std::numeric_limits<double>::max(),
                                      -std::numeric_limits<double>::max(),
                                      123456789012345678.0};
  for (const double v : values) {
    const std::string text = json_number(v);
    const mini_json::Value parsed = mini_json::parse(text);
    EXPECT_EQ(parsed.as_number(), v) << text;  // bit-exact: shortest round-trip text
  }
}

TEST(JsonWriter, NestedDocumentParsesBack) {
  for (const int indent : {0, 2}) {
    std::ostringstream out;
    JsonWriter json(out, indent);
    json.begin_object();
    json.key("name").value("equality-qp");
    json.key("count").value(std::size_t{184});
    json.key("negative").value(-3);
    json.key("flag").value(true);
    json.key("nothing").null();
    json.key("x").number_array(std::vector<double>{1.0, 4.0, std::nan("")});
    json.key("empty").number_array(std::vector<double>{});
    json.key("names").string_array({"a", "b\"c"});
    json.key("items").begin_array();
    json.begin_object().key("k").value(0.5).end_object();
    json.begin_array().end_array();
    json.begin_object().end_object();
    json.end_array();
    json.end_object();
    EXPECT_TRUE(json.done());
    const std::string text = out.str();
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    if (indent == 0) {
      EXPECT_EQ(text.find('\n'), text.size() - 1) << text;  // one line
    }

    const mini_json::Value v = mini_json::parse(text);
    EXPECT_EQ(v["name"].as_string(), "equality-qp");
    EXPECT_EQ(v["count"].as_number(), 184.0);
    EXPECT_EQ(v["negative"].as_number(), -3.0);
    EXPECT_TRUE(v["flag"].as_bool());
    EXPECT_TRUE(v["nothing"].is_null());
    ASSERT_EQ(v["x"].array.size(), 3u);
    EXPECT_EQ(v["x"][0].as_number(), 1.0);
    EXPECT_EQ(v["x"][1].as_number(), 4.0);
    EXPECT_TRUE(v["x"][2].is_null());
    EXPECT_TRUE(v["empty"].array.empty());
    EXPECT_EQ(v["names"][1].as_string(), "b\"c");
    EXPECT_EQ(v["items"][0]["k"].as_number(), 0.5);
    EXPECT_TRUE(v["items"][1].array.empty());
    EXPECT_TRUE(v["items"][2].object.empty());
  }
}

TEST(JsonWriter, MisuseThrowsLogicError) {
  std::ostringstream out;
  {
    JsonWriter json(out);
    EXPECT_THROW(json.key("k"), std::logic_error);  // key outside an object
  }
  {
    JsonWriter json(out);
    json.begin_object();
    EXPECT_THROW(json.value(1.0), std::logic_error);  // value without key
    EXPECT_THROW(json.end_array(), std::logic_error);  // wrong closer
  }
  {
    JsonWriter json(out);
    json.value(1.0);
    EXPECT_THROW(json.value(2.0), std::logic_error);  // second top-level value
  }
  {
    JsonWriter json(out);
    json.begin_object();
    json.key("k");
    EXPECT_THROW(json.end_object(), std::logic_error);  // dangling key
  }
}

TEST(MiniJson, RejectsMalformedText) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"unterminated", "{\"a\" 1}",
                          "nul", "[1] [2]", "{\"a\":1,\"a\":2}", "NaN", "\"tab\there\""}) {
    EXPECT_THROW(mini_json::parse(bad), std::runtime_error) << bad;
  }
  EXPECT_EQ(mini_json::parse(" \"\\u00e9\\n\" ").as_string(), "\xc3\xa9\n");
  EXPECT_EQ(mini_json::parse("-0.5e+2").as_number(), -50.0);
}

// Found by fuzzing (docs/testing.md): the reader recursed once per '[' or '{', so 100000 of
// them overflowed the stack (a crash, not an error). Nesting is now bounded.
TEST(MiniJson, DeepNestingIsAnErrorNotAStackOverflow) {
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  for (const std::string& deep : {std::string(100000, '['), objects}) {
    try {
      (void)mini_json::parse(deep);
      ADD_FAILURE() << "no error for " << deep.substr(0, 10) << "...";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("nesting deeper than 256 levels"), std::string::npos) << e.what();
    }
  }
  // The deepest accepted nesting still parses; one level more does not.
  const std::string ok = std::string(256, '[') + std::string(256, ']');
  EXPECT_EQ(mini_json::parse(ok).type, mini_json::Value::Type::array);
  EXPECT_THROW(mini_json::parse("[" + ok + "]"), std::runtime_error);
}

}  // namespace
