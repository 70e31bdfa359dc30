#pragma once
// mmkit in one include: every layer, hosted policies included when a host is
// available.

#include <mmkit/core.hpp>
