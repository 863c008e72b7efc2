#pragma once
/// Helpers shared by the unit tests: a self-removing temp directory and diagnostics as text.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "core/diagnostic.hpp"

namespace courtroute::test {

/// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
public:
    explicit temp_dir(const std::string& tag = "test") {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                ("courtroute-" + tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    /// The directory.
    const std::filesystem::path& path() const { return path_; }

    /// Writes `text` to `name` inside the directory (creating subdirectories) and returns its path.
    std::filesystem::path write(const std::filesystem::path& name, const std::string& text) const {
        auto file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file, std::ios::binary) << text;
        return file;
    }

private:
    std::filesystem::path path_;
};

/// Every diagnostic as `FILE:LINE:COL: message`, one per line.
inline std::string all_errors(const diagnostics& errors) {
    std::string out;
    for (const auto& e : errors) out += e.to_string() + "\n";
    return out;
}

} // namespace courtroute::test
