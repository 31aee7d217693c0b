// RocksDB C API (Debian librocksdb-dev).
#include <rocksdb/c.h>
