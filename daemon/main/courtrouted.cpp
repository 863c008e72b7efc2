/// courtrouted: the credential-routing daemon. Thin: argv, then the check or the server.
#include <cstring>
#include <iostream>
#include <string_view>

#include "config/settings.hpp"
#include "core/process.hpp"
#include "proxy/daemon.hpp"
#include "status/check.hpp"

namespace {

constexpr const char* usage = "usage: courtrouted [--config FILE] [--check]\n";

} // namespace

int main(int argc, char** argv) {
    // Decrypted passwords and TOTP secrets live in this process: keep them out of core files.
    if (auto problem = courtroute::forbid_core_dumps(); !problem.empty())
        std::cerr << "courtrouted: warning: " << problem << "; a core dump could hold secrets\n";
    std::filesystem::path config = courtroute::default_config_path();
    bool explicit_config = false, check = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--config" && i + 1 < argc) {
            config = argv[++i];
            explicit_config = true;
        } else if (arg.starts_with("--config=")) {
            config = std::string(arg.substr(9));
            explicit_config = true;
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "-h" || arg == "--help") {
            std::cout << usage;
            return 0;
        } else if (arg == "--version") {
            std::cout << "courtrouted " COURTROUTE_VERSION "\n";
            return 0;
        } else {
            std::cerr << "courtrouted: unknown argument '" << arg << "'\n" << usage;
            return 2;
        }
    }
    if (check) return courtroute::run_check(config, explicit_config, std::cout);
    return courtroute::proxy::run_daemon(config, explicit_config);
}
