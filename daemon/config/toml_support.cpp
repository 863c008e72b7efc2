#include "config/toml_support.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace courtroute {

std::string_view toml_type_name(const toml::node& n) {
    switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
    }
    return "nothing";
}

std::string read_whole_file(const std::filesystem::path& file, std::string& out) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) return std::strerror(EISDIR);
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (!f) return std::strerror(errno);
    char buf[8192];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
    int failed = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (failed) return std::strerror(failed);
    return {};
}

} // namespace courtroute
