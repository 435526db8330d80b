// Latency of one data-key round trip per key manager provider — generate_data_key, then unwrap of what it returned
// with the same associated data, as a PUT and a later GET of one object do — against a floor measured in the same
// run: raw OpenSSL EVP AES-256-GCM generating, wrapping and unwrapping a 32-byte key with the same associated data.
// Prints the median, p90 and p99 of a pair in microseconds and pairs per second, one thread and N threads sharing one
// manager, and each provider's ratio to the floor.
//
// Every provider is built by name through KeyManagerRegistry from string settings, as `blobseal serve` builds it,
// without the data-key cache (CachingKeyManager): every call reaches the provider. Its peer is started here by the
// test harness of tests/keys (a SoftHSM2 token in a temporary directory, a real PyKMIP server on a free 127.0.0.1
// port, the Transit and KMS emulators) and stopped by PID at the end. The Vault and AWS KMS rows are measured against
// the emulators, TEST DOUBLES written for the tests (Python, standard library HTTP server): their latency is the
// emulator's plus our client's, not a real Vault's or AWS KMS's.
//
//   kms_bench [--seconds=S] [--rounds=N] [--threads=N] [--min-pairs=N] [--providers=local,pkcs11,kmip,vault,awskms]
//
// Each measurement runs S seconds (and at least --min-pairs pairs) after a short warm-up with the same threads (TLS
// handshakes, sessions and connection pools are set up then, not timed); rounds go through every row in turn, the
// floor included, so drift on a shared machine hits all rows alike. Latencies are pooled over the rounds; pairs/s is
// the median of the rounds.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "awskms/kms_emulator.h"
#include "crypto/primitives.h"
#include "keys/key_manager.h"
#include "keys/local/local_keyring.h"
#include "keys/registry.h"
#include "kmip/pykmip_server.h"
#include "pkcs11/softhsm.h"
#include "test_support.h"
#include "vault/transit_emulator.h"

namespace {

using namespace blobseal;
using Clock = std::chrono::steady_clock;

// What an envelope binds: the object's location and id (about this long in the engine).
using namespace std::string_view_literals;
constexpr std::string_view kAssociatedData = "bucket=photos\0key=2026/11/30/IMG_0042.jpg\0id=8c1f2a7e4b9d3c60"sv;

struct Settings {
  double seconds = 2.0;
  double warmup_seconds = 0.3;
  int rounds = 3;
  int threads = 8;
  std::size_t min_pairs = 200;
  std::vector<std::string> providers = {"local", "pkcs11", "kmip", "vault", "awskms"};
};

// One thread's way of doing a pair; created on the thread that uses it. False (and `error`) when the pair failed.
class PairWorker {
 public:
  virtual ~PairWorker() = default;
  virtual bool pair(std::string& error) = 0;
};
using WorkerFactory = std::function<std::unique_ptr<PairWorker>()>;

// The floor: a fresh 32-byte key and IV from OpenSSL's DRBG, AES-256-GCM of the key under a fixed key-encryption key
// with the associated data, then decryption and tag check. One EVP context per thread, reused.
class RawEvpWorker final : public PairWorker {
 public:
  explicit RawEvpWorker(const std::uint8_t* kek) : kek_(kek), ctx_(EVP_CIPHER_CTX_new()) {}
  ~RawEvpWorker() override { EVP_CIPHER_CTX_free(ctx_); }

  bool pair(std::string& error) override {
    std::uint8_t key[32], iv[12], wrapped[32], tag[16], back[32];
    int len = 0;
    const auto* aad = reinterpret_cast<const std::uint8_t*>(kAssociatedData.data());
    const int aad_size = static_cast<int>(kAssociatedData.size());
    bool ok = RAND_bytes(key, sizeof key) == 1 && RAND_bytes(iv, sizeof iv) == 1 &&
              EVP_EncryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, kek_, iv) == 1 &&
              EVP_EncryptUpdate(ctx_, nullptr, &len, aad, aad_size) == 1 &&
              EVP_EncryptUpdate(ctx_, wrapped, &len, key, sizeof key) == 1 &&
              EVP_EncryptFinal_ex(ctx_, wrapped + len, &len) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_GET_TAG, sizeof tag, tag) == 1 &&
              EVP_DecryptInit_ex(ctx_, EVP_aes_256_gcm(), nullptr, kek_, iv) == 1 &&
              EVP_DecryptUpdate(ctx_, nullptr, &len, aad, aad_size) == 1 &&
              EVP_DecryptUpdate(ctx_, back, &len, wrapped, sizeof wrapped) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_GCM_SET_TAG, sizeof tag, tag) == 1 &&
              EVP_DecryptFinal_ex(ctx_, back + len, &len) == 1 && std::memcmp(key, back, sizeof key) == 0;
    if (!ok) error = "raw EVP wrap/unwrap failed";
    return ok;
  }

 private:
  const std::uint8_t* kek_;
  EVP_CIPHER_CTX* ctx_;
};

