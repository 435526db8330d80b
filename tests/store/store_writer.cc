// store_writer ROOT put KEY BODY | ROOT remove KEY: one write to the local store at ROOT from a process of its own,
// as the CLI beside a running server makes. Exits 0 on success, 2 with the error on stderr.
#include <cstdio>
#include <string>

#include "store/local/local_store.h"
#include "test_sources.h"

using namespace blobseal;
using namespace blobseal::store;

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: store_writer ROOT put KEY BODY | ROOT remove KEY\n");
    return 2;
  }
  auto store = LocalStore::open_directory(argv[1]);
  Status status = store ? Status() : Status(make_error(store.error()));
  std::string op = argv[2];
  if (status && op == "put" && argc == 5) {
    testing::StringSource body{std::string(argv[4])};
    PutOptions options;
    options.header = testing::bytes_of("h");
    auto put = (*store)->put(argv[3], body, options);
    if (!put) status = make_error(put.error());
  } else if (status && op == "remove") {
    status = (*store)->remove(argv[3]);
  } else if (status) {
    status = make_error(ErrorCode::kInvalidArgument, "unknown operation " + op);
  }
  if (!status) {
    std::fprintf(stderr, "store_writer: %s\n", status.error().to_string().c_str());
    return 2;
  }
  return 0;
}
