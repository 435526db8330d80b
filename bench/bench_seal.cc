// Sealing and opening throughput against raw OpenSSL EVP AES-256-GCM over the same bytes in one call, measured in
// the same run. Prints Google Benchmark's table, then the ratios (target: >= 0.90 for sealing and opening).
//
// The baseline includes OpenSSL's EVP header directly: it measures OpenSSL itself, outside the product's
// crypto/ module on purpose.
#include <openssl/evp.h>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "core/byte_stream.h"
#include "crypto/primitives.h"
#include "seal/cobblestone.h"
#include "seal/envelope.h"
#include "seal/sealed_reader.h"

namespace {

using namespace blobseal;

class NullSink final : public ByteSink {
 public:
  Status write(std::span<const std::uint8_t> data) override {
    benchmark::DoNotOptimize(data.data());
    return {};
  }
};

class VectorSink final : public ByteSink {
 public:
  Status write(std::span<const std::uint8_t> data) override {
    out.insert(out.end(), data.begin(), data.end());
    return {};
  }
  std::vector<std::uint8_t> out;
};

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  std::mt19937_64 rng(42);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  return v;
}

const SecretBytes& bench_key() {
  static SecretBytes key = crypto::random_secret(32);
  return key;
}

// One-call EVP AES-256-GCM over `size` bytes: the ceiling the chunked format is measured against.
void RawEvpSeal(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  auto in = random_bytes(size);
  std::vector<std::uint8_t> out(size + 16);
  std::uint8_t iv[12] = {1};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  for (auto _ : state) {
    int len = 0;
    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, bench_key().data(), iv);
    EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(size));
    EVP_EncryptFinal_ex(ctx, out.data() + len, &len);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out.data() + size);
    benchmark::DoNotOptimize(out.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void RawEvpOpen(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  auto in = random_bytes(size);
  std::vector<std::uint8_t> ct(size), out(size);
  std::uint8_t iv[12] = {1}, tag[16];
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, bench_key().data(), iv);
  EVP_EncryptUpdate(ctx, ct.data(), &len, in.data(), static_cast<int>(size));
  EVP_EncryptFinal_ex(ctx, ct.data() + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag);
  for (auto _ : state) {
    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, bench_key().data(), iv);
    EVP_DecryptUpdate(ctx, out.data(), &len, ct.data(), static_cast<int>(size));
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag);
    if (EVP_DecryptFinal_ex(ctx, out.data() + len, &len) != 1) state.SkipWithError("tag mismatch");
    benchmark::DoNotOptimize(out.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// Streaming seal of a whole object (key derivation, header, every chunk), output discarded.
void Seal(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  auto in = random_bytes(size);
  seal::ObjectId id = seal::new_object_id();
  NullSink sink;
  for (auto _ : state) {
    auto encryptor = seal::begin_stream(bench_key(), id, 0, sink);
    if (!encryptor || !encryptor->write(in) || !encryptor->finish()) state.SkipWithError("seal failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

struct SealedObject {
  std::vector<std::uint8_t> body;
  seal::ObjectId id{};
};

SealedObject make_sealed(std::size_t size) {
  SealedObject object;
  object.id = seal::new_object_id();
  VectorSink sink;
  auto in = random_bytes(size);
  auto encryptor = seal::begin_stream(bench_key(), object.id, 0, sink);
  (void)encryptor->write(in);
  (void)encryptor->finish();
  object.body = std::move(sink.out);
  return object;
}

// Random-access open of a whole object (commitment check, every chunk verified), as `blobseal get` and GET do.
void Open(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  SealedObject object = make_sealed(size);
  NullSink sink;
  auto context = seal::stream_context(object.id, 0);
  for (auto _ : state) {
    SpanSource source(object.body);
    auto reader = seal::StreamReader::open(source, 0, object.body.size(), bench_key().view(), context);
    if (!reader || !reader->read(0, size, sink)) state.SkipWithError("open failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// Streaming open (push-style decryptor), as `blobseal decrypt` from a pipe does.
void OpenStreaming(benchmark::State& state) {
  std::size_t size = static_cast<std::size_t>(state.range(0));
  SealedObject object = make_sealed(size);
  NullSink sink;
  auto context = seal::stream_context(object.id, 0);
  for (auto _ : state) {
    auto decryptor = seal::StreamDecryptor::create(bench_key().view(), context, sink);
    if (!decryptor || !decryptor->update(object.body) || !decryptor->finish()) state.SkipWithError("open failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

// Random 4 KiB range reads from an open 64 MiB object; bytes counted are the 4 KiB delivered.
void RandomRead4K(benchmark::State& state) {
  constexpr std::size_t kSize = 64 << 20, kRead = 4096;
  SealedObject object = make_sealed(kSize);
  SpanSource source(object.body);
  auto reader = seal::StreamReader::open(source, 0, object.body.size(), bench_key().view(),
                                         seal::stream_context(object.id, 0));
  std::mt19937_64 rng(7);
  std::vector<std::uint8_t> out(kRead);
  for (auto _ : state) {
    std::uint64_t pos = rng() % (kSize - kRead);
    if (!reader->read_into(pos, out)) state.SkipWithError("read failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRead));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Baseline for the random reads: one-call EVP decryption of the 16 KiB chunk a 4 KiB read must verify.
void RawEvpOpenChunk(benchmark::State& state) {
  state.range(0);
  RawEvpOpen(state);
}

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const auto& run : runs) {
      if (run.error_occurred) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) rates[run.benchmark_name()] = it->second.value;
    }
  }
  std::map<std::string, double> rates;
};

}  // namespace

BENCHMARK(RawEvpSeal)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(Seal)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(RawEvpOpen)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(Open)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(OpenStreaming)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(RandomRead4K)->Unit(benchmark::kMicrosecond);
BENCHMARK(RawEvpOpenChunk)->Arg(16384)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto rate = [&](const std::string& name) {
    auto it = reporter.rates.find(name);
    return it == reporter.rates.end() ? 0.0 : it->second;
  };
  auto line = [&](const char* label, const std::string& ours, const std::string& base) {
    double a = rate(ours), b = rate(base);
    if (a > 0 && b > 0)
      std::printf("%-34s %8.0f MiB/s vs raw EVP %8.0f MiB/s  ratio %.2f\n", label, a / (1 << 20), b / (1 << 20), a / b);
  };
  std::printf("\nblobseal vs one-call OpenSSL EVP AES-256-GCM, one core (aes acceleration: %s)\n",
              blobseal::crypto::cpu_has_aes_acceleration() ? "yes" : "NO");
  line("seal 1 MiB (streaming)", "Seal/1048576", "RawEvpSeal/1048576");
  line("seal 64 MiB (streaming)", "Seal/67108864", "RawEvpSeal/67108864");
  line("open 1 MiB (random-access reader)", "Open/1048576", "RawEvpOpen/1048576");
  line("open 64 MiB (random-access reader)", "Open/67108864", "RawEvpOpen/67108864");
  line("open 1 MiB (streaming decryptor)", "OpenStreaming/1048576", "RawEvpOpen/1048576");
  line("open 64 MiB (streaming decryptor)", "OpenStreaming/67108864", "RawEvpOpen/67108864");
  double reads = rate("RandomRead4K") / 4096, chunks = rate("RawEvpOpenChunk/16384") / 16384;
  if (reads > 0 && chunks > 0)
    std::printf("%-34s %8.0f reads/s vs raw EVP of the covering 16 KiB chunk %8.0f/s  ratio %.2f\n",
                "random 4 KiB range reads", reads, chunks, reads / chunks);
  return 0;
}