// A provider: generate_data_key, then unwrap of its wrapped key with the same associated data; the unwrapped key
// must be the generated one.
class KeyManagerWorker final : public PairWorker {
 public:
  explicit KeyManagerWorker(keys::KeyManager& manager) : manager_(manager) {}

  bool pair(std::string& error) override {
    auto aad = as_bytes(kAssociatedData);
    auto key = manager_.generate_data_key(aad);
    if (!key) {
      error = "generate_data_key: " + key.error().to_string();
      return false;
    }
    auto back = manager_.unwrap(key->wrapped, aad);
    if (!back) {
      error = "unwrap: " + back.error().to_string();
      return false;
    }
    auto a = key->plaintext.view(), b = back->view();
    if (!std::equal(a.begin(), a.end(), b.begin(), b.end())) {
      error = "unwrap returned another key";
      return false;
    }
    return true;
  }

 private:
  keys::KeyManager& manager_;
};

struct Run {
  std::vector<double> latencies_us;
  double seconds = 0;
  std::string error;  // the first failure; the run stops at it
  double pairs_per_second() const { return seconds > 0 ? latencies_us.size() / seconds : 0; }
};

// `threads` threads, each with its own worker, doing pairs until `seconds` have passed and `min_pairs` are done
// (capped at 10 × `seconds` plus 30 s, for a peer that has become very slow).
Run measure(const WorkerFactory& factory, int threads, double seconds, std::size_t min_pairs) {
  std::vector<std::vector<double>> per_thread(threads);
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> done{0};
  std::latch ready(threads + 1);
  std::string first_error;
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto worker = factory();
      per_thread[t].reserve(1 << 16);
      ready.arrive_and_wait();
      std::string error;
      while (!stop.load(std::memory_order_relaxed)) {
        auto start = Clock::now();
        if (!worker->pair(error)) {
          if (!failed.exchange(true)) first_error = error;
          stop = true;
          break;
        }
        per_thread[t].push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
        done.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  ready.arrive_and_wait();
  auto start = Clock::now();
  auto target = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  auto cap = target + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(9 * seconds + 30));
  while (!stop) {
    auto now = Clock::now();
    if ((now >= target && done.load() >= min_pairs) || now >= cap) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& thread : pool) thread.join();
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& samples : per_thread) run.latencies_us.insert(run.latencies_us.end(), samples.begin(), samples.end());
  run.error = first_error;
  return run;
}

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  std::size_t index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(index, sorted.size() - 1)];
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct Row {
  std::string name;   // "pkcs11"
  std::string peer;   // what answered: "SoftHSM2 2.6.1 token (temp dir)"
  WorkerFactory factory;
  std::string skipped;  // why this row was not measured
  // Per thread count (index 0: one thread, 1: N threads): latencies pooled over rounds, pairs/s per round.
  std::vector<double> latencies[2];
  std::vector<double> rates[2];
  std::string error;
};

// The services started for the rows, stopped by PID (the harness's stop()) in reverse order of start.
struct Services {
  std::unique_ptr<keys::testing::TempDir> keyring_dir;
  std::unique_ptr<keys::testing::SoftHsmToken> token;
  std::unique_ptr<keys::testing::PyKmipServer> kmip;
  std::unique_ptr<keys::testing::TransitEmulator> transit;
  std::unique_ptr<keys::testing::KmsEmulator> kms;
};

std::string command_output(const std::string& command) {
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe) != nullptr) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string package_version(const char* package) {
  std::string v = command_output(fmt::format("dpkg-query -W -f='${{Version}}' {} 2>/dev/null", package));
  return v.empty() ? "?" : v;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.starts_with("model name")) return line.substr(line.find(':') + 2);
  return "?";
}

bool wanted(const Settings& settings, std::string_view name) {
  return std::find(settings.providers.begin(), settings.providers.end(), name) != settings.providers.end();
}

