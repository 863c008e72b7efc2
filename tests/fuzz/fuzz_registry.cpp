/// The courts.d drop-in loader (registry::load) on one arbitrary drop-in, plus the drop-in
/// rules of CONTRACT §4 around it. Properties: never throws; a file yields a court or problems,
/// never both; a loaded court is valid and found by its id and every host; problems are one
/// line naming the file; an empty file of the same name in a later directory masks it; a later
/// directory's file replaces a valid court of the same name completely.
#include "core/names.hpp"
#include "core/text.hpp"
#include "core/url.hpp"
#include "fuzz_support.hpp"
#include "registry/registry.hpp"

using namespace courtroute;
using courtroute::fuzz::check;

namespace {

void check_errors(const registry& reg) {
    for (const auto& e : reg.errors()) {
        check(!e.message.empty(), "a registry diagnostic has no message");
        check(!has_ctl_breaks(e.to_string()), "a registry diagnostic spans lines (CR, LF or NUL in it)");
    }
}

/// Courts and problems as text, to compare two loads.
std::string summary(const registry& reg) {
    std::string out;
    for (const auto& c : reg.courts()) {
        out += c.id + " " + c.host + " " + c.ecf_url + " " + std::string(to_string(c.type)) + " " +
               std::string(to_string(c.system)) + " " + c.file.string();
        for (const auto& h : c.extra_hosts) out += " " + h;
        out += "\n";
    }
    for (const auto& e : reg.errors()) out += e.to_string() + "\n";
    return out;
}

constexpr std::string_view valid_court =
    "id = \"azb\"\nname = \"U.S. Bankruptcy Court for the District of Arizona\"\ntype = \"bankruptcy\"\n"
    "ecf_url = \"https://ecf.azb.uscourts.gov\"\nsystem = \"nextgen\"\nnextgen_since = 2021-06-28\n";

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto& root = fuzz::scratch_dir();
    static const auto a = root / "a", b = root / "b";
    const auto text = fuzz::as_text(data, size);

    // One directory, one file.
    fuzz::write_file(a / "court.toml", text);
    auto reg = registry::load({a});
    check(reg != nullptr, "registry::load returned nothing");
    check_errors(*reg);
    check(reg->courts().size() <= 1, "one drop-in yielded more than one court");
    check(reg->courts().empty() || reg->errors().empty(), "a drop-in yielded a court and problems");
    for (const auto& e : reg->errors()) check(e.file == (a / "court.toml").string(), "a registry diagnostic names another file");
    for (const auto& c : reg->courts()) {
        check(valid_court_id(c.id), "a court loaded with a bad id");
        check(!c.name.empty() && !fuzz::has_control(c.name), "a court loaded with an empty or unprintable name");
        check(is_host_name(c.host) && c.host == to_lower(c.host), "a court loaded with a bad host");
        check(c.ecf_url == "https://" + c.host, "ecf_url is not https://HOST");
        auto u = parse_url(c.ecf_url);
        check(u && u->host == c.host && u->port == 443, "ecf_url does not parse back to the court's host");
        check(reg->find_id(c.id) == &c, "a court is not found by its id");
        check(reg->find_host(c.host) == &c, "a court is not found by its host");
        check(reg->find_host(fuzz::to_upper(c.host) + ".") == &c, "host lookup is not case-insensitive");
        for (const auto& h : c.extra_hosts) {
            check(is_host_name(h) && h == to_lower(h), "a court loaded with a bad extra host");
            check(reg->find_host(h) == &c, "a court is not found by an extra host");
        }
        check(c.file == a / "court.toml", "a court does not name its file");
    }

    // Two directories: an empty same-named file in the later one masks whatever the first holds.
    fuzz::write_file(b / "court.toml", "");
    auto masked = registry::load({a, b});
    check(masked->courts().empty() && masked->errors().empty(), "an empty drop-in in a later directory did not mask");

    // A later directory's file replaces a valid court of the same name: the result is exactly
    // what the later file alone gives.
    fuzz::write_file(a / "court.toml", valid_court);
    fuzz::write_file(b / "court.toml", text);
    auto replaced = registry::load({a, b});
    auto alone = registry::load({b});
    check(summary(*replaced) == summary(*alone), "a later drop-in did not replace the earlier one completely");
    return 0;
}
