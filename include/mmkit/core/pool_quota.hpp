#pragma once
// pool_quota: NT's pool quota, the limits on the host memory an address
// space (or a whole system) may hold for its bookkeeping: VAD nodes and
// page-table pages. A call that would pass one fails with
// status::quota_exceeded and changes nothing. Unlimited unless set.

#include <cstdint>

namespace mmkit {

struct pool_quota {
  std::uint64_t vad_nodes = ~std::uint64_t{0};
  std::uint64_t table_pages = ~std::uint64_t{0};
};

}  // namespace mmkit
