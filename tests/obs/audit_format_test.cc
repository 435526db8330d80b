// The audit line format (one JSON object of printable ASCII per event, whatever the client sent), RFC 3339 times,
// and the in-memory and null sinks.
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "obs/audit.h"

namespace blobseal::obs::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

Clock::time_point at_millis(std::int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

AuditEvent sample_event() {
  AuditEvent event;
  event.time = at_millis(1714566896789);
  event.request_id = "req-0001";
  event.principal = "AKIAEXAMPLE";
  event.tenant = "acme";
  event.action = "GetObject";
  event.bucket = "photos";
  event.key = "2024/a.jpg";
  event.bytes_in = 0;
  event.bytes_out = 12345;
  event.http_status = 206;
  event.client_address = "203.0.113.7:53412";
  event.user_agent = "aws-cli/2.9";
  event.duration = 1234us;
  event.key_id = "default";
  event.key_version = 3;
  return event;
}

bool printable_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

TEST(AuditFormat, Rfc3339MillisecondsUtc) {
  EXPECT_EQ(format_rfc3339_millis(at_millis(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_millis(at_millis(1714566896789)), "2024-05-01T12:34:56.789Z");
  EXPECT_EQ(format_rfc3339_millis(at_millis(951782400000)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_millis(at_millis(-1)), "1969-12-31T23:59:59.999Z");
  // Sub-millisecond precision is truncated, never rounded up into the next second.
  EXPECT_EQ(format_rfc3339_millis(at_millis(1999) + 999us), "1970-01-01T00:00:01.999Z");
}

TEST(AuditFormat, EveryFieldInTheDocumentedOrder) {
  std::string line = format_audit_line(sample_event());
  EXPECT_EQ(line,
            R"({"time":"2024-05-01T12:34:56.789Z","request_id":"req-0001","principal":"AKIAEXAMPLE","tenant":"acme",)"
            R"("action":"GetObject","bucket":"photos","key":"2024/a.jpg","bytes_in":0,"bytes_out":12345,"status":206,)"
            R"("error_code":null,"client_address":"203.0.113.7:53412","user_agent":"aws-cli/2.9","duration_ms":1.234,)"
            R"("key_id":"default","key_version":3})");
}

TEST(AuditFormat, AbsentOptionalsAreNullSoTheSchemaNeverChanges) {
  AuditEvent event;
  event.http_status = 403;
  event.error_code = "AccessDenied";
  auto json = nlohmann::json::parse(format_audit_line(event));
  EXPECT_EQ(json.size(), 16u);
  EXPECT_TRUE(json["user_agent"].is_null());
  EXPECT_TRUE(json["key_id"].is_null());
  EXPECT_TRUE(json["key_version"].is_null());
  EXPECT_EQ(json["error_code"], "AccessDenied");
  EXPECT_EQ(json["principal"], "");
  EXPECT_EQ(json["time"], "1970-01-01T00:00:00.000Z");
}

TEST(AuditFormat, HasNoFieldThatCouldHoldASecret) {
  // The field set is closed: a new field must be added here on purpose, after asking whether it can leak a secret.
  std::set<std::string> fields;
  // The parsed document must outlive the loop: items() only refers to it.
  const nlohmann::json line = nlohmann::json::parse(format_audit_line(sample_event()));
  for (auto& [name, value] : line.items()) fields.insert(name);
  EXPECT_EQ(fields, (std::set<std::string>{"time", "request_id", "principal", "tenant", "action", "bucket", "key",
                                           "bytes_in", "bytes_out", "status", "error_code", "client_address",
                                           "user_agent", "duration_ms", "key_id", "key_version"}));
  for (const auto& name : fields) {
    EXPECT_EQ(name.find("secret"), std::string::npos);
    EXPECT_EQ(name.find("signature"), std::string::npos);
    EXPECT_EQ(name.find("authorization"), std::string::npos);
    EXPECT_EQ(name.find("token"), std::string::npos);
  }
}

TEST(AuditFormat, HostileStringsStayOnePrintableLineAndRoundTrip) {
  const std::vector<std::string> hostile = {
      "a\"b\\c",                                    // quote and backslash
      "line1\nline2\r\n{\"forged\":true}",          // line injection
      std::string("nul\0byte", 8),                  // embedded NUL
      "\x1b[31mred\x1b[0m\x07\x08\x7f",             // terminal escapes, bell, backspace, DEL
      "tab\tvt\vff\f",
      "caf\xc3\xa9 \xe2\x80\xa8 \xe2\x80\xa9 \xf0\x9f\x94\x92",  // é, U+2028, U+2029, an emoji
      "\xc2\x9b" "31m",                             // U+009B, the 8-bit CSI
  };
  for (const auto& text : hostile) {
    AuditEvent event = sample_event();
    event.key = text;
    event.bucket = text;
    event.user_agent = text;
    event.request_id = text;
    std::string line = format_audit_line(event);
    EXPECT_TRUE(printable_ascii(line)) << line;
    auto json = nlohmann::json::parse(line);
    EXPECT_EQ(json["key"].get<std::string>(), text);
    EXPECT_EQ(json["bucket"].get<std::string>(), text);
    EXPECT_EQ(json["user_agent"].get<std::string>(), text);
  }
}

TEST(AuditFormat, InvalidUtf8IsReplacedNotFatal) {
  const std::vector<std::string> invalid = {
      "\xff\xfe", "trunc\xc3", "\xc0\xaf overlong", "\xed\xa0\x80 surrogate", "\x80 lone continuation",
      std::string("\xf4\x90\x80\x80", 4),  // above U+10FFFF
  };
  for (const auto& text : invalid) {
    AuditEvent event = sample_event();
    event.key = "prefix/" + text + "/suffix";
    std::string line;
    ASSERT_NO_THROW(line = format_audit_line(event));
    EXPECT_TRUE(printable_ascii(line)) << line;
    auto key = nlohmann::json::parse(line)["key"].get<std::string>();
    EXPECT_TRUE(key.starts_with("prefix/")) << key;
    EXPECT_TRUE(key.ends_with("/suffix")) << key;
    EXPECT_NE(key.find("\xef\xbf\xbd"), std::string::npos) << "expected U+FFFD in " << key;
  }
}

TEST(AuditFormat, DurationHasMicrosecondResolution) {
  AuditEvent event;
  event.duration = 7us;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(format_audit_line(event))["duration_ms"].get<double>(), 0.007);
  event.duration = 90s;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(format_audit_line(event))["duration_ms"].get<double>(), 90000);
}

TEST(MemoryAuditSink, KeepsEventsInOrderUpToItsBound) {
  MemoryAuditSink sink(3);
  for (int i = 0; i < 5; ++i) {
    AuditEvent event;
    event.request_id = std::to_string(i);
    sink.record(std::move(event));
  }
  auto events = sink.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].request_id, "0");
  EXPECT_EQ(events[2].request_id, "2");
  EXPECT_EQ(sink.dropped(), 2u);
  EXPECT_TRUE(sink.flush());
  sink.clear();
  EXPECT_EQ(sink.size(), 0u);
  EXPECT_EQ(sink.dropped(), 0u);
}

TEST(MemoryAuditSink, TakesEventsFromManyThreads) {
  MemoryAuditSink sink;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) sink.record(AuditEvent{});
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(sink.size(), 4000u);
}

TEST(NullAuditSink, DiscardsAndFlushes) {
  NullAuditSink sink;
  AuditSink& as_interface = sink;
  as_interface.record(sample_event());
  EXPECT_TRUE(as_interface.flush());
}

}  // namespace
}  // namespace blobseal::obs::testing
