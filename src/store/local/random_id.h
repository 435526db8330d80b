// Random identifiers for data files and object generations.
#pragma once

#include <string>
#include <string_view>

namespace blobseal::store::local {

// 128 bits from the kernel's CSPRNG (getrandom(2)) as 32 lower-case hex digits. Unpredictable, so a data file name
// or a generation cannot be guessed or collide. Aborts the process if the kernel refuses randomness, which it does
// not once booted: continuing could reuse a name.
std::string random_hex_id();

// True when `name` has the form random_hex_id() returns.
bool is_hex_id(std::string_view name);

}  // namespace blobseal::store::local
