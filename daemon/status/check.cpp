#include "status/check.hpp"

#include <cstddef>
#include <ostream>

#include "config/settings.hpp"
#include "registry/registry.hpp"

namespace courtroute {

int run_check(const std::filesystem::path& config, bool explicitly_named, std::ostream& out) {
    const auto loaded = load_settings(config, explicitly_named);
    std::size_t problems = loaded.errors.size();
    for (const auto& e : loaded.errors) out << e.to_string() << '\n';

    const std::string name = config.string();
    if (!loaded.errors.empty()) {
        // The registry dirs of a broken config may be defaults standing in for a bad key:
        // reading them would report on directories the admin never named.
        out << "config " << name << ": not usable, registry not loaded, " << problems
            << (problems == 1 ? " problem" : " problems") << '\n';
        return 1;
    }

    const auto reg = registry::load(loaded.value.registry_dirs);
    for (const auto& e : reg->errors()) out << e.to_string() << '\n';
    problems += reg->errors().size();

    const day now = today();
    std::size_t nextgen = 0;
    for (const auto& c : reg->courts())
        if (c.system_on(now) == court_system::nextgen) ++nextgen;
    const std::size_t total = reg->courts().size();
    out << "config " << name << ": " << total << (total == 1 ? " court (" : " courts (") << nextgen << " nextgen, "
        << total - nextgen << " legacy), " << problems << (problems == 1 ? " problem" : " problems") << '\n';
    return problems == 0 ? 0 : 1;
}

} // namespace courtroute
