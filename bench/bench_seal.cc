// Sealing and opening throughput against raw OpenSSL EVP AES-256-GCM over the same bytes in one call, measured in
// the same run. Prints Google Benchmark's table, then the ratios (target: >= 0.90 for sealing and opening).
//
// The baseline includes OpenSSL's EVP header directly: it measures OpenSSL itself, outside the product's
// crypto/ module on purpose.
#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <string_view>
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

// The same bytes as RawEvpOpen, laid out and opened as Cobblestone's chunks are (a 56-byte header, then 16 KiB of
// ciphertext and its tag per chunk, so chunks start 16400 bytes apart and off cache-line alignment; one EVP init,
// update and tag check per chunk), straight from memory with nothing else: the floor the format itself sets, which
// separates the format's cost from the implementation's.
void RawEvpOpenChunked(benchmark::State& state) {
  constexpr std::size_t kChunk = 16384;
  std::size_t size = static_cast<std::size_t>(state.range(0));
  std::size_t chunks = size / kChunk;
  auto in = random_bytes(size);
  constexpr std::size_t kStride = kChunk + 16, kHeader = 56;
  std::vector<std::uint8_t> ct(kHeader + chunks * kStride), out(kChunk * 32);
  std::uint8_t iv[12] = {1};
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, bench_key().data(), nullptr);
  for (std::size_t c = 0; c < chunks; ++c) {
    int len = 0;
    iv[11] = static_cast<std::uint8_t>(c);
    iv[10] = static_cast<std::uint8_t>(c >> 8);
    EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, iv);
    std::uint8_t* sealed = ct.data() + kHeader + c * kStride;
    EVP_EncryptUpdate(ctx, sealed, &len, in.data() + c * kChunk, static_cast<int>(kChunk));
    EVP_EncryptFinal_ex(ctx, nullptr, &len);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, sealed + kChunk);
  }
  EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), nullptr, bench_key().data(), nullptr);
  for (auto _ : state) {
    for (std::size_t c = 0; c < chunks; ++c) {
      int len = 0;
      iv[11] = static_cast<std::uint8_t>(c);
      iv[10] = static_cast<std::uint8_t>(c >> 8);
      EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, iv);
      std::uint8_t* sealed = ct.data() + kHeader + c * kStride;
      EVP_DecryptUpdate(ctx, out.data() + (c % 32) * kChunk, &len, sealed, static_cast<int>(kChunk));
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, sealed + kChunk);
      if (EVP_DecryptFinal_ex(ctx, nullptr, &len) != 1) state.SkipWithError("tag mismatch");
    }
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
  sink.out.reserve(seal::ciphertext_size(size));  // one allocation, laid out as the baselines' buffers are
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
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      auto it = run.counters.find("bytes_per_second");
      if (it != run.counters.end()) samples[run.run_name.str()].push_back(it->second.value);
    }
  }
  // Median over the repetitions of one benchmark (interleaved with the baseline's, so drift hits both alike).
  double rate(const std::string& name) const {
    auto it = samples.find(name);
    if (it == samples.end() || it->second.empty()) return 0.0;
    auto values = it->second;
    std::sort(values.begin(), values.end());
    std::size_t n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  }
  std::map<std::string, std::vector<double>> samples;
};

}  // namespace

BENCHMARK(RawEvpSeal)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(Seal)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(RawEvpOpen)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(RawEvpOpenChunked)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(Open)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(OpenStreaming)->Arg(1 << 20)->Arg(64 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(RandomRead4K)->Unit(benchmark::kMicrosecond);
BENCHMARK(RawEvpOpenChunk)->Arg(16384)->Unit(benchmark::kMicrosecond);

int main(int argc, char** argv) {
  // Unless told otherwise: 5 repetitions of each benchmark in random order, ratios of the medians. On a shared
  // machine a single pass lets one noisy second decide a ratio.
  std::vector<char*> args(argv, argv + argc);
  std::string repetitions = "--benchmark_repetitions=5", interleave = "--benchmark_enable_random_interleaving=true";
  bool told = false;
  for (int i = 1; i < argc; ++i) told |= std::string_view(argv[i]).starts_with("--benchmark_repetitions");
  if (!told) {
    args.push_back(repetitions.data());
    args.push_back(interleave.data());
  }
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  auto rate = [&](const std::string& name) { return reporter.rate(name); };
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
  std::printf("\nthe chunked format's own floor: raw EVP opening the same bytes 16 KiB at a time, from memory\n");
  line("raw EVP, 16 KiB chunks, 1 MiB", "RawEvpOpenChunked/1048576", "RawEvpOpen/1048576");
  line("raw EVP, 16 KiB chunks, 64 MiB", "RawEvpOpenChunked/67108864", "RawEvpOpen/67108864");
  auto versus = [&](const char* label, const std::string& ours, const std::string& base) {
    double a = rate(ours), b = rate(base);
    if (a > 0 && b > 0) std::printf("%-34s ratio %.2f of chunked raw EVP\n", label, a / b);
  };
  versus("open 64 MiB (streaming decryptor)", "OpenStreaming/67108864", "RawEvpOpenChunked/67108864");
  versus("open 64 MiB (random-access reader)", "Open/67108864", "RawEvpOpenChunked/67108864");
  std::printf("\n");
  double reads = rate("RandomRead4K") / 4096, chunks = rate("RawEvpOpenChunk/16384") / 16384;
  if (reads > 0 && chunks > 0)
    std::printf("%-34s %8.0f reads/s vs raw EVP of the covering 16 KiB chunk %8.0f/s  ratio %.2f\n",
                "random 4 KiB range reads", reads, chunks, reads / chunks);
  return 0;
}
