#pragma once
/// A value shared by many threads that changes rarely (the config snapshot, a cache generation):
/// writers publish a new immutable value under a mutex; each reader thread keeps its own
/// `reader`, which costs one atomic load per use and takes the mutex only after a publish.
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>

namespace courtroute {

template <class T>
class published {
public:
    /// Starts with `first` (may be null until the first publish).
    explicit published(std::shared_ptr<const T> first = nullptr) : value_(std::move(first)) {}

    /// Replaces the value; readers see it on their next `get`. Any thread.
    void publish(std::shared_ptr<const T> next) {
        std::lock_guard lock(mutex_);
        value_ = std::move(next);
        version_.fetch_add(1, std::memory_order_release);
    }

    /// The current value (takes the mutex: for code off the hot path). Any thread.
    [[nodiscard]] std::shared_ptr<const T> current() const {
        std::lock_guard lock(mutex_);
        return value_;
    }

    /// One thread's view: `get` is an atomic load plus a compare until something is published.
    class reader {
    public:
        /// Reads from `source`, which must outlive the reader.
        explicit reader(const published& source) : source_(&source) {}
        /// The latest published value. Holds it until the next publish, so references into it stay valid
        /// until the next call of `get` that sees a new version.
        const std::shared_ptr<const T>& get() {
            auto v = source_->version_.load(std::memory_order_acquire);
            if (v != seen_) {
                std::lock_guard lock(source_->mutex_);
                value_ = source_->value_;
                seen_ = source_->version_.load(std::memory_order_relaxed);
            }
            return value_;
        }

    private:
        const published* source_;
        std::uint64_t seen_ = 0;
        std::shared_ptr<const T> value_;
    };

private:
    mutable std::mutex mutex_;
    std::shared_ptr<const T> value_;
    std::atomic<std::uint64_t> version_{1};
};

} // namespace courtroute
