#pragma once
/// Helpers shared by the libFuzzer targets: property checks that abort (so libFuzzer saves the
/// input as a crash artifact) and a scratch directory on tmpfs for the loaders that take paths.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace courtroute::fuzz {

/// Aborts with `what` when a property does not hold: libFuzzer reports it as a crash.
inline void check(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

/// The input as text.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

/// True when `s` holds a byte that must not appear in a one-line message (C0 controls, DEL).
inline bool has_control(std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f) return true;
    }
    return false;
}

/// ASCII upper-case copy.
inline std::string to_upper(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

/// A directory created once per process under $COURTROUTE_FUZZ_SCRATCH, else on tmpfs
/// (/dev/shm) when there is one: the loaders read real files, and writing one per input to a
/// disk would make the disk the bottleneck. Removed at a normal exit; after a crash the
/// caller's scratch base (tests/fuzz/run.sh makes one) is removed instead.
inline const std::filesystem::path& scratch_dir() {
    struct scratch {
        std::filesystem::path dir;
        scratch() {
            std::filesystem::path base = "/dev/shm";
            std::error_code ec;
            if (const char* env = std::getenv("COURTROUTE_FUZZ_SCRATCH"); env && *env) base = env;
            else if (!std::filesystem::is_directory(base, ec)) base = std::filesystem::temp_directory_path();
            dir = base / ("courtroute-fuzz-" + std::to_string(::getpid()));
            std::filesystem::create_directories(dir);
        }
        ~scratch() {
            std::error_code ignored;
            std::filesystem::remove_all(dir, ignored);
        }
    };
    static const scratch s;
    return s.dir;
}

/// Writes `text` to `file` (truncating), creating its directory.
inline void write_file(const std::filesystem::path& file, std::string_view text) {
    std::filesystem::create_directories(file.parent_path());
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    check(static_cast<bool>(out), "cannot write the scratch file");
}

} // namespace courtroute::fuzz

namespace courtroute::fuzz {

/// An HTTP answer written as a fuzz input: an optional first line `NNN` (the status) followed by
/// `Name: value` lines up to an empty line, then the body. Input without that first line is a
/// 200 whose body is the whole input, so saved pages serve as seeds as they are.
struct answer {
    int status = 200;                 ///< the status
    std::string_view location;        ///< the Location header, if any
    std::string_view content_type;    ///< the Content-Type header, if any
    std::string_view body;            ///< the rest
};

inline answer parse_answer(std::string_view in) {
    answer out;
    out.body = in;
    if (in.size() < 4 || in[3] != '\n') return out;
    for (int i = 0; i < 3; ++i)
        if (in[static_cast<std::size_t>(i)] < '0' || in[static_cast<std::size_t>(i)] > '9') return out;
    out.status = (in[0] - '0') * 100 + (in[1] - '0') * 10 + (in[2] - '0');
    in.remove_prefix(4);
    while (!in.empty()) {
        auto nl = in.find('\n');
        auto line = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
        if (line.empty()) break;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        auto name = line.substr(0, colon);
        auto value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        auto lower = [](std::string_view s) {
            std::string l(s);
            for (auto& c : l)
                if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            return l;
        };
        if (lower(name) == "location") out.location = value;
        else if (lower(name) == "content-type") out.content_type = value;
    }
    out.body = in;
    return out;
}

} // namespace courtroute::fuzz
