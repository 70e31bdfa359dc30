#pragma once
// Every arch policy mmkit ships: x86_32, x86_pae, x86_64 and x86_la57.

#include <mmkit/arch/paging_arch.hpp>
#include <mmkit/arch/x86_32.hpp>
#include <mmkit/arch/x86_64.hpp>
#include <mmkit/arch/x86_la57.hpp>
#include <mmkit/arch/x86_pae.hpp>
