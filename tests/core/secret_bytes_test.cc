// SecretBytes: owns key material, wipes it before the memory goes back to the allocator, cannot be copied by
// accident, and cannot be printed (no operator<<, no fmt formatter), which the concepts below check at compile time.
#include <cstdlib>
#include <cstring>
#include <new>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/secret_bytes.h"

// ---- Observing the bytes a SecretBytes hands back to the allocator ----------------------------------------------
// SecretBytes allocates with new[]; these replacements (the standard's replaceable allocation functions) copy the
// bytes of one watched block just before it is freed, so the test can check they were wiped without reading freed
// memory. They forward to malloc/free, which the sanitizers still track.
namespace {
const void* g_watched = nullptr;
std::size_t g_watched_size = 0;
bool g_watched_freed = false;
unsigned char g_seen_at_free[256];

void observe_free(void* p) {
  if (p != nullptr && p == g_watched) {
    std::memcpy(g_seen_at_free, p, g_watched_size);
    g_watched_freed = true;
    g_watched = nullptr;
  }
}
}  // namespace

void* operator new[](std::size_t size) {
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return std::malloc(size == 0 ? 1 : size); }
void operator delete[](void* p) noexcept {
  observe_free(p);
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  observe_free(p);
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  observe_free(p);
  std::free(p);
}

namespace blobseal {
namespace {

// ---- Compile-time checks -----------------------------------------------------------------------------------------

template <typename T>
concept OstreamPrintable = requires(std::ostream& os, const T& value) { os << value; };

template <typename T>
concept FmtFormattable = fmt::is_formattable<T>::value;

// The concepts are not vacuous: they do see ordinary printable types.
static_assert(OstreamPrintable<int>);
static_assert(OstreamPrintable<std::string>);
static_assert(FmtFormattable<int>);
static_assert(FmtFormattable<std::string>);

// A key cannot reach a log line by accident.
static_assert(!OstreamPrintable<SecretBytes>);
static_assert(!FmtFormattable<SecretBytes>);
// Copies are explicit (clone()), moves are cheap and cannot throw.
static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);
static_assert(std::is_nothrow_move_assignable_v<SecretBytes>);
// No silent conversions in or out.
static_assert(!std::is_convertible_v<std::span<const std::uint8_t>, SecretBytes>);
static_assert(!std::is_convertible_v<std::size_t, SecretBytes>);
static_assert(!std::is_convertible_v<SecretBytes, std::string>);
static_assert(!std::is_convertible_v<SecretBytes, std::string_view>);
static_assert(!std::is_convertible_v<SecretBytes, std::span<const std::uint8_t>>);
static_assert(!std::is_constructible_v<SecretBytes, std::string>);

std::vector<std::uint8_t> pattern(std::size_t n, std::uint8_t seed) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed + 31 * i) | 0x01;  // never zero
  return v;
}

bool all_zero(const unsigned char* p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

void watch(const SecretBytes& s) {
  g_watched = s.data();
  g_watched_size = s.size();
  g_watched_freed = false;
  std::memset(g_seen_at_free, 0xEE, sizeof g_seen_at_free);
}

// ---- Behaviour ---------------------------------------------------------------------------------------------------

TEST(SecretBytes, SizedConstructorIsZeroFilled) {
  SecretBytes s(48);
  EXPECT_EQ(s.size(), 48u);
  EXPECT_FALSE(s.empty());
  EXPECT_TRUE(all_zero(s.data(), s.size()));
}

TEST(SecretBytes, DefaultAndZeroSizedAreEmpty) {
  SecretBytes a;
  SecretBytes b(std::size_t{0});
  SecretBytes c(std::span<const std::uint8_t>{});
  for (const SecretBytes* s : {&a, &b, &c}) {
    EXPECT_TRUE(s->empty());
    EXPECT_EQ(s->size(), 0u);
    EXPECT_TRUE(s->view().empty());
  }
}

TEST(SecretBytes, CopiesTheGivenBytesAndOwnsThem) {
  auto key = pattern(32, 1);
  SecretBytes s(key);
  ASSERT_EQ(s.size(), 32u);
  EXPECT_NE(s.data(), key.data());
  EXPECT_TRUE(std::equal(key.begin(), key.end(), s.view().begin()));
  key[0] ^= 0xFF;
  EXPECT_NE(s.view()[0], key[0]) << "later changes to the source do not reach the secret";
  s.mutable_view()[1] = 0x42;
  EXPECT_EQ(s.data()[1], 0x42);
}

TEST(SecretBytes, CloneIsADeepIndependentCopy) {
  auto key = pattern(32, 2);
  SecretBytes a(key);
  SecretBytes b = a.clone();
  ASSERT_EQ(b.size(), a.size());
  EXPECT_NE(a.data(), b.data());
  EXPECT_TRUE(std::equal(a.view().begin(), a.view().end(), b.view().begin()));
  b.mutable_view()[0] ^= 1;
  EXPECT_NE(a.view()[0], b.view()[0]);
}

TEST(SecretBytes, MovingTransfersOwnershipAndEmptiesTheSource) {
  auto key = pattern(32, 3);
  SecretBytes a(key);
  const std::uint8_t* p = a.data();
  SecretBytes b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 32u);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is part of the contract
  EXPECT_EQ(a.data(), nullptr);
  SecretBytes c;
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  c = std::move(c);        // self-move keeps the secret
  EXPECT_EQ(c.size(), 32u);
  EXPECT_TRUE(std::equal(key.begin(), key.end(), c.view().begin()));
}

TEST(SecretBytes, DestructionWipesTheBytesBeforeFreeingThem) {
  auto key = pattern(64, 4);
  {
    SecretBytes s(key);
    watch(s);
  }
  ASSERT_TRUE(g_watched_freed) << "the buffer was not released through operator delete[]";
  EXPECT_TRUE(all_zero(g_seen_at_free, key.size())) << "key bytes were still in memory when it was freed";
}

TEST(SecretBytes, MoveAssignmentWipesTheOverwrittenSecret) {
  auto old_key = pattern(32, 5);
  auto new_key = pattern(32, 6);
  SecretBytes target(old_key);
  watch(target);
  target = SecretBytes(new_key);
  ASSERT_TRUE(g_watched_freed);
  EXPECT_TRUE(all_zero(g_seen_at_free, old_key.size()));
  EXPECT_TRUE(std::equal(new_key.begin(), new_key.end(), target.view().begin()));
}

TEST(SecretBytes, TheObserverWouldSeeUnwipedMemory) {
  // Control for the two tests above: a block freed without wiping is seen with its contents, so "all zero" there is
  // a property of SecretBytes and not of the observer.
  auto* raw = new std::uint8_t[16];
  std::memset(raw, 0xAB, 16);
  g_watched = raw;
  g_watched_size = 16;
  g_watched_freed = false;
  delete[] raw;
  ASSERT_TRUE(g_watched_freed);
  EXPECT_FALSE(all_zero(g_seen_at_free, 16));
  EXPECT_EQ(g_seen_at_free[0], 0xAB);
}

TEST(SecureZero, WipesTheGivenRangeOnly) {
  std::uint8_t buf[32];
  std::memset(buf, 0x5A, sizeof buf);
  secure_zero(buf + 8, 16);
  for (std::size_t i = 0; i < sizeof buf; ++i) EXPECT_EQ(buf[i], (i >= 8 && i < 24) ? 0 : 0x5A) << i;
  secure_zero(nullptr, 10);  // tolerated
  secure_zero(buf, 0);
  EXPECT_EQ(buf[0], 0x5A);
}

}  // namespace
}  // namespace blobseal
