// tracked_allocator.hpp - make any device allocator report to tt-alloc, RAII style.
//
// Wrap an allocator that hands out device addresses (allocate(size) ->
// address, deallocate(address)) in ttalloc::Tracked<A>. Its allocate()
// returns a move-only Buffer: tt-alloc sees the buffer from allocate() until
// the Buffer is destroyed or reset(), and never twice (moves transfer it).
//
// Order matters when threads share an allocator: record the alloc *after* the
// inner allocator chose the address, and the free *before* the address goes
// back to it. Otherwise another thread can get the same address and record
// its alloc before our free, and our free would erase its buffer.
#pragma once

#include <cstdint>
#include <utility>

#include <ttalloc.h>

namespace ttalloc {

template <class Allocator>
class Tracked {
public:
    class Buffer {
    public:
        Buffer() = default;
        Buffer(const Buffer&) = delete;
        Buffer& operator=(const Buffer&) = delete;
        Buffer(Buffer&& o) noexcept { *this = std::move(o); }
        Buffer& operator=(Buffer&& o) noexcept {
            if (this != &o) {
                reset();
                owner_ = std::exchange(o.owner_, nullptr);
                address_ = o.address_;
                size_ = o.size_;
            }
            return *this;
        }
        ~Buffer() { reset(); }

        void reset() {
            if (owner_ != nullptr)
                std::exchange(owner_, nullptr)->release(address_);
        }
        uint64_t address() const { return address_; }
        uint64_t size() const { return size_; }
        explicit operator bool() const { return owner_ != nullptr; }

    private:
        friend class Tracked;
        Buffer(Tracked* owner, uint64_t address, uint64_t size)
            : owner_(owner), address_(address), size_(size) {}
        Tracked* owner_ = nullptr;
        uint64_t address_ = 0;
        uint64_t size_ = 0;
    };

    Tracked(Allocator& inner, uint32_t device, ttalloc_buffer_type type)
        : inner_(inner), device_(device), type_(type) {}

    Buffer allocate(uint64_t size) {
        uint64_t address = inner_.allocate(size);          // may throw: nothing recorded
        ttalloc_record_alloc(device_, type_, address, size); // never blocks
        return Buffer(this, address, size);
    }

private:
    void release(uint64_t address) {
        ttalloc_record_free(device_, type_, address);      // before the address is reusable
        inner_.deallocate(address);
    }

    Allocator& inner_;
    uint32_t device_;
    ttalloc_buffer_type type_;
};

}  // namespace ttalloc
