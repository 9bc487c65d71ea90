/* SPDX-License-Identifier: Apache-2.0 */
// raii_cpp.cpp - a toy bank allocator made visible to tt-alloc with
// ttalloc::Tracked (tracked_allocator.hpp). Buffers leave tt-alloc's view when
// their handles go out of scope, exactly like the memory they stand for.
//
// Prints "ready <pid>" while it holds two DRAM buffers (4 KiB at 0x40000000,
// 8 KiB at 0x40001000), waits for a line on stdin, drops them, prints
// "freed", waits for another line, and exits.
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <new>
#include <string>
#include <unistd.h>

#include "tracked_allocator.hpp"

// First fit over [base, base + size): a stand-in for TT-Metal's BankManager.
class ToyBank
{
  public:
    ToyBank(uint64_t base, uint64_t size) : base_(base), end_(base + size)
    {
    }
    uint64_t allocate(uint64_t size)
    {
        uint64_t at = base_;
        for (const auto &[addr, len] : used_) {
            if (addr - at >= size)
                break;
            at = addr + len;
        }
        if (at + size > end_)
            throw std::bad_alloc();
        used_[at] = size;
        return at;
    }
    void deallocate(uint64_t address)
    {
        used_.erase(address);
    }

  private:
    uint64_t base_, end_;
    std::map<uint64_t, uint64_t> used_;
};

static void flush_or_say()
{
    if (int rc = ttalloc_flush(5000); rc < 0)
        std::fprintf(stderr, "raii_cpp: flush: %s\n", std::strerror(-rc));
}

int main()
{
    ToyBank dram(0x40000000, 1ull << 30);
    ttalloc::Tracked<ToyBank> alloc(dram, /*device=*/0, TTALLOC_DRAM);
    std::string line;
    {
        auto a = alloc.allocate(4096); // 0x40000000
        auto b = alloc.allocate(8192); // 0x40001000
        {
            auto scratch = alloc.allocate(100000);
        }                      // 0x40003000, freed at once
        auto c = std::move(b); // a move records nothing
        flush_or_say();
        std::cout << "ready " << getpid() << std::endl;
        std::getline(std::cin, line);
    } // a and c freed here
    flush_or_say();
    std::cout << "freed" << std::endl;
    std::getline(std::cin, line);
    return 0;
}
