#pragma once
/// Reading secrets (passwords, TOTP secrets) from standard input, never from argv: with a
/// prompt and echo turned off when stdin is a terminal, as plain lines when it is a pipe.
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace courtroute::cli {

/// Overwrites a string's bytes before it is freed, so a secret does not linger in the heap.
void wipe(std::string& s) noexcept;

/// Holds a secret and wipes it when it goes out of scope.
class secret_string {
public:
    secret_string() = default;
    /// Takes ownership of `value`.
    explicit secret_string(std::string value) : value_(std::move(value)) {}
    ~secret_string() { wipe(value_); }
    secret_string(const secret_string&) = delete;
    secret_string& operator=(const secret_string&) = delete;
    /// Moves the secret; the source is left empty.
    secret_string(secret_string&& other) noexcept : value_(std::move(other.value_)) { wipe(other.value_); }
    /// Wipes the current secret, then takes `other`'s.
    secret_string& operator=(secret_string&& other) noexcept {
        if (this != &other) {
            wipe(value_);
            value_ = std::move(other.value_);
            wipe(other.value_);
        }
        return *this;
    }

    /// The secret itself: never print or log it.
    [[nodiscard]] const std::string& value() const noexcept { return value_; }
    /// The secret, writable (for normalising it in place).
    [[nodiscard]] std::string& value() noexcept { return value_; }

private:
    std::string value_;
};

/// Reads secrets line by line from `in`, which is standard input. When file descriptor
/// `fd` is a terminal, each read prompts on stderr and turns echo off until the line is read;
/// the terminal is restored even when an exception or a terminating signal (SIGINT, SIGTERM,
/// SIGHUP, SIGQUIT) interrupts the read.
class secret_reader {
public:
    /// Reads from `in` (normally `std::cin`), checking `fd` (normally 0) for a terminal.
    explicit secret_reader(std::istream& in, int fd = 0);

    /// The next line without its trailing CR/LF, or nullopt at end of input (nothing left at all;
    /// a last line without a newline is still a line). `prompt` is shown on a terminal only.
    [[nodiscard]] std::optional<std::string> read_line(std::string_view prompt);

    /// True when stdin is a terminal (a person types, so prompts are shown).
    [[nodiscard]] bool interactive() const noexcept { return interactive_; }

private:
    std::istream& in_;
    int fd_;
    bool interactive_;
};

} // namespace courtroute::cli
