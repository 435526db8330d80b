// The key-manager decorator on a real local keyring: every call counted by provider, operation and result, timed,
// successful unwraps counted per key version, and each failed wrap or unwrap written to a real audit sink (a
// JSON-lines file) with the key and version concerned and no key material.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/bytes.h"
#include "crypto/primitives.h"
#include "keys/local/local_keyring.h"
#include "obs/instrumented_key_manager.h"
#include "obs/json_lines_file_sink.h"
#include "test_support.h"

namespace blobseal::obs::testing {
namespace {

ByteSpan bytes_of(std::string_view s) { return as_bytes(s); }

TEST(InstrumentedKeyManager, CountsTimesAndAuditsEveryCall) {
  TempDir dir;
  Metrics metrics("test");
  auto sink = JsonLinesFileSink::open(dir.file("audit.log"), {});
  ASSERT_TRUE(sink) << sink.error().to_string();
  SecretBytes key = crypto::random_secret(32);
  auto keyring = keys::LocalKeyring::from_blob_key(to_base64(key.view()));
  ASSERT_TRUE(keyring) << keyring.error().to_string();
  InstrumentedKeyManager manager(std::move(*keyring), metrics, **sink);
  EXPECT_EQ(manager.id(), "local");

  auto data_key = manager.generate_data_key(bytes_of("tenant/bucket/key/id"));
  ASSERT_TRUE(data_key) << data_key.error().to_string();
  ASSERT_TRUE(manager.unwrap(data_key->wrapped, bytes_of("tenant/bucket/key/id")));
  ASSERT_TRUE(manager.unwrap(data_key->wrapped, bytes_of("tenant/bucket/key/id")));
  auto moved = manager.unwrap(data_key->wrapped, bytes_of("tenant/bucket/other/id"));  // another location
  ASSERT_FALSE(moved);
  EXPECT_EQ(moved.error().code(), ErrorCode::kDataLoss);
  ASSERT_TRUE(manager.health());

  auto samples = parse_samples(metrics.render());
  EXPECT_EQ(samples[R"(kms_calls_total{operation="generate_data_key",provider="local",status="ok"})"], 1);
  EXPECT_EQ(samples[R"(kms_calls_total{operation="unwrap",provider="local",status="ok"})"], 2);
  EXPECT_EQ(samples[R"(kms_calls_total{operation="unwrap",provider="local",status="integrity_failure"})"], 1);
  EXPECT_EQ(samples[R"(kms_calls_total{operation="health",provider="local",status="ok"})"], 1);
  EXPECT_EQ(samples[R"(kms_call_duration_seconds_count{operation="unwrap",provider="local"})"], 3);
  std::string version = std::to_string(data_key->wrapped.version);
  EXPECT_EQ(samples["kms_unwraps_by_key_version_total{key=\"" + data_key->wrapped.key_id + "\",provider=\"local\","
                    "version=\"" + version + "\"}"],
            2);
  auto check = promtool_check_metrics(metrics.render());
  EXPECT_EQ(check.exit_code, 0) << check.output;

  ASSERT_TRUE((*sink)->flush());
  auto lines = read_lines(dir.file("audit.log"));
  ASSERT_EQ(lines.size(), 1u) << "one failed call, one record";
  auto event = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(event["action"], "KmsUnwrap");
  EXPECT_EQ(event["error_code"], "integrity_failure");
  EXPECT_EQ(event["key_id"], data_key->wrapped.key_id);
  EXPECT_EQ(event["key_version"], data_key->wrapped.version);
  EXPECT_EQ(lines[0].find(to_base64(key.view())), std::string::npos);
  EXPECT_EQ(lines[0].find(to_base64(data_key->plaintext.view())), std::string::npos);
}

}  // namespace
}  // namespace blobseal::obs::testing
