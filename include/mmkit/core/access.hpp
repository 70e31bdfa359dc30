#pragma once
// The one access vocabulary: what a simulated access does (read, write,
// execute) and the privilege it runs at (user, kernel). The page walker,
// the TLB, the fault dispatcher and the NT layer all speak it.

#include <cstdint>

namespace mmkit {

/// The kind of a simulated access; the values index a TLB entry's tags.
enum class access : std::uint8_t { read = 0, write = 1, execute = 2 };
/// The privilege of a simulated access (CPL 3 is user, CPL 0 kernel).
enum class cpu_mode : std::uint8_t { kernel = 0, user = 1 };

}  // namespace mmkit
