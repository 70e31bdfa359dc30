#pragma once
// The core vocabulary in one include: addresses, ranges, statuses, results,
// protections, bit fields and the assert macro.

#include <mmkit/core/address.hpp>
#include <mmkit/core/assert.hpp>
#include <mmkit/core/bits.hpp>
#include <mmkit/core/config.hpp>
#include <mmkit/core/protection.hpp>
#include <mmkit/core/result.hpp>
#include <mmkit/core/status.hpp>
