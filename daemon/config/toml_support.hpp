#pragma once
/// Helpers shared by the two TOML readers (main config and court drop-ins).
#include <filesystem>
#include <string>
#include <string_view>

#include <toml++/toml.h>

namespace courtroute {

/// "a table", "a string", ...: for "must be X, not Y" messages.
[[nodiscard]] std::string_view toml_type_name(const toml::node& n);

/// Reads a whole file into `out`; empty string on success, else the OS's reason
/// (a directory is refused with EISDIR rather than read as empty).
[[nodiscard]] std::string read_whole_file(const std::filesystem::path& file, std::string& out);

} // namespace courtroute
