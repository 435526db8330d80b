// Helpers shared by the SigV4 tests: files, HTTP request text, credential stores, fixed clocks.
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/byte_stream.h"
#include "fake_request.h"
#include "s3/credentials.h"
#include "s3/sigv4.h"

namespace blobseal::s3::testing {

inline std::string read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// An HTTP/1.1 request as the AWS signing suite writes it: "METHOD target HTTP/1.1" (the target may contain spaces),
// "Name:value" lines, continuation lines starting with whitespace (joined with a space), an empty line, the body.
inline std::unique_ptr<FakeRequest> parse_request_text(std::string_view text) {
  auto next_line = [&text]() {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    return line;
  };
  std::string_view request_line = next_line();
  auto first_space = request_line.find(' ');
  auto last_space = request_line.rfind(' ');
  std::string method(request_line.substr(0, first_space));
  std::string target(request_line.substr(first_space + 1, last_space - first_space - 1));
  std::vector<http::Header> headers;
  while (!text.empty()) {
    std::string_view line = next_line();
    if (line.empty()) break;
    if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
      headers.back().value += " ";
      headers.back().value += std::string(line);
      continue;
    }
    auto colon = line.find(':');
    headers.push_back({std::string(line.substr(0, colon)), std::string(line.substr(colon + 1))});
  }
  return std::make_unique<FakeRequest>(std::move(method), std::move(target), std::move(headers), std::string(text));
}

inline std::string strip_trailing_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

inline std::chrono::system_clock::time_point amz_time(std::string_view iso_basic) {
  auto t = parse_amz_date(iso_basic);
  EXPECT_TRUE(t.has_value()) << iso_basic;
  return t.value_or(std::chrono::system_clock::time_point{});
}

inline Credential make_credential(std::string access_key, std::string_view secret) {
  return Credential{std::move(access_key), SecretBytes(as_bytes(secret)), "default"};
}

// Reads a source to its end; the error if a read fails (bytes read before it are dropped).
inline Result<std::string> read_all(ByteSource& source) {
  std::string out;
  std::vector<std::uint8_t> buffer(7919);  // an odd size, so reads straddle chunk boundaries
  while (true) {
    std::size_t n = BLOBSEAL_TRY(source.read(buffer));
    if (n == 0) return out;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
}

inline std::string header_value(const std::vector<http::Header>& headers, std::string_view name) {
  for (const auto& h : headers)
    if (h.name.size() == name.size() &&
        std::equal(h.name.begin(), h.name.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      return h.value;
  return {};
}

}  // namespace blobseal::s3::testing