std::vector<std::string> split(std::string_view text) {
  std::vector<std::string> out;
  std::stringstream in{std::string(text)};
  std::string item;
  while (std::getline(in, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

bool parse_arguments(int argc, char** argv, Settings& settings) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&](std::string_view flag) -> std::optional<std::string> {
      if (!arg.starts_with(flag) || arg.size() <= flag.size() || arg[flag.size()] != '=') return std::nullopt;
      return std::string(arg.substr(flag.size() + 1));
    };
    try {
      if (auto v = value("--seconds")) settings.seconds = std::stod(*v);
      else if (auto v = value("--warmup-seconds")) settings.warmup_seconds = std::stod(*v);
      else if (auto v = value("--rounds")) settings.rounds = std::stoi(*v);
      else if (auto v = value("--threads")) settings.threads = std::stoi(*v);
      else if (auto v = value("--min-pairs")) settings.min_pairs = std::stoul(*v);
      else if (auto v = value("--providers")) settings.providers = split(*v);
      else {
        std::fprintf(stderr, "unknown argument %s\n", argv[i]);
        return false;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "bad value in %s\n", argv[i]);
      return false;
    }
  }
  return settings.seconds > 0 && settings.rounds > 0 && settings.threads > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings settings;
  if (!parse_arguments(argc, argv, settings)) {
    std::fprintf(stderr,
                 "usage: kms_bench [--seconds=S] [--warmup-seconds=S] [--rounds=N] [--threads=N] [--min-pairs=N] "
                 "[--providers=local,pkcs11,kmip,vault,awskms]\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);  // a peer closing a connection must fail a call, not end the run

  keys::KeyManagerRegistry registry;
  keys::register_builtin_key_managers(registry);
  Services services;
  std::vector<std::unique_ptr<keys::KeyManager>> managers;
  std::vector<Row> rows;

  std::uint8_t kek[32];
  RAND_bytes(kek, sizeof kek);
  rows.push_back({"raw OpenSSL (floor)", fmt::format("EVP AES-256-GCM in process, {}", OpenSSL_version(OPENSSL_VERSION)),
                  [&] { return std::make_unique<RawEvpWorker>(kek); }});

  auto add_provider = [&](std::string name, std::string peer, const keys::KeyManagerConfig& config) {
    Row row{name, std::move(peer), {}};
    auto manager = registry.create(name, config);
    if (!manager) {
      row.skipped = "could not build the manager: " + manager.error().to_string();
    } else {
      keys::KeyManager* raw = manager->get();
      managers.push_back(std::move(*manager));
      row.factory = [raw] { return std::make_unique<KeyManagerWorker>(*raw); };
    }
    rows.push_back(std::move(row));
  };
  auto skip = [&](std::string name, std::string peer, std::string why) {
    Row row{std::move(name), std::move(peer), {}};
    row.skipped = std::move(why);
    rows.push_back(std::move(row));
  };

  // Start the peers from this thread (the harness ties each child's life to the thread that forked it).
  std::printf("starting the providers' peers...\n");
  std::fflush(stdout);
  if (wanted(settings, "local")) {
    services.keyring_dir = std::make_unique<keys::testing::TempDir>();
    std::string path = services.keyring_dir->file("keyring.json");
    auto created = keys::LocalKeyring::create(path);
    if (!created) {
      skip("local", "keyring file", "could not create a keyring: " + created.error().to_string());
    } else {
      created->reset();
      add_provider("local", "keyring file (temp dir), in process", {{"path", path}});
    }
  }
  if (wanted(settings, "pkcs11")) {
    std::string peer = fmt::format("SoftHSM2 {} token (temp dir), in process", package_version("softhsm2"));
    if (!keys::testing::softhsm_installed()) {
      skip("pkcs11", peer, "SoftHSM2 is not installed");
    } else {
      services.token = std::make_unique<keys::testing::SoftHsmToken>();
      if (!services.token->ready())
        skip("pkcs11", peer, "softhsm2-util --init-token failed");
      else
        add_provider("pkcs11", peer, services.token->config());
    }
  }
  if (wanted(settings, "kmip")) {
    std::string peer = fmt::format("PyKMIP {} server, 127.0.0.1, TLS 1.2", package_version("python3-pykmip"));
    std::string why;
    services.kmip = keys::testing::PyKmipServer::start(why);
    if (!services.kmip) {
      skip("kmip", peer, why.empty() ? "the PyKMIP server did not start" : why);
    } else {
      auto options = services.kmip->options();
      add_provider("kmip", peer,
                   {{"host", options.client.host},
                    {"port", std::to_string(options.client.port)},
                    {"ca_file", options.client.ca_file},
                    {"cert_file", options.client.certificate_file},
                    {"key_file", options.client.private_key_file},
                    {"create_key", "true"}});
    }
  }
  if (wanted(settings, "vault")) {
    std::string peer = "Transit EMULATOR (test double, Python), 127.0.0.1, HTTP";
    std::string why;
    services.transit = keys::testing::TransitEmulator::start(why);
    if (!services.transit)
      skip("vault", peer, why.empty() ? "the Transit emulator did not start" : why);
    else
      add_provider("vault", peer,
                   {{"address", services.transit->address()},
                    {"token", keys::testing::kRootToken},
                    {"key", "default"},
                    {"create_key", "true"}});
  }
  if (wanted(settings, "awskms")) {
    std::string peer = "KMS EMULATOR (test double, Python, checks SigV4), 127.0.0.1, HTTP";
    std::string why;
    services.kms = keys::testing::KmsEmulator::start(why);
    if (!services.kms)
      skip("awskms", peer, why.empty() ? "the KMS emulator did not start" : why);
    else
      add_provider("awskms", peer,
                   {{"key_id", keys::testing::kms_key_arn(keys::testing::kKmsKeyA)},
                    {"endpoint", services.kms->endpoint()},
                    {"region", keys::testing::kKmsRegion},
                    {"access_key", keys::testing::kKmsAccessKey},
                    {"secret_key", keys::testing::kKmsSecretKey}});
  }

  const int thread_counts[2] = {1, settings.threads};
  for (int round = 0; round < settings.rounds; ++round) {
    std::printf("round %d/%d:", round + 1, settings.rounds);
    // Each round starts at another row, so no row always runs right after the same neighbour.
    for (std::size_t k = 0; k < rows.size(); ++k) {
      Row& row = rows[(k + static_cast<std::size_t>(round)) % rows.size()];
      if (!row.skipped.empty() || !row.error.empty()) continue;
      for (int t = 0; t < 2; ++t) {
        measure(row.factory, thread_counts[t], settings.warmup_seconds, 1);
        Run run = measure(row.factory, thread_counts[t], settings.seconds, settings.min_pairs);
        if (!run.error.empty()) {
          row.error = run.error;
          break;
        }
        row.latencies[t].insert(row.latencies[t].end(), run.latencies_us.begin(), run.latencies_us.end());
        row.rates[t].push_back(run.pairs_per_second());
      }
      std::printf(" %s", row.name.c_str());
      std::fflush(stdout);
    }
    std::printf("\n");
  }

  // Managers go before their peers (a KMIP server waits for open sessions to end before it exits).
  managers.clear();
  services.kms.reset();
  services.transit.reset();
  services.kmip.reset();
  services.token.reset();
  services.keyring_dir.reset();
  std::printf("peers stopped (by PID), temporary directories removed\n\n");

  double floor_median[2] = {0, 0}, floor_rate[2] = {0, 0};
  for (int t = 0; t < 2; ++t) {
    std::sort(rows[0].latencies[t].begin(), rows[0].latencies[t].end());
    floor_median[t] = percentile(rows[0].latencies[t], 0.5);
    floor_rate[t] = median_of(rows[0].rates[t]);
  }

  std::printf("One pair = generate_data_key + unwrap of its result with the same %zu-byte associated data "
              "(2 key-manager calls).\n",
              kAssociatedData.size());
  std::printf("machine: %u cores (%s), aes acceleration %s; load average at the end: %s\n",
              std::thread::hardware_concurrency(), cpu_model().c_str(),
              crypto::cpu_has_aes_acceleration() ? "yes" : "NO",
              command_output("cut -d' ' -f1-3 /proc/loadavg").c_str());
  std::printf("%d rounds x %.1f s per measurement (at least %zu pairs), warm-up %.1f s; latencies pooled over "
              "rounds, pairs/s the median of the rounds\n\n",
              settings.rounds, settings.seconds, settings.min_pairs, settings.warmup_seconds);
  std::printf("| provider | peer | threads | median µs | p90 µs | p99 µs | pairs/s | median × floor | pairs/s ÷ floor |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
  for (Row& row : rows) {
    std::string label = row.name;
    if (row.name == "vault" || row.name == "awskms") label += " (vs emulator)";
    if (!row.skipped.empty()) {
      std::printf("| %s | %s | — | skipped: %s | | | | | |\n", label.c_str(), row.peer.c_str(), row.skipped.c_str());
      continue;
    }
    if (!row.error.empty()) {
      std::printf("| %s | %s | — | FAILED: %s | | | | | |\n", label.c_str(), row.peer.c_str(), row.error.c_str());
      continue;
    }
    for (int t = 0; t < 2; ++t) {
      auto& sorted = row.latencies[t];
      std::sort(sorted.begin(), sorted.end());
      double median = percentile(sorted, 0.5), rate = median_of(row.rates[t]);
      std::printf("| %s | %s | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.2g |\n", label.c_str(), row.peer.c_str(),
                  thread_counts[t], median, percentile(sorted, 0.9), percentile(sorted, 0.99), rate,
                  floor_median[t] > 0 ? median / floor_median[t] : 0, floor_rate[t] > 0 ? rate / floor_rate[t] : 0);
    }
  }
  std::printf("\nvault and awskms: measured against the emulators (test doubles in Python on 127.0.0.1), not a real "
              "Vault or AWS KMS;\ntheir latency is the emulator's plus our client's, and says nothing about a real "
              "service across a network.\n");
  bool failed = false;
  for (const Row& row : rows) failed |= !row.error.empty();
  return failed ? 1 : 0;
}
